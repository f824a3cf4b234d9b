"""A unit's public page, a published story and the embed block in a real browser at a phone's
width (390 px): nothing runs past the right edge, with the longest things real data holds (a
unit's full name, a long title, a pasted link with no space to break at, the snippet's code).

Debian's Chromium, headless, through Selenium (tests/browsers.py), on the real app served by
uvicorn; skipped without the browser except where GUONGSANG_REQUIRE_BROWSER=1 or CI=true.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from bot.app import GuongSang
from storage import web_posts
from storage.models import Submission
from tests.apps import serving
from tests.backends import sqlite_only
from tests.browsers import Browser
from tests.factories import honoured_story, story

PHONE = (390, 844)
UNIT = "Công đoàn Trường THPT Chuyên Lai Châu"
PASTED_LINK = "https://www.facebook.com/groups/congdoanthptchuyenlaichau/permalink/" + "7" * 40
LONG_TITLE = (
    "Người thầy của những buổi chiều thứ Bảy: mười năm giữ lớp học miễn phí cho học sinh "
    "có hoàn cảnh khó khăn ở bản vùng cao"
)


@sqlite_only()
async def test_unit_page_story_and_embed_fit_a_phone(
    app: GuongSang, browser: Browser, sample_story: str
) -> None:
    body = sample_story.split("\n", 1)[1]
    published = await story(
        app,
        code="GS-2024-0001",
        title=LONG_TITLE,
        story=f"{body}\nẢnh của đoàn viên: {PASTED_LINK}",
        unit_name=UNIT,
        photos=2,
    )
    async with app.db.transaction() as session:
        sub = await session.get(Submission, published.id)
        assert sub is not None
        assert await web_posts.publish(session, sub, sub.author_id, app.services.now())
    await honoured_story(app, code="GS-2024-0002", unit_name=UNIT, photos=1)
    async with serving(app) as web:
        base = str(web.base_url).rstrip("/")
        page = await web.get("/units/CD-THPTC")
        assert LONG_TITLE in page.text and "GS-2024-0002" in page.text
        await browser.viewport(PHONE)
        for url in (
            f"{base}/units/CD-THPTC",
            f"{base}/stories/GS-2024-0001",
            f"{base}/units/CD-THPTC/embed",
        ):
            seen = await browser.open(url, PHONE[0])
            assert seen["inner"] == PHONE[0], (url, seen["overflowing"][:5])
            assert seen["scroll"] <= seen["inner"], (url, seen["overflowing"][:5])
            assert not seen["overflowing"], (url, seen["overflowing"][:5])
            # The photos come from their stable addresses, and every one of them answers.
            sources = await browser.call(
                browser.driver.execute_script,
                "return Array.from(document.images).map(i => i.src)",
            )
            assert sources and all("/photos/GS-2024-000" in src for src in sources), sources
            for src in sources:
                # The embed's are absolute, on the public address: it is framed elsewhere.
                photo = await web.get(urlsplit(src).path)
                assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
