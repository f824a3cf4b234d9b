"""The public web side, over HTTP against a real uvicorn server on 127.0.0.1.

Stories are honoured straight through the storage layer (tests/factories.py); everything after
that — listing, filters, story pages, the Atom feed, signed photo URLs, the health check and the
`serve` command — runs for real.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, select

from bot.app import GuongSang
from bot.settings import Settings
from bot.web import media_url
from bot.web.app import FEED_SIZE, PAGE_PHOTO_TTL, PAGE_SIZE
from bot.web.media import sign, verify
from handlers import files
from storage import people
from storage.models import Attachment, Honour, Submission, Unit
from tests.apps import FIXTURES, SECOND_CAMPAIGN, Clock, serving
from tests.drivers import jpeg
from tests.factories import honoured_story

ATOM = "{http://www.w3.org/2005/Atom}"
SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
# A Vietnamese phone number as people write it: 0 or +84 and nine more digits.
PHONE = re.compile(r"(?<![\w])(?:\+?84|0)\d{9}(?!\d)")


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The shared settings, with a second campaign next to letter 001's."""
    config = tmp_path / "campaigns.toml"
    text = (FIXTURES / "campaigns.toml").read_text(encoding="utf-8")
    config.write_text(text + SECOND_CAMPAIGN, encoding="utf-8")
    return settings.model_copy(update={"config": config})


@pytest.fixture
async def web(app: GuongSang) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the web app serving the test's application."""
    async with serving(app) as client:
        yield client


def titles_in_order(html: str) -> list[str]:
    """The story titles of a list page, top to bottom."""
    return re.findall(r'<h2><a href="/exemplars/[^"]+">([^<]*)</a></h2>', html)


def photo_paths(html: str) -> list[str]:
    """The photo URLs (site-relative) a page shows."""
    return re.findall(r'<img src="(/media/[^"]+)"', html)


async def unit_id(app: GuongSang, name: str) -> int:
    """The id of a sample unit."""
    async with app.db.transaction() as session:
        found = await session.scalar(select(Unit.id).where(Unit.name == name))
    assert found is not None, name
    return found


async def stored_photos(app: GuongSang, honour: Honour) -> list[Attachment]:
    """The photo rows of an honoured story, in the order the page shows them."""
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(Attachment)
            .where(Attachment.submission_id == honour.submission_id, Attachment.kind == "photo")
            .order_by(Attachment.id)
        )
        return list(rows)


async def test_list_shows_newest_decision_first(app: GuongSang, web: httpx.AsyncClient) -> None:
    # Created out of order: the decision date, not the insertion order, decides.
    await honoured_story(app, code="GS-2024-0001", title="Bài giữa", decision_date=date(2024, 2, 1))
    await honoured_story(app, code="GS-2024-0002", title="Bài mới", decision_date=date(2024, 3, 20))
    await honoured_story(app, code="GS-2024-0003", title="Bài cũ", decision_date=date(2023, 12, 5))

    answer = await web.get("/exemplars")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="vi">' in answer.text
    assert titles_in_order(answer.text) == ["Bài mới", "Bài giữa", "Bài cũ"]
    assert "Quyết định số 1625/QĐ-UBND ngày 20/03/2024" in answer.text
    assert "ngày 05/12/2023" in answer.text
    # The root leads to the list.
    root = await web.get("/", follow_redirects=True)
    assert root.url.path == "/exemplars"
    assert titles_in_order(root.text) == titles_in_order(answer.text)


