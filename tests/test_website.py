"""The school website duty (issue 20.4), end to end through the real app on Telegram and the
served web app: a story approved in chat is published by the unit head; the unit's page (by
its code), its Atom feed and its embed block show the story's text and photo; the photo's
stable address keeps working after signed links would have expired; the portal address is
recorded; taking the story off makes all of it 404; forged presses change nothing; the
month's report counts the post.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.web.media import media_url
from handlers import reports
from storage.models import Event as LogEvent
from storage.models import WebPost
from tests.apps import Clock, serving
from tests.drivers import Chat, introduce, invite_code, join, register, submit_story
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.fakes.zalo_server import FakeZalo
from tests.test_telegram_review import card_of, story
from tests.test_zalo_review import tg  # noqa: F401  (the teacher writes on Telegram)
from tests.zalo_drivers import ZaloChat

SCHOOL = "Trường THCS Lê Quý Đôn"
SCHOOL_CODE = "THCS-LQD"
OTHER_SCHOOL = "Trường THCS Kim Giang"
ATOM = "{http://www.w3.org/2005/Atom}"
TITLE = "Cô giáo <i>của</i> những buổi chiều thứ Bảy"
BUTTON = "🌐 Đăng lên trang của trường"


@dataclass
class Cast:
    """A teacher, her principal, a reviewer, and another school's principal."""

    teacher: Chat
    principal: Chat
    reviewer: Chat
    other_head: Chat


@pytest.fixture
async def cast(app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel) -> Cast:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = Chat(telegram.user(201, "Bình"))
    await join(principal, await invite_code(app, "unit_head", SCHOOL))
    reviewer = Chat(telegram.user(301, "Thu"))
    await join(reviewer, await invite_code(app, "reviewer", levels="THCS"))
    other = Chat(telegram.user(401, "Nam"))
    await join(other, await invite_code(app, "unit_head", OTHER_SCHOOL))
    return Cast(teacher, principal, reviewer, other)


async def approved_story(cast: Cast) -> str:
    code = await submit_story(cast.teacher, title=TITLE)
    await cast.principal.replies()
    await cast.principal.press("Xác nhận", card_of(cast.principal, code))
    await cast.reviewer.replies()
    assert "được duyệt" in await cast.reviewer.press("Duyệt", card_of(cast.reviewer, code))
    return code


async def offer_of(telegram: FakeTelegram, chat: Chat, code: str) -> SentMessage:
    """The message offering the head to publish `code` (waits for the outbox to send it)."""

    def offering(_calls: object) -> SentMessage | None:
        for message in reversed(chat.user.messages()):
            if code in (message.plain_text or "") and any(BUTTON in b for b in message.buttons()):
                return message
        return None

    return await telegram.wait_for(offering)


async def web_log(app: GuongSang, code: str) -> list[tuple[str, int | None, dict]]:
    sub = await story(app, code)
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(LogEvent)
            .where(LogEvent.subject == "submission", LogEvent.subject_id == sub.id)
            .where(LogEvent.action.like("web_%"))
            .order_by(LogEvent.id)
        )
        return [(e.action, e.actor_id, e.data) for e in rows]


def path_of(url: str) -> str:
    return urlsplit(url).path


