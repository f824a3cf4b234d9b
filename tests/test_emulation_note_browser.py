"""A criterion's note on the web page in a real browser (Debian's Chromium through Selenium,
as tests/test_editor_browser.py), served by uvicorn, opened from the link the console gave at
the note prompt: the page counts characters as the bot keeps the note (Python's answers on the
hard cases), autosaves into the card, says by how much a note is too long, and "Xong" tells
the chat. Nothing runs past a phone's edge."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bot.app import GuongSang
from bot.web import create_web_app
from handlers.emulation.common import clean_note
from tests.apps import Clock, uvicorn_serving
from tests.backends import sqlite_only
from tests.browsers import OVERFLOW, SCREENSHOTS, Browser
from tests.emulation_helpers import (
    BLOCK_UNITS,
    emulation_settings,
    start_emulation_app,
    unit_head,
)
from tests.test_editor_browser import PHONE_SIZES, open_editor, wait_for
from tests.test_emulation import card_of, sent_to

pytestmark = sqlite_only()
CASES = [
    "",
    "Tỷ lệ học sinh khá, giỏi",
    "Nguye\u0302\u0303n Thi\u0323 Lan",  # NFD: counted composed, as kept
    "  hai   dấu cách \n\n xuống dòng\t ",
    "a\u00a0b\u2003c\u3000d\u2028e\x85f",  # spaces Python's split() takes
    "a\u200bb\ufeffc",  # not spaces, to Python either
    "🎉 👩‍🏫 cô giáo",  # code points, as Python's len
]
STATUS_SAVED = "return document.getElementById('status').textContent === '✓ Đã lưu'"


async def note_of(app: GuongSang) -> str:
    card = await card_of(app, BLOCK_UNITS["kg"])
    return str((card.scores.get("1.1") or {}).get("note") or "")


async def test_note_typed_counted_saved_and_sent_back_to_the_chat(
    tmp_path: Path, database_url: str, clock: Clock, browser: Browser
) -> None:
    from selenium.webdriver.common.by import By

    app = await start_emulation_app(emulation_settings(tmp_path, database_url), clock)
    shots = tmp_path / "shots"
    shots.mkdir()
    try:
        head = await unit_head(app, "nc", BLOCK_UNITS["head"])
        kg = await unit_head(app, "kg", BLOCK_UNITS["kg"])
        await head.send("/thidua")
        await head.choose("Ban hành bảng tiêu chí")
        await kg.send("/thidua")
        await kg.choose("Tự chấm điểm")
        await kg.send("17")
        link = kg.last.replies[-1].link
        assert link is not None
        async with uvicorn_serving(create_web_app(app)) as base:
            url = base + link.url.removeprefix(app.settings.public_url)
            await open_editor(browser, url, PHONE_SIZES[0])
            answers = await browser.call(
                browser.driver.execute_script,
                "return arguments[0].map(window.gsCountChars)",
                CASES,
            )
            assert answers == [len(clean_note(case)) for case in CASES]

            shown = "return document.getElementById('words').textContent"
            assert await browser.call(browser.driver.execute_script, shown) == "0"
            box = await browser.call(browser.driver.find_element, By.ID, "f-note")
            typed = "Tỷ lệ học sinh khá, giỏi đạt 85%.\nCó 12 em đạt giải cấp quận."
            await browser.call(box.send_keys, typed)
            kept = clean_note(typed)
            await wait_for(browser, f"{shown} === arguments[0]", str(len(kept)))
            await wait_for(browser, STATUS_SAVED)
            assert await note_of(app) == kept
            await browser.screenshot(shots / "note-editor-phone.png")

            # Over 500 characters: the count says by how much; the server keeps the last note.
            await browser.call(
                browser.driver.execute_script,
                "const box = document.getElementById('f-note');"
                "box.value = 'chữ '.repeat(130); box.dispatchEvent(new Event('input'));",
            )
            await wait_for(
                browser, "return document.getElementById('over').textContent.includes('19 ký tự')"
            )
            await wait_for(
                browser,
                "return document.getElementById('problem-note').textContent"
                ".includes('vượt giới hạn 500 ký tự')",
            )
            assert await note_of(app) == kept
            await browser.call(
                browser.driver.execute_script,
                "const box = document.getElementById('f-note');"
                "box.value = arguments[0]; box.dispatchEvent(new Event('input'));",
                typed + " Xếp thứ 2 toàn quận.",
            )
            final = clean_note(typed + " Xếp thứ 2 toàn quận.")

            for size in PHONE_SIZES:
                await browser.viewport(size)
                measured = await browser.call(browser.driver.execute_script, OVERFLOW, size[0])
                assert measured["overflowing"] == [], measured
                assert measured["scroll"] <= size[0], measured

            button = await browser.call(browser.driver.find_element, By.ID, "done")
            await browser.call(button.click)
            await wait_for(
                browser,
                "return document.getElementById('done-message').textContent"
                ".includes('Đã lưu ghi chú')",
            )
            assert await note_of(app) == final
            told = await sent_to(app, "kg")
            assert f"Đã lưu ghi chú tiêu chí 1.1 viết trên trang web ({len(final)} / 500" in told
            await browser.viewport(PHONE_SIZES[0])
            await browser.screenshot(shots / "note-editor-done-phone.png")
            # Back in the chat, the flow goes on from the note prompt.
            assert "Đã nhận đường link" in await kg.send("https://thcs-kimgiang.edu.vn/mc")
            assert "Tiêu chí 2/10" in await kg.choose("Tiếp")
    finally:
        await app.close()
    if os.environ.get("GUONGSANG_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copyfile(shot, SCREENSHOTS / shot.name)
