"""The web editor in a real browser (Debian's Chromium through Selenium, as in
tests/test_web_browser.py), served by uvicorn, opened from the link a Zalo chat was given.

The page's word count gives Python's answers (handlers/text_rules.count_words) on the rule's
hard cases and on every Unicode character; a teacher types a story with Vietnamese diacritics
and sees the count move, closes the page half-way and finds the text on reopening the link,
taps "Xong" and the fake Zalo server receives the chat's next step. Screenshots at phone size
go to docs/screenshots/ with GUONGSANG_SAVE_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import unicodedata
from pathlib import Path

import httpx

from bot.app import GuongSang
from bot.settings import Settings
from handlers.text_rules import count_words
from storage.models import Submission
from tests.apps import Clock
from tests.backends import sqlite_only
from tests.browsers import OVERFLOW, SCREENSHOTS, Browser
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo
from tests.zalo_drivers import ZaloChat, register_on_zalo
from tests.zalo_drivers import text_of as zalo_text

pytestmark = sqlite_only()
LINK = re.compile(r"✍️ Viết trên trang web: (\S+/editor/\S+)")
PHONE_SIZES = ((390, 844), (360, 740))
CASES = [
    "",
    "gia đình",
    "Gia\u00a0đình",  # NBSP separates
    "Nguye\u0302\u0303n Thi\u0323 Lan",  # NFD
    "— – - … !!! ???",  # punctuation alone is no word
    "2024 12,5 1.000 15/3",
    "🎉 👩‍🏫 cô giáo 🎉",
    "a\u2003b\u3000c\u202fd\u205fe\u2028f\u2029g\x85h\x1ci\x1fj",
    "a\u200bb",  # a zero-width space joins, as in Python
    "a\ufeffb",  # so does a BOM (JavaScript's \\s would split here)
    "Ⅻ ² ½ ٣ 五",  # numbers that are no ASCII digit
    "l'école «Trường» (Kim Giang), v.v…",
    "\t\n\r\v\f trắng \t",
]
# Types a story, a phrase at a time.
PHRASES = [
    "Cô Lan là giáo viên chủ nhiệm lớp 5A. ",
    "Mỗi chiều thứ Bảy, cô mở lớp học miễn phí cho các em có hoàn cảnh khó khăn. ",
    "Học sinh gọi cô là người mẹ thứ hai. ",
]
REST = "Phụ huynh ở phường Kim Giang rất biết ơn cô, vì cô đã giúp các em tiến bộ vượt bậc."

# What the page's script says, for every character, as two lists of ranges.
SWEEP = """
const separates = [], wordish = [];
let sepStart = -1, wordStart = -1;
for (let cp = 0; cp <= 0x110000; cp++) {
  let sep = false, word = false;
  if (cp < 0x110000 && !(cp >= 0xd800 && cp <= 0xdfff)) {
    const ch = String.fromCodePoint(cp);
    sep = window.gsCountWords("a" + ch + "b") === 2;
    word = window.gsCountWords(ch) === 1;
  }
  if (sep && sepStart < 0) sepStart = cp;
  if (!sep && sepStart >= 0) { separates.push([sepStart, cp - 1]); sepStart = -1; }
  if (word && wordStart < 0) wordStart = cp;
  if (!word && wordStart >= 0) { wordish.push([wordStart, cp - 1]); wordStart = -1; }
}
return [separates, wordish];
"""


def ranges(flags: list[bool]) -> list[list[int]]:
    """[[first, last], …] of the code points whose flag is set."""
    out: list[list[int]] = []
    for cp, flag in enumerate(flags):
        if flag and out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        elif flag:
            out.append([cp, cp])
    return out


def python_sweep() -> tuple[list[list[int]], list[list[int]]]:
    """The same two lists by the bot's own rule."""
    codes = [cp for cp in range(sys.maxunicode + 1)]
    surrogate = range(0xD800, 0xE000)
    separates = [cp not in surrogate and count_words(f"a{chr(cp)}b") == 2 for cp in codes]
    wordish = [cp not in surrogate and count_words(chr(cp)) == 1 for cp in codes]
    return ranges(separates), ranges(wordish)


def expand(found: list[list[int]]) -> set[int]:
    return {cp for first, last in found for cp in range(first, last + 1)}


async def wait_for(browser: Browser, script: str, *args: object) -> object:
    """Wait (up to 20 s) until `script` returns something truthy; that value."""
    from selenium.webdriver.support.ui import WebDriverWait

    def check(driver: object) -> object:
        return browser.driver.execute_script(script, *args)

    return await browser.call(WebDriverWait(browser.driver, 20).until, check)


async def open_editor(browser: Browser, url: str, size: tuple[int, int]) -> None:
    await browser.viewport(size)
    await browser.call(browser.driver.get, url)
    await wait_for(
        browser, "return document.readyState === 'complete' && window.gsCountWords && true"
    )