async def test_publish_page_feed_photo_portal_unpublish(
    app: GuongSang, telegram: FakeTelegram, cast: Cast, clock: Clock
) -> None:
    code = await approved_story(cast)
    sub = await story(app, code)
    offer = await offer_of(telegram, cast.principal, code)
    await cast.principal.replies()  # read: what comes next answers the head's own actions
    assert "đã được duyệt" in (offer.plain_text or "")
    photo_url = f"/photos/{code}/1.jpg"

    async with serving(app) as web:
        # Nothing is public before the head publishes.
        page = await web.get(f"/units/{SCHOOL_CODE}")
        assert page.status_code == 200 and "chưa đăng bài nào" in page.text
        assert (await web.get(f"/stories/{code}")).status_code == 404
        assert (await web.get(photo_url)).status_code == 404

        # Forged presses: another school's head, and the author herself. Nothing changes.
        for chat in (cast.other_head, cast.teacher):
            answer = await chat.press_raw(f"!w:pub:{sub.id}")
            assert "không phải lãnh đạo đơn vị" in answer
        assert "không hợp lệ" in await cast.principal.press_raw("!w:pub:abc")
        async with app.db.transaction() as session:
            assert not list(await session.scalars(select(WebPost)))
        assert await web_log(app, code) == []
        text = await cast.other_head.send(f"/dangweb {code}")
        assert "không phải lãnh đạo đơn vị" in text

        # The head publishes from the offer.
        text = await cast.principal.press(BUTTON, offer)
        assert f"Đã đăng bài {code}" in text and f"/units/{SCHOOL_CODE}" in text

        page = await web.get(f"/units/{SCHOOL_CODE}")
        assert page.status_code == 200
        assert f"<title>Người tốt, việc tốt — {SCHOOL} — Gương Sáng</title>" in page.text
        assert f"<h1>{SCHOOL}</h1>" in page.text
        assert "Cô giáo &lt;i&gt;của&lt;/i&gt;" in page.text, "user text is escaped"
        assert "<i>của</i>" not in page.text
        assert photo_url in page.text and f"/stories/{code}" in page.text
        assert "912" not in page.text and "345 678" not in page.text, "no phone is shown"
        assert (await web.get("/units/th-kg")).status_code == 200, "codes in any case"
        assert (await web.get("/units/KHONG-CO")).status_code == 404

        feed = await web.get(f"/units/{SCHOOL_CODE}.atom")
        assert feed.headers["content-type"].startswith("application/atom+xml")
        root = ET.fromstring(feed.content)
        assert root.findtext(f"{ATOM}title") == f"Người tốt, việc tốt — {SCHOOL}"
        (entry,) = root.findall(f"{ATOM}entry")
        content = entry.findtext(f"{ATOM}content") or ""
        assert "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy" in content
        assert f'<img src="{app.settings.public_url}{photo_url}"' in content
        enclosure = next(
            link for link in entry.findall(f"{ATOM}link") if link.get("rel") == "enclosure"
        )
        assert enclosure.get("type") == "image/jpeg"
        assert path_of(enclosure.get("href") or "") == photo_url

        story_page = await web.get(f"/stories/{code}")
        assert story_page.status_code == 200
        assert "Cô Lan mở lớp học miễn phí" in story_page.text and photo_url in story_page.text

        embed = await web.get(f"/units/{SCHOOL_CODE}/embed")
        assert embed.status_code == 200 and 'target="_blank"' in embed.text
        assert "Cô giáo &lt;i&gt;của&lt;/i&gt;" in embed.text
        assert "frame-ancestors" not in embed.headers["content-security-policy"]

        # The stable photo address serves the stored photo, and still does a month later,
        # when a signed link made today has expired.
        signed = path_of(media_url(app.settings, sub.attachments[0].id, clock.moment))
        photo = await web.get(photo_url)
        assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
        stored = app.services.media_dir / sub.attachments[0].stored_path
        assert photo.content == stored.read_bytes()
        assert (await web.get(f"/photos/{code}/1.png")).status_code == 404
        assert (await web.get(f"/photos/{code}/2.jpg")).status_code == 404

        # The snippet and the listing, in chat.
        listing = await cast.principal.send("/dangweb")
        assert f"/units/{SCHOOL_CODE}/embed" in listing and "<iframe" in listing
        assert code in listing and "đang đăng" in listing

        # The portal address: a bad one is refused, a good one recorded and shown.
        assert "Địa chỉ chưa đúng" in await cast.principal.send(
            f"/diachiweb {code} javascript:alert(1)"
        )
        portal = "https://thcs-lequydon.edu.vn/tin-tuc/co-giao-chieu-thu-bay"
        text = await cast.principal.send(f"/diachiweb {code} {portal}")
        assert "Đã ghi nhận" in text and portal in text
        assert f'href="{portal}"' in (await web.get(f"/stories/{code}")).text

        # The old list accepts the unit's code (it used to answer 400).
        listed = await web.get(f"/exemplars?unit={SCHOOL_CODE}")
        assert listed.status_code == 200 and SCHOOL in listed.text
        assert (await web.get("/exemplars?unit=KHONG-CO")).status_code == 400

        # The month's report counts the story once (published and given a portal address).
        async with app.db.transaction() as session:
            campaign = app.services.campaigns[0]
            rows = await reports.monthly(
                session,
                campaign,
                app.services.campaign_ids[campaign.slug],
                date(2024, 1, 1),
                app.services.tz,
            )
        by_code = {r.unit.code: r for r in rows}
        assert by_code[SCHOOL_CODE].web_posts == 1 and by_code["THCS-KG"].web_posts == 0
        assert "đăng website 1" in await cast.principal.send("/report 2024-01")

        clock.moment += timedelta(days=30)
        assert (await web.get(signed)).status_code == 403, "the signed link has expired"
        assert (await web.get(photo_url)).status_code == 200, "the stable one has not"

        # Taken off: the page, the story, the feed and the photo no longer show it.
        text = await cast.principal.send(f"/gobai {code}")
        assert f"Đã gỡ bài {code}" in text
        assert "hiện không có trên trang" in await cast.principal.send(f"/gobai {code}")
        assert (await web.get(photo_url)).status_code == 404
        assert (await web.get(f"/stories/{code}")).status_code == 404
        assert code not in (await web.get(f"/units/{SCHOOL_CODE}")).text
        assert code not in (await web.get(f"/units/{SCHOOL_CODE}.atom")).text

    principal_id = next(actor for action, actor, _ in await web_log(app, code))
    assert [(a, d.get("url")) for a, _, d in await web_log(app, code)] == [
        ("web_published", None),
        ("web_portal", portal),
        ("web_unpublished", None),
    ]
    assert {actor for _, actor, _ in await web_log(app, code)} == {principal_id}


