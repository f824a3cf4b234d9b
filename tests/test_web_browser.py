"""The public pages in a real browser: nothing runs past the right edge of a phone (390 px wide)
or of a desktop window (issue 18.17).

Debian's Chromium, headless, driven by Selenium through the system chromedriver; no browser is
downloaded. The real Starlette app is served by uvicorn on 127.0.0.1. The pages checked are the
list (plain, filtered, paged), a story page, the pages the Atom feed links to, and the error
pages, filled with the longest things real data holds: a campaign's full title in the filter,
long unit names, a typed-in focus area, a pasted link with no space to break at.

Without the browser the tests are skipped, except where GUONGSANG_REQUIRE_BROWSER=1 or CI=true
(`.ci/run`): there they fail, as PostgreSQL's do. `scripts/test` installs it as root. With
GUONGSANG_SAVE_SCREENSHOTS=1 the screenshots are written to docs/screenshots/ for the README.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import httpx
import pytest

from bot.app import GuongSang
from bot.settings import Settings
from tests.apps import FIXTURES, SECOND_CAMPAIGN, serving
from tests.backends import sqlite_only
from tests.browsers import SCREENSHOTS, Browser
from tests.factories import honoured_story

PHONE = (390, 844)
DESKTOP = (1280, 900)
ATOM = "{http://www.w3.org/2005/Atom}"

# What real data holds at its longest: a link pasted into a story, a unit's full name, an area
# typed in as "other" (the campaigns file's own titles and areas are long already).
PASTED_LINK = "https://www.facebook.com/groups/phuhuynhtruongtieuhockimgiang/permalink/" + "7" * 40
LONG_AREA = "Khác: phong trào xây dựng thư viện xanh, thân thiện và đọc sách cùng con mỗi tối"
LONG_TITLE = (
    "Cô giáo của những buổi chiều thứ Bảy: mười năm giữ lớp học miễn phí cho học sinh "
    "có hoàn cảnh khó khăn ở phường Kim Giang"
)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The shared settings, with a second campaign next to letter 001's."""
    config = tmp_path / "campaigns.toml"
    text = (FIXTURES / "campaigns.toml").read_text(encoding="utf-8")
    config.write_text(text + SECOND_CAMPAIGN, encoding="utf-8")
    return settings.model_copy(update={"config": config})


async def long_stories(app: GuongSang, sample_story: str) -> None:
    """More than a page of honoured stories (so the list has a next page), the newest one the
    sample story with long text added."""
    body = sample_story.split("\n", 1)[1]
    await honoured_story(
        app,
        code="GS-2024-0001",
        title=LONG_TITLE,
        story=f"{body}\nẢnh của phụ huynh: {PASTED_LINK}",
        focus_area=LONG_AREA,
        unit_name="Công đoàn Trường THPT Chuyên Lai Châu",
        summary=f"Mở lớp học miễn phí suốt ba năm; ảnh: {PASTED_LINK}",
        photos=2,
    )
    for n in range(2, 23):
        await honoured_story(
            app,
            code=f"GS-2024-{n:04d}",
            title=f"Bài số {n}",
            unit_name="Trường Tiểu học Kim Giang" if n % 2 else "Trường THCS Nhân Chính",
            decision_date=date(2024, 1, n),
            campaign_slug="thanh-xuan-2025" if n % 3 == 0 else "thanh-xuan-2024",
            photos=0,
        )


async def public_pages(web: httpx.AsyncClient, public_url: str) -> list[str]:
    """Every page a reader reaches: the list (plain, filtered, next page), the pages the feed
    links to (each story and the list it mirrors), and the error pages."""
    base = str(web.base_url).rstrip("/")

    async def feed_links(query: str) -> list[str]:
        feed = ET.fromstring((await web.get(f"/exemplars.atom{query}")).content)
        # The feed links with the public URL; the test's server answers on its own port.
        return [
            base + (link.get("href") or "").removeprefix(public_url)
            for link in feed.iter(f"{ATOM}link")
            if link.get("rel") == "alternate"
        ]

    linked = await feed_links("")
    stories = [href for href in linked if "/exemplars/" in href]
    assert len(stories) == 22, linked
    return [
        f"{base}/exemplars",
        f"{base}/exemplars?page=2",
        f"{base}/exemplars?focus={LONG_AREA}",
        stories[0],  # the long story: the newest decision, first in the feed
        stories[-1],
        *(await feed_links("?campaign=thanh-xuan-2025"))[:2],  # the filtered list it mirrors
        f"{base}/exemplars/khong-co-bai-nay",
        f"{base}/exemplars?unit=abc",
    ]


@sqlite_only()
async def test_public_pages_fit_a_phone_and_a_desktop(
    app: GuongSang, browser: Browser, tmp_path: Path, sample_story: str
) -> None:
    await long_stories(app, sample_story)
    async with serving(app) as web:
        pages = await public_pages(web, app.settings.public_url)
        shots = tmp_path / "screenshots"
        shots.mkdir()
        for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            await browser.viewport(size)
            for n, url in enumerate(pages):
                seen = await browser.open(url, size[0])
                where = f"{name} {url}"
                # A page wider than a phone is zoomed out to fit: innerWidth grows with it.
                assert seen["inner"] == size[0], (where, seen["overflowing"][:5])
                assert seen["scroll"] <= seen["inner"], (where, seen["overflowing"][:5])
                for control, left, right in seen["controls"]:
                    assert left >= 0 and right <= seen["inner"], (where, control, right)
                assert not seen["overflowing"], (where, seen["overflowing"][:5])
                if n in (0, 3):  # the list and the long story
                    kind = "list" if n == 0 else "story"
                    await browser.screenshot(shots / f"{kind}-{name}.png")
            if name == "phone":
                # On a phone the filter's controls stack, each the form's full width.
                controls = (await browser.open(pages[0], size[0]))["controls"]
                assert [c[0].split(":")[0] for c in controls] == ["select"] * 3 + ["button"]
                lefts = {round(c[1]) for c in controls}
                rights = {round(c[2]) for c in controls}
                assert len(lefts) == 1 and len(rights) == 1, controls
    assert sorted(p.name for p in shots.iterdir()) == [
        "list-desktop.png",
        "list-phone.png",
        "story-desktop.png",
        "story-phone.png",
    ]
    if os.environ.get("GUONGSANG_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copyfile(shot, SCREENSHOTS / shot.name)