async def type_into(browser: Browser, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = await browser.call(browser.driver.find_element, By.ID, "f-story")
    await browser.call(box.send_keys, text)


async def stored_story(app: GuongSang, draft_id: int) -> str:
    async with app.db.transaction() as session:
        draft = await session.get(Submission, draft_id)
        assert draft is not None
        return str(draft.values.get("story") or "")


async def test_the_count_gives_pythons_answers(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient, browser: Browser
) -> None:
    teacher = ZaloChat(zalo.user("a1b2c3d4e5f601234567", "Hoa"))
    url = await link_at_story(teacher)
    await open_editor(browser, url, PHONE_SIZES[0])

    answers = await browser.call(
        browser.driver.execute_script, "return arguments[0].map(window.gsCountWords)", CASES
    )
    assert answers == [count_words(case) for case in CASES]

    separates, wordish = await browser.call(browser.driver.execute_script, SWEEP)
    py_separates, py_wordish = python_sweep()
    assert separates == py_separates
    # Letters and digits: Chromium's Unicode tables may be newer than Python's. A character
    # Python does not know yet (unassigned in its tables) may be a letter to the browser; every
    # other character must get the same answer.
    differ = expand(wordish) ^ expand(py_wordish)
    unknown_to_python = {cp for cp in differ if unicodedata.category(chr(cp)) == "Cn"}
    assert differ - unknown_to_python == set()


async def link_at_story(teacher: ZaloChat) -> str:
    """Register on Zalo, fill the form up to the story; the editor link the prompt holds."""
    await register_on_zalo(teacher)
    await teacher.send("/new")
    await teacher.send("Nguyễn Thị Lan")
    await teacher.send("Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội")
    await teacher.choose("An toàn trường học")
    prompt = await teacher.send("Cô giáo của những buổi chiều thứ Bảy")
    found = LINK.search(prompt)
    assert found, prompt
    return found.group(1)


async def test_write_close_reopen_and_finish(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    browser: Browser,
    tmp_path: Path,
) -> None:
    app = zalo_app
    teacher = ZaloChat(zalo.user("a1b2c3d4e5f601234567", "Hoa"))
    url = await link_at_story(teacher)
    draft_id = int(url.rsplit("/", 1)[1].split(".")[1])
    shots = tmp_path / "shots"
    shots.mkdir()

    await open_editor(browser, url, PHONE_SIZES[0])
    words_shown = "return document.getElementById('words').textContent"
    assert await browser.call(browser.driver.execute_script, words_shown) == "0"
    typed = ""
    for phrase in PHRASES:
        await type_into(browser, phrase)
        typed += phrase
        # The count follows the typing, before any save.
        await wait_for(browser, f"{words_shown} === arguments[0]", str(count_words(typed)))
    await wait_for(browser, "return document.getElementById('status').textContent === '✓ Đã lưu'")
    assert await stored_story(app, draft_id) == typed.strip()
    await browser.screenshot(shots / "editor-phone.png")

    # Half-way through a sentence the page is closed (another page opened in its place).
    await type_into(browser, "Phụ huynh ở phường")
    await browser.call(browser.driver.get, "about:blank")
    await open_editor(browser, url, PHONE_SIZES[0])
    expected = typed + "Phụ huynh ở phường"
    # Whether the last save left with the page or comes back from the phone's own copy, the
    # text is there, and it is saved.
    await wait_for(
        browser, "return document.getElementById('f-story').value === arguments[0]", expected
    )
    await wait_for(browser, "return document.getElementById('status').textContent === '✓ Đã lưu'")
    assert await stored_story(app, draft_id) == expected.strip()

    # Over the limit, the count says by how much as it is typed.
    over = "return document.getElementById('count').className"
    await browser.call(
        browser.driver.execute_script,
        "const box = document.getElementById('f-story');"
        "box.value = 'chữ '.repeat(2003); box.dispatchEvent(new Event('input'));",
    )
    await wait_for(browser, "return document.getElementById('over').textContent.includes('3 từ')")
    assert "over" in str(await browser.call(browser.driver.execute_script, over))
    await browser.screenshot(shots / "editor-over-limit-phone.png")
    await wait_for(
        browser,
        "return document.getElementById('problem-story').textContent.includes('vượt')",
    )
    assert await stored_story(app, draft_id) == expected.strip()  # nothing lost
    await browser.call(
        browser.driver.execute_script,
        "const box = document.getElementById('f-story');"
        "box.value = arguments[0]; box.dispatchEvent(new Event('input'));",
        expected + REST.removeprefix("Phụ huynh ở phường"),
    )
    final = typed + REST
    words = count_words(final)

    # Nothing runs past a phone's edge.
    for size in PHONE_SIZES:
        await browser.viewport(size)
        measured = await browser.call(browser.driver.execute_script, OVERFLOW, size[0])
        assert measured["overflowing"] == [], measured
        assert measured["scroll"] <= size[0], measured

    # "Xong": the chat moves on.
    from selenium.webdriver.common.by import By

    button = await browser.call(browser.driver.find_element, By.ID, "done")
    await browser.call(button.click)
    await wait_for(
        browser,
        "return document.getElementById('done-message').textContent.includes('Đã gửi bài viết')",
    )
    assert await stored_story(app, draft_id) == final
    text = zalo_text(await teacher.replies(min_count=2))
    assert f"Đã nhận bài viết từ trang web: {words} / 2.000 từ" in text, text
    assert "Bước 6" in text, text
    await browser.viewport(PHONE_SIZES[0])
    # Scrolled to the end, where "Xong"'s answer shows.
    await browser.call(
        browser.driver.execute_script, "window.scrollTo(0, document.body.scrollHeight)"
    )
    await browser.screenshot(shots / "editor-done-phone.png")

    if os.environ.get("GUONGSANG_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copyfile(shot, SCREENSHOTS / shot.name)


async def test_a_person_without_an_app_sends_photos_from_the_page(
    app: GuongSang, browser: Browser, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    from bot.web import create_web_app
    from tests.apps import uvicorn_serving
    from tests.drivers import invite_code, jpeg
    from tests.web_drivers import joined, to_photos

    async with (
        uvicorn_serving(create_web_app(app)) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as web,
    ):
        page = await joined(web, await invite_code(app, "web"))
        assert "Bước 6" in await to_photos(page)

        photos = []
        for seed in (3, 4):
            photo = tmp_path / f"anh-{seed}.jpg"
            photo.write_bytes(jpeg(seed, (640, 480)))
            photos.append(str(photo))
        await open_editor(browser, base + page.path, PHONE_SIZES[1])
        chooser = await browser.call(browser.driver.find_element, By.ID, "photo-files")
        await browser.call(chooser.send_keys, "\n".join(photos))
        # The page sends each photo, then shows the bot's answer.
        await wait_for(
            browser,
            "return [...document.querySelectorAll('.bot')]"
            ".some(e => e.textContent.includes('2 / 10'))",
        )
        for size in PHONE_SIZES:
            await browser.viewport(size)
            measured = await browser.call(browser.driver.execute_script, OVERFLOW, size[0])
            assert measured["overflowing"] == [], measured
        await browser.viewport(PHONE_SIZES[0])
        shots = tmp_path / "shots"
        shots.mkdir()
        await browser.screenshot(shots / "web-person-phone.png")
        assert "Bài của tôi" in str(
            await browser.call(browser.driver.execute_script, "return document.body.innerText")
        ), "the menu stays under the page"
        await page.load()
        text = await page.press("Xong phần ảnh")
        assert "2 ảnh" in text, text
    if os.environ.get("GUONGSANG_SAVE_SCREENSHOTS") == "1":
        shutil.copyfile(shots / "web-person-phone.png", SCREENSHOTS / "web-person-phone.png")


async def test_the_mini_app_opens_the_draft_from_telegrams_init_data(
    settings: Settings, clock: Clock, browser: Browser, telegram: FakeTelegram
) -> None:
    """Telegram's script is not fetched (no network): the page gets the `Telegram.WebApp`
    object it would make, with initData signed by the bot's token, before its own script runs."""
    import json
    from urllib.parse import urlencode

    from bot.channels.telegram.channel import TelegramChannel
    from bot.web import create_web_app
    from bot.web.telegram_init import sign_init_data
    from tests.apps import start_app, uvicorn_serving
    from tests.drivers import Chat, fill_until_story, register

    app = await start_app(settings.model_copy(update={"telegram_token": telegram.token}), clock)
    channel = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = app.settled  # answers are read until the app settles
    try:
        chat = Chat(telegram.user(101, "Hoa"))
        await register(chat)
        await fill_until_story(chat)
        fields = {
            "user": json.dumps({"id": 101, "first_name": "Hoa"}),
            "auth_date": str(int(app.services.now().timestamp())),
        }
        init_data = urlencode({**fields, "hash": sign_init_data(fields, telegram.token)})
        driver = browser.driver
        await browser.call(driver.execute_cdp_cmd, "Network.enable", {})
        await browser.call(
            driver.execute_cdp_cmd, "Network.setBlockedURLs", {"urls": ["*telegram.org*"]}
        )
        stub = (
            "window.Telegram = {WebApp: {initData: "
            + json.dumps(init_data)
            + ", ready() {}, expand() {}, close() {}}};"
        )
        added = await browser.call(
            driver.execute_cdp_cmd, "Page.addScriptToEvaluateOnNewDocument", {"source": stub}
        )
        try:
            async with uvicorn_serving(create_web_app(app)) as base:
                await open_editor(browser, f"{base}/editor/telegram", PHONE_SIZES[0])
                # The entry trades initData for the editor of the draft the chat is writing.
                await wait_for(browser, "return location.pathname.startsWith('/editor/1.')")
                await wait_for(
                    browser,
                    "return document.getElementById('f-title') && "
                    "document.getElementById('f-title').value === arguments[0]",
                    "Cô giáo của những buổi chiều thứ Bảy",
                )
                assert "tg=1" in str(
                    await browser.call(driver.execute_script, "return location.search")
                )
        finally:
            await browser.call(
                driver.execute_cdp_cmd,
                "Page.removeScriptToEvaluateOnNewDocument",
                {"identifier": added["identifier"]},
            )
            await browser.call(driver.execute_cdp_cmd, "Network.setBlockedURLs", {"urls": []})
    finally:
        await channel.stop()
        await app.close()