async def test_web_commands_are_for_unit_heads_only(app: GuongSang, cast: Cast) -> None:
    assert "Chỉ Hiệu trưởng" in await cast.teacher.send("/dangweb")
    assert "Chỉ Hiệu trưởng" in await cast.reviewer.send("/dangweb")
    text = await cast.principal.send("/dangweb")
    assert "chưa có bài nào được duyệt" in text and f"/units/{SCHOOL_CODE}" in text
    assert "Gõ /diachiweb kèm mã bài" in await cast.principal.send("/diachiweb")
    assert "Không tìm thấy bài" in await cast.principal.send("/gobai GS-2099-9999")


async def test_unit_page_is_public_html_without_scripts(app: GuongSang, cast: Cast) -> None:
    async with serving(app) as web:
        page = await web.get(f"/units/{SCHOOL_CODE}")
    assert "script-src" not in page.headers["content-security-policy"]
    assert "<script" not in page.text
    assert isinstance(page, httpx.Response)


async def test_on_zalo_the_offer_is_numbered_and_the_number_publishes(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    telegram: FakeTelegram,
    tg: TelegramChannel,  # noqa: F811
) -> None:
    app = zalo_app
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = ZaloChat(zalo.user("a0a0c3d4e5f601234567", "Bình"))
    await principal.send(f"/join {await invite_code(app, 'unit_head', SCHOOL)}")
    await introduce(principal, "Nguyễn Văn Bình", "Hiệu trưởng")
    reviewer = ZaloChat(zalo.user("b0b0c3d4e5f601234567", "Thu"))
    await reviewer.send(f"/join {await invite_code(app, 'reviewer', levels='THCS')}")
    await introduce(reviewer, "Vũ Thị Thu", "Chuyên viên")

    code = await submit_story(teacher)
    await principal.replies()
    assert "Đã ghi nhận" in await principal.send(f"/xacnhan {code}")
    await reviewer.replies()
    await reviewer.send(f"/duyet {code}")
    offer = "\n".join(m.text or "" for m in await principal.replies())
    assert "1. 🌐 Đăng lên trang của trường" in offer and f"/dangweb {code}" in offer
    assert f"Đã đăng bài {code}" in await principal.send("1")
    page = await zalo_web.get(f"/units/{SCHOOL_CODE}")
    assert f"/stories/{code}" in page.text
    assert [a for a, _, _ in await web_log(app, code)] == ["web_published"]

    # Two offers arrive before the head writes: a bare number could mean either story.
    second, third = await submit_story(teacher, "Bài hai"), await submit_story(teacher, "Bài ba")
    await principal.replies()
    for other in (second, third):
        assert "Đã ghi nhận" in await principal.send(f"/xacnhan {other}")
    await reviewer.replies()
    for other in (second, third):
        await reviewer.send(f"/duyet {other}")
    await principal.replies(min_count=2)
    answer = await principal.send("1")
    assert "chưa biết số bạn gõ dành cho bài nào" in answer and "/dangweb GS-" in answer
    assert await web_log(app, second) == [] and await web_log(app, third) == []
    assert f"Đã đăng bài {second}" in await principal.send(f"/dangweb {second}")