async def test_each_filter_narrows_the_list(app: GuongSang, web: httpx.AsyncClient) -> None:
    await honoured_story(
        app, code="GS-2024-0011", title="Lan ở Kim Giang", unit_name="Trường Tiểu học Kim Giang"
    )
    await honoured_story(
        app,
        code="GS-2024-0012",
        title="Minh ở Nhân Chính",
        unit_name="Trường THCS Nhân Chính",
        focus_area="Chuyển đổi số trong lĩnh vực giáo dục",
    )
    await honoured_story(
        app,
        code="GS-2025-0001",
        title="Hà hiến máu",
        unit_name="Trường THCS Nhân Chính",
        focus_area="Hiến máu nhân đạo",
        campaign_slug="thanh-xuan-2025",
        decision_date=date(2025, 1, 15),
    )
    kim_giang = await unit_id(app, "Trường Tiểu học Kim Giang")
    nhan_chinh = await unit_id(app, "Trường THCS Nhân Chính")

    async def titles(**params: str | int) -> list[str]:
        answer = await web.get("/exemplars", params=params)
        assert answer.status_code == 200
        return titles_in_order(answer.text)

    # Same decision date: the later honour (by id) first.
    assert await titles() == ["Hà hiến máu", "Minh ở Nhân Chính", "Lan ở Kim Giang"]
    assert sorted(await titles(campaign="thanh-xuan-2024")) == [
        "Lan ở Kim Giang",
        "Minh ở Nhân Chính",
    ]
    assert await titles(campaign="thanh-xuan-2025") == ["Hà hiến máu"]
    assert await titles(campaign="khong-co-dot-nay") == []
    assert await titles(unit=kim_giang) == ["Lan ở Kim Giang"]
    assert sorted(await titles(unit=nhan_chinh)) == ["Hà hiến máu", "Minh ở Nhân Chính"]
    assert await titles(focus="An toàn trường học") == ["Lan ở Kim Giang"]
    assert await titles(focus="Hiến máu nhân đạo") == ["Hà hiến máu"]
    # Filters combine, and an empty value (an untouched select) is no filter at all.
    assert await titles(unit=nhan_chinh, campaign="thanh-xuan-2024") == ["Minh ở Nhân Chính"]
    assert len(await titles(campaign="", unit="", focus="")) == 3

    # The page says what it is filtered by, and the story's own links lead to the filters.
    narrowed = await web.get("/exemplars", params={"unit": nhan_chinh})
    assert "đơn vị «Trường THCS Nhân Chính»" in narrowed.text
    assert f'<option value="{nhan_chinh}" selected>' in narrowed.text
    assert f'href="/exemplars?unit={kim_giang}"' in (await web.get("/exemplars")).text
    empty = await web.get("/exemplars", params={"focus": "Không có lĩnh vực này"})
    assert "Chưa có tấm gương nào phù hợp với bộ lọc này." in empty.text

    # A unit id that is not a number is a bad request, answered in Vietnamese.
    bad = await web.get("/exemplars", params={"unit": "abc"})
    assert bad.status_code == 400
    assert "Bộ lọc không hợp lệ" in bad.text
    # So is one too long for an id, which the database could not even compare.
    for path in ("/exemplars", "/exemplars.atom"):
        for too_big in ("9" * 23, str(2**31)):  # ids are 32-bit INTEGER columns on PostgreSQL
            huge = await web.get(path, params={"unit": too_big})
            assert huge.status_code == 400, (path, too_big)
        # A NUL byte (PostgreSQL refuses it in any query) or an endless value: 400, not 500.
        for name, value in (("campaign", "a\x00b"), ("focus", "\x00"), ("focus", "x" * 5000)):
            odd = await web.get(path, params={name: value})
            assert odd.status_code == 400, (path, name)
    assert (await web.get("/exemplars/%00")).status_code == 404


async def test_a_page_reads_one_page_of_stories_whatever_the_total(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    for n in range(2 * PAGE_SIZE + 3):
        await honoured_story(
            app,
            code=f"GS-2024-{n + 300:04d}",
            title=f"Câu chuyện số {n:02d}",
            focus_area="An toàn trường học" if n % 2 else "Hiến máu nhân đạo",
            decision_date=date(2024, 1, 1) + timedelta(days=n),
            photos=0,
        )
    loaded: list[int] = []

    def on_load(target: Honour, _context: object) -> None:
        loaded.append(target.id)

    event.listen(Honour, "load", on_load)
    try:
        page = await web.get("/exemplars", params={"focus": "An toàn trường học", "page": "2"})
        # 21 stories in that area, newest first: the second page holds the oldest one.
        assert titles_in_order(page.text) == ["Câu chuyện số 01"]
        assert len(loaded) <= PAGE_SIZE + 1, "only the page asked for is read"
        loaded.clear()
        feed = await web.get("/exemplars.atom")
        assert feed.status_code == 200 and len(loaded) <= FEED_SIZE
    finally:
        event.remove(Honour, "load", on_load)


async def test_pages_keep_the_filters(app: GuongSang, web: httpx.AsyncClient) -> None:
    for n in range(PAGE_SIZE + 1):
        await honoured_story(
            app,
            code=f"GS-2024-{n + 100:04d}",
            exemplar=f"Người số {n}",
            title=f"Câu chuyện số {n:02d}",
            decision_date=date(2024, 1, 1) + timedelta(days=n),
            photos=0,
        )
    await honoured_story(
        app, code="GS-2024-0999", title="Ở đơn vị khác", unit_name="Trường THCS Kim Giang"
    )
    kim_giang = await unit_id(app, "Trường Tiểu học Kim Giang")

    first = await web.get("/exemplars", params={"unit": kim_giang})
    first_titles = titles_in_order(first.text)
    assert len(first_titles) == PAGE_SIZE
    assert first_titles[0] == f"Câu chuyện số {PAGE_SIZE:02d}"
    assert "Ở đơn vị khác" not in first_titles
    assert "← Trang trước" not in first.text
    next_href = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert next_href is not None
    assert next_href.group(1) == f"/exemplars?unit={kim_giang}&amp;page=2"

    second = await web.get(next_href.group(1).replace("&amp;", "&"))
    assert titles_in_order(second.text) == ["Câu chuyện số 00"]
    assert "Trang sau →" not in second.text
    assert f'<a href="/exemplars?unit={kim_giang}" rel="prev">' in second.text
    # A page number that is not one shows the first page rather than an error.
    odd = await web.get("/exemplars", params={"unit": kim_giang, "page": "hai"})
    assert titles_in_order(odd.text) == first_titles


async def test_story_page_shows_every_field_and_signed_photos(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    story = (
        "Mỗi chiều thứ Bảy, cô Lan mở cửa lớp học cho các em.\n\n"
        "Cô không nhận tiền học.\n"
        "Ba năm qua, hơn bốn mươi em đã theo kịp bạn bè."
    )
    honour = await honoured_story(
        app,
        code="GS-2024-0021",
        exemplar="Nguyễn Thị Lan",
        title="Cô giáo của những buổi chiều thứ Bảy",
        story=story,
        unit_name="Trường Tiểu học Kim Giang",
        focus_area="An toàn trường học",
        decision_number="1625/QĐ-UBND",
        decision_date=date(2024, 3, 20),
        summary="Mở lớp học miễn phí cho học sinh khó khăn suốt ba năm.",
        photos=3,
    )

    answer = await web.get(f"/exemplars/{honour.slug}")

    assert answer.status_code == 200
    page = answer.text
    assert "<title>Nguyễn Thị Lan — Cô giáo của những buổi chiều thứ Bảy — Gương Sáng</title>" in (
        page
    )
    assert "<h1>Cô giáo của những buổi chiều thứ Bảy</h1>" in page
    assert "<dt>Nhân vật</dt><dd><strong>Nguyễn Thị Lan</strong></dd>" in page
    assert ">Trường Tiểu học Kim Giang</a></dd>" in page  # the unit, linked to its filter
    assert "<dt>Nơi cư trú, học tập, công tác</dt><dd>Trường Tiểu học Kim Giang</dd>" in page
    assert ">An toàn trường học</a></dd>" in page
    assert "Cuộc thi viết về gương người tốt, việc tốt quận Thanh Xuân năm 2024" in page
    # Every paragraph of the story is its own paragraph on the page.
    for paragraph in (
        "Mỗi chiều thứ Bảy, cô Lan mở cửa lớp học cho các em.",
        "Cô không nhận tiền học.",
        "Ba năm qua, hơn bốn mươi em đã theo kịp bạn bè.",
    ):
        assert f"<p>{paragraph}</p>" in page
    assert "<p>Mở lớp học miễn phí cho học sinh khó khăn suốt ba năm.</p>" in page
    assert "Quyết định số <strong>1625/QĐ-UBND</strong> ngày 20/03/2024" in page
    assert "Người viết: Nguyễn Thị Hoa, Trường Tiểu học Kim Giang" in page
    assert f'<link rel="canonical" href="{app.settings.public_url}/exemplars/{honour.slug}">' in (
        page
    )

    # The photos come through signed URLs, byte for byte as stored, as JPEG.
    paths = photo_paths(page)
    attachments = await stored_photos(app, honour)
    assert len(paths) == len(attachments) == 3
    for path, attachment in zip(paths, attachments, strict=True):
        assert verify(path.removeprefix("/media/"), app.settings.secret_key, app.services.now())
        photo = await web.get(path)
        assert photo.status_code == 200
        assert photo.headers["content-type"] == "image/jpeg"
        stored = (app.services.media_dir / attachment.stored_path).read_bytes()
        assert photo.content == stored
        assert hashlib.sha256(photo.content).hexdigest() == attachment.sha256
        assert photo.content.startswith(b"\xff\xd8")  # a JPEG
    # The list shows the first photo as the story's picture.
    listing = await web.get("/exemplars")
    assert photo_paths(listing.text) == paths[:1]


async def test_photo_tokens_expire_and_cannot_be_forged(
    app: GuongSang, clock: Clock, web: httpx.AsyncClient
) -> None:
    honour = await honoured_story(app, code="GS-2024-0031", photos=2)
    first, second = await stored_photos(app, honour)
    page = await web.get(f"/exemplars/{honour.slug}")
    good = photo_paths(page.text)[0]
    token = good.removeprefix("/media/")
    ident, expires, signature = token.split(".")
    assert (await web.get(good)).status_code == 200

    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged = [
        f"{ident}.{expires}.{flipped}",  # signature changed
        f"{second.id}.{expires}.{signature}",  # another photo, same signature
        f"{ident}.{int(expires) + 86400}.{signature}",  # a later expiry, same signature
        sign(first.id, int(expires), "not-the-secret"),  # signed with another secret
        f"{ident}.{expires}",
        "abc",
        f"{ident}.{expires}.{signature}.x",
        "1" * 500,
    ]
    for bad in forged:
        answer = await web.get(f"/media/{bad}")
        assert answer.status_code == 403, bad
        assert "không hợp lệ hoặc đã hết hạn" in answer.text
        assert not answer.content.startswith(b"\xff\xd8")

    # Valid for the whole day the page promises, and not a moment after it ends.
    start = clock.moment
    clock.moment = start + PAGE_PHOTO_TTL - timedelta(minutes=1)
    assert (await web.get(good)).status_code == 200
    clock.moment = start + PAGE_PHOTO_TTL + timedelta(hours=1)
    expired = await web.get(good)
    assert expired.status_code == 403
    # A fresh page hands out a fresh URL that works again.
    fresh = photo_paths((await web.get(f"/exemplars/{honour.slug}")).text)[0]
    assert fresh != good
    assert (await web.get(fresh)).status_code == 200


async def test_media_url_is_absolute_and_served(
    app: GuongSang, clock: Clock, web: httpx.AsyncClient
) -> None:
    # The Zalo channel will send photos by these URLs.
    honour = await honoured_story(app, code="GS-2024-0041", photos=1)
    (photo,) = await stored_photos(app, honour)
    url = media_url(app.settings, photo.id, app.services.now(), timedelta(minutes=10))
    assert url.startswith(f"{app.settings.public_url}/media/{photo.id}.")

    path = url.removeprefix(app.settings.public_url)
    served = await web.get(path)
    assert served.status_code == 200
    assert served.content == (app.services.media_dir / photo.stored_path).read_bytes()
    # Expiry rounds up to the hour, so the URL lasts at least the ten minutes asked for...
    clock.moment += timedelta(minutes=9)
    assert (await web.get(path)).status_code == 200
    # ...and at most an hour more.
    clock.moment += timedelta(minutes=62)
    assert (await web.get(path)).status_code == 403


async def approved_story_with_photo(app: GuongSang) -> int:
    """An approved story that nobody has honoured yet, with one stored photo; its photo id."""
    async with app.db.transaction() as session:
        unit = await session.scalar(select(Unit).where(Unit.name == "Trường THCS Kim Giang"))
        assert unit is not None
        author = await people.create_with_identity(session, "telegram", "t-77", "t-77", "Tuấn")
        submission = Submission(
            code="GS-2024-0077",
            campaign_id=app.services.campaign_ids["thanh-xuan-2024"],
            author_id=author.id,
            unit_id=unit.id,
            status="approved",
            values={"exemplar_name": "Trần Văn Tuấn", "title": "Chưa được tuyên dương"},
            channel="telegram",
            chat_id="t-77",
            attachments=[],
        )
        session.add(submission)
        await session.flush()
        stored = files.store(app.services.media_dir, jpeg(77), "jpg", "image/jpeg")
        photo = Attachment(
            kind="photo",
            channel="telegram",
            stored_path=str(stored.path.relative_to(app.services.media_dir)),
            sha256=stored.sha256,
            size=stored.size,
            mime_type="image/jpeg",
        )
        submission.attachments.append(photo)
        await session.flush()
        return photo.id


async def test_only_photos_of_honoured_stories_are_served(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    honour = await honoured_story(app, code="GS-2024-0051", photos=1)
    (honoured_photo,) = await stored_photos(app, honour)
    waiting_photo = await approved_story_with_photo(app)
    # A document kept with an honoured story is not a photo and is not published either.
    async with app.db.transaction() as session:
        stored = files.store(app.services.media_dir, b"PK\x03\x04 not public", "docx", "x")
        document = Attachment(
            submission_id=honour.submission_id,
            kind="document",
            channel="telegram",
            stored_path=str(stored.path.relative_to(app.services.media_dir)),
            sha256=stored.sha256,
            size=stored.size,
            mime_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        )
        session.add(document)
        await session.flush()
        document_id = document.id
    later = int((app.services.now() + timedelta(days=1)).timestamp())
    secret = app.settings.secret_key

    assert (await web.get(f"/media/{sign(honoured_photo.id, later, secret)}")).status_code == 200
    for hidden in (waiting_photo, document_id, 987654):  # not honoured, not a photo, no such id
        answer = await web.get(f"/media/{sign(hidden, later, secret)}")
        assert answer.status_code == 404, hidden
        assert answer.text == "Không tìm thấy ảnh."
    # The story that is not honoured has no page either.
    assert (await web.get("/exemplars/tran-van-tuan-gs-2024-0077")).status_code == 404


async def test_user_text_is_escaped_and_no_phone_is_shown(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    honour = await honoured_story(
        app,
        code="GS-2024-0061",
        exemplar=f"Lan {SCRIPT}",
        title=f"Tiêu đề {SCRIPT}",
        story=f"Đoạn một {SCRIPT}\nĐoạn hai có <b>thẻ</b> & dấu \"ngoặc\" 'đơn'",
        summary=f"Tóm tắt {SCRIPT} & <i>thêm</i>",
        focus_area=f'Lĩnh vực "{SCRIPT}"',
        decision_number=f"12/QĐ {SCRIPT}",
        author_phone="0987654321",
        photos=1,
    )
    other = await honoured_story(app, code="GS-2024-0062", author_phone="+84912000111")
    slug = honour.slug

    pages = {
        "list": await web.get("/exemplars"),
        "story": await web.get(f"/exemplars/{slug}"),
        "other story": await web.get(f"/exemplars/{other.slug}"),
        "filtered": await web.get("/exemplars", params={"focus": f'Lĩnh vực "{SCRIPT}"'}),
        "feed": await web.get("/exemplars.atom"),
        "missing": await web.get("/exemplars/khong-co"),
    }
    for name, answer in pages.items():
        body = answer.text
        assert SCRIPT not in body, name
        assert "<b>thẻ</b>" not in body and "<i>thêm</i>" not in body, name
        for phone in ("0987654321", "987654321", "+84912000111", "912000111"):
            assert phone not in body, (name, phone)
        assert not PHONE.search(body), (name, PHONE.search(body))

    story = pages["story"].text
    assert f"<h1>Tiêu đề {ESCAPED_SCRIPT}</h1>" in story
    assert f"<p>Đoạn một {ESCAPED_SCRIPT}</p>" in story
    assert "<p>Đoạn hai có &lt;b&gt;thẻ&lt;/b&gt; &amp; dấu &#34;ngoặc&#34; &#39;đơn&#39;</p>" in (
        story
    )
    assert f"Tóm tắt {ESCAPED_SCRIPT} &amp; &lt;i&gt;thêm&lt;/i&gt;" in story
    assert f"12/QĐ {ESCAPED_SCRIPT}" in story
    # Inside attributes too: quotes cannot end the attribute early.
    assert f'content="Tóm tắt {ESCAPED_SCRIPT} &amp; &lt;i&gt;thêm&lt;/i&gt;"' in story
    assert "focus=L%C4%A9nh%20v%E1%BB%B1c%20%22%3Cscript%3Ealert%281%29%3C/script%3E%22" in story
    assert ESCAPED_SCRIPT in pages["list"].text
    assert titles_in_order(pages["filtered"].text) == [f"Tiêu đề {ESCAPED_SCRIPT}"]
    # The pages forbid scripts outright, as a second line of defence.
    assert "default-src 'none'" in pages["story"].headers["content-security-policy"]

    # The feed is well-formed XML whose text reads back exactly as written.
    feed = ET.fromstring(pages["feed"].content)
    entry = next(e for e in feed.iter(f"{ATOM}entry") if e.findtext(f"{ATOM}id", "").endswith(slug))
    assert entry.findtext(f"{ATOM}title") == f"Lan {SCRIPT} — Tiêu đề {SCRIPT}"
    assert entry.findtext(f"{ATOM}summary", "").startswith(f"Tóm tắt {SCRIPT} & <i>thêm</i>")
    category = entry.find(f"{ATOM}category")
    assert category is not None and category.get("term") == f'Lĩnh vực "{SCRIPT}"'
    assert ESCAPED_SCRIPT in pages["feed"].text


async def test_atom_feed(app: GuongSang, web: httpx.AsyncClient) -> None:
    newer = await honoured_story(
        app, code="GS-2024-0071", title="Bài mới", decision_date=date(2024, 3, 20)
    )
    older = await honoured_story(
        app,
        code="GS-2024-0072",
        exemplar="Lê Văn Nam",
        title="Bài cũ",
        unit_name="Trường THCS Kim Giang",
        decision_date=date(2024, 1, 9),
        summary="Nhặt được ví, trả lại người mất.",
    )

    answer = await web.get("/exemplars.atom")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    feed = ET.fromstring(answer.content)
    assert feed.tag == f"{ATOM}feed"
    base = app.settings.public_url
    assert feed.findtext(f"{ATOM}id") == f"{base}/exemplars.atom"
    assert feed.findtext(f"{ATOM}title") == "Người tốt, việc tốt — Gương Sáng"
    assert feed.findtext(f"{ATOM}updated") == "2024-03-21T03:00:00Z"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [
        "Nguyễn Thị Lan — Bài mới",
        "Lê Văn Nam — Bài cũ",
    ]
    first, second = entries
    link = first.find(f"{ATOM}link")
    assert link is not None and link.get("href") == f"{base}/exemplars/{newer.slug}"
    assert first.findtext(f"{ATOM}id") == f"{base}/exemplars/{newer.slug}"
    assert first.findtext(f"{ATOM}updated") == "2024-03-21T03:00:00Z"
    assert second.findtext(f"{ATOM}summary") == (
        "Nhặt được ví, trả lại người mất. (Quyết định số 1625/QĐ-UBND ngày 09/01/2024)"
    )
    assert second.findtext(f"{ATOM}author/{ATOM}name") == "Nguyễn Thị Hoa"
    # The link in the feed leads to the story's page.
    page = await web.get(link.get("href", "").removeprefix(base))
    assert page.status_code == 200 and "<h1>Bài mới</h1>" in page.text

    # A school embeds only its own stories: the feed takes the list's filters.
    school = await unit_id(app, "Trường THCS Kim Giang")
    narrowed = ET.fromstring((await web.get("/exemplars.atom", params={"unit": school})).content)
    assert [e.findtext(f"{ATOM}id") for e in narrowed.findall(f"{ATOM}entry")] == [
        f"{base}/exemplars/{older.slug}"
    ]
    assert narrowed.findtext(f"{ATOM}id") == f"{base}/exemplars.atom?unit={school}"
    # An empty feed is still a valid feed.
    nothing = await web.get("/exemplars.atom", params={"campaign": "khong-co"})
    assert ET.fromstring(nothing.content).findall(f"{ATOM}entry") == []


async def test_unknown_pages_are_a_vietnamese_404(web: httpx.AsyncClient) -> None:
    for path in ("/exemplars/khong-co-bai-nay", "/trang-khong-ton-tai", "/exemplars/a/b"):
        answer = await web.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        assert '<html lang="vi">' in answer.text
        assert "Không tìm thấy trang" in answer.text
        assert "Trang bạn tìm không có hoặc đã được gỡ xuống." in answer.text


async def test_healthz(app: GuongSang, settings: Settings, clock: Clock) -> None:
    async with serving(app) as web:
        answer = await web.get("/healthz")
        assert answer.status_code == 200
        assert answer.json() == {"ok": True}

    # The same app on a database that refuses connections (nothing listens on port 1).
    down = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://nobody:x@127.0.0.1:1/none"}
    )
    broken = GuongSang(down, clock=clock)
    try:
        async with serving(broken) as web:
            answer = await web.get("/healthz")
            assert answer.status_code == 503
            assert answer.json() == {"ok": False}
    finally:
        await broken.close()


def test_tokens_sign_and_verify() -> None:
    from datetime import UTC, datetime

    now = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)
    expires = int(now.timestamp()) + 60
    token = sign(42, expires, "secret")
    assert re.fullmatch(r"42\.\d+\.[A-Za-z0-9_-]{43}", token)  # base64url, no padding
    assert verify(token, "secret", now) == 42
    assert verify(token, "other", now) is None
    assert verify(token, "secret", now + timedelta(seconds=60)) is None  # expiry is exclusive
    # Other spellings of the same numbers are not the token we issued.
    for spelling in ("٤٢", "042", "²"):  # Arabic-Indic digits, a leading zero, a superscript
        assert verify(token.replace("42", spelling, 1), "secret", now) is None


# -- the serve command -------------------------------------------------------------------------

SERVE = """
import argparse, logging, sys
from bot import serve_command
from bot.settings import Settings
from templates import Texts
parser = argparse.ArgumentParser(prog="guongsang")
sub = parser.add_subparsers(dest="command", required=True)
serve_command.add_parser(sub)
args = parser.parse_args(sys.argv[1:])
logging.basicConfig(level=logging.INFO)
sys.exit(args.func(args, Settings(_env_file=None), Texts("cli", html=False)))
"""


def free_port() -> int:
    """A port nothing listens on now (the child process binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a `serve` process: its own data dir, the letter-001 campaign."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    env.update(
        GUONGSANG_DATA_DIR=str(tmp_path / "served"),
        GUONGSANG_CONFIG=str(FIXTURES / "campaigns.toml"),
        PYTHONUTF8="1",
    )
    return env


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_command_runs_and_stops_cleanly(
    serve_env: dict[str, str], tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--port", str(port)],
        cwd=Path(__file__).resolve().parent.parent,
        env=serve_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        with httpx.Client(timeout=2) as client:
            for _ in range(200):
                try:
                    health = client.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.communicate()[0]
                    time.sleep(0.05)
            assert health is not None and health.json() == {"ok": True}
            listing = client.get(f"http://127.0.0.1:{port}/exemplars")
            assert listing.status_code == 200 and "Người tốt, việc tốt" in listing.text
        process.send_signal(stop)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "GUONGSANG_SECRET_KEY is the development default" in output
    assert "web app stopped" in output  # logged after the app (and its database) closed
    database = tmp_path / "served" / "guongsang.db"
    assert database.is_file()
    # SQLite removes the write-ahead log when the last connection closes cleanly.
    assert not database.with_name("guongsang.db-wal").exists()


def test_serve_parser_defaults() -> None:
    import argparse

    from bot import serve_command

    parser = argparse.ArgumentParser()
    serve_command.add_parser(parser.add_subparsers(dest="command", required=True))
    default = parser.parse_args(["serve"])
    assert (default.host, default.port, default.func) == ("127.0.0.1", 8080, serve_command._serve)
    chosen = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "9000"])
    assert (chosen.host, chosen.port) == ("0.0.0.0", 9000)


async def test_the_unit_filter_lists_units_in_vietnamese_order(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    # Byte order puts "Hoa Sữa" before "Hạ Đình" and "Khương Mai" before "Khương Đình".
    for n, unit in enumerate(
        ("Trường THCS Khương Mai", "Trường THCS Hạ Đình", "Trường THCS Khương Đình"), start=21
    ):
        await honoured_story(app, code=f"GS-2024-00{n}", title=f"Bài {n}", unit_name=unit)
    page = (await web.get("/exemplars")).text
    listed = re.findall(r"<option value=\"\d+\">([^<]+)</option>", page)
    assert listed == ["Trường THCS Hạ Đình", "Trường THCS Khương Đình", "Trường THCS Khương Mai"]
