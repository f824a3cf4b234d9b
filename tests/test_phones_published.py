"""A phone number typed into a story never goes public (issue 17.5).

The exemplar's name, address, title and story, and the honour's summary, each carry a phone
written a different way. The broadcast post (Telegram and Zalo), the public list, the story page,
its address (slug), the Atom feed and letter 000's summary list show "•••" in its place; the
reviewer's card and the admin's confirmation say that the story holds one.
"""

from __future__ import annotations

import io
import re
from datetime import date

import httpx
import pytest
from docx import Document
from openpyxl import load_workbook

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from handlers import broadcast as broadcasting
from handlers import review
from handlers.exports import summary_docx, summary_heading, summary_rows, summary_xlsx
from storage.models import Submission
from tests.apps import serving
from tests.drivers import Chat
from tests.factories import add_audience, honour_and_send, honoured_story, story
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo
from tests.zalo_drivers import ZaloChat

# Each public field with a phone written another way; what a reader may see instead.
NAME = "Nguyễn Văn An 0987 654 321"
ADDRESS = "Số 5 ngõ 12 Kim Giang, ĐT (024) 3856 1234"
TITLE = "Người thầy tận tụy, gọi +84 912 345 678"
STORY = (
    "Năm học 2023-2024, thầy An (SĐT 0912.345.678) mở lớp miễn phí.\n"
    "Theo Quyết định số 1625/QĐ-UBND, lớp có 32 học sinh, bài dài 2.000 từ."
)
FOCUS = "Khác: hỏi 0977-111-222"
SUMMARY = "Mở lớp học miễn phí suốt ba năm; liên hệ 84987654321 để biết thêm."
PHONES = [
    "0987 654 321",
    "(024) 3856 1234",
    "+84 912 345 678",
    "0912.345.678",
    "0977-111-222",
    "84987654321",
]
DIGITS = ["0987654321", "02438561234", "0912345678", "0977111222", "84987654321", "912345678"]
# What must survive: years, the decision number, counts.
KEPT = ["2023-2024", "1625/QĐ-UBND", "32 học sinh", "2.000 từ"]
SLUG = "nguyen-van-an-gs-2024-0071"


def assert_no_phone(text: str, where: str) -> None:
    """None of the planted phones, in any spelling, is in `text`."""
    for phone in PHONES:
        assert phone not in text, (where, phone)
    squeezed = re.sub(r"[\s.()+-]", "", text)
    for digits in DIGITS:
        assert digits not in squeezed, (where, digits)


async def phone_story(app: GuongSang, code: str = "GS-2024-0071", **extra: object) -> Submission:
    """An approved story whose every public field holds a phone."""
    return await story(
        app,
        code=code,
        exemplar=NAME,
        address=ADDRESS,
        title=TITLE,
        story=STORY,
        focus_area=FOCUS,
        **extra,  # type: ignore[arg-type]
    )


async def test_web_list_page_feed_and_address_hide_every_phone(app: GuongSang) -> None:
    await honoured_story(
        app,
        code="GS-2024-0071",
        exemplar=NAME,
        address=ADDRESS,
        title=TITLE,
        story=STORY,
        focus_area=FOCUS,
        summary=SUMMARY,
    )
    async with serving(app) as web:
        listing = await web.get("/exemplars")
        # The address is made from the name without its phone.
        assert f'href="/exemplars/{SLUG}"' in listing.text
        page = await web.get(f"/exemplars/{SLUG}")
        feed = await web.get("/exemplars.atom")
        by_focus = await web.get("/exemplars", params={"focus": FOCUS})
    assert listing.status_code == page.status_code == feed.status_code == 200
    for where, answer in (("list", listing), ("page", page), ("feed", feed)):
        assert_no_phone(answer.text, where)
        assert "Nguyễn Văn An •••• ••• •••" in answer.text, where
    assert "ĐT (•••) •••• ••••" in page.text
    assert "Người thầy tận tụy, gọi ••• ••• ••• •••" in page.text
    assert "(SĐT ••••.•••.•••)" in page.text
    assert "liên hệ ••••••••••• để biết thêm" in page.text
    for kept in KEPT:
        assert kept in page.text, kept
    # The typed-in area is shown hidden, and not offered as a link that would carry it.
    assert "Khác: hỏi ••••-•••-•••" in page.text
    assert "focus=" not in page.text.split("<main>")[1].split("</article>")[0]
    assert by_focus.status_code == 200


async def test_telegram_post_hides_phones_and_the_admin_is_told(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    sub = await phone_story(app)
    await add_audience(app, [701])
    admin = Chat(telegram.user(999, "Quản trị"))
    await admin.send(f"/honour {sub.code}")
    await admin.send("1625/QĐ-UBND")
    await admin.send("20/03/2023")
    confirm = await admin.send(SUMMARY)
    # The preview is the post as readers get it; the line under it says why "•••" shows.
    assert_no_phone(confirm, "preview")
    assert "Bài có số điện thoại" in confirm and "che" in confirm
    await admin.press("Tuyên dương và gửi")
    call = await telegram.wait_for_call("sendPhoto", lambda p: str(p.get("chat_id")) == "701")
    caption = call.params["caption"]
    assert_no_phone(caption, "telegram post")
    assert "Nguyễn Văn An •••• ••• •••" in caption
    assert f"/exemplars/{SLUG}" in caption
    assert "1625/QĐ-UBND" in caption


async def test_zalo_post_hides_phones(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    reader = ZaloChat(zalo.user("e1e2c3d4e5f601234567", "Bạn đọc"))
    assert "Đã đăng ký nhận tin" in await reader.send("/subscribe")
    sub = await phone_story(zalo_app)
    await honour_and_send(zalo_app, sub.code or "", summary=SUMMARY)
    post = (await reader.replies())[0]
    text = post.text or ""
    assert_no_phone(text, "zalo post")
    assert "Nguyễn Văn An •••• ••• •••" in text and f"/exemplars/{SLUG}" in text


async def test_summary_list_hides_phones(app: GuongSang) -> None:
    await honoured_story(app, code="GS-2024-0071", exemplar=NAME, address=ADDRESS, summary=SUMMARY)
    async with app.db.transaction() as session:
        rows = await summary_rows(session, None)
    book = load_workbook(io.BytesIO(summary_xlsx(rows, summary_heading())))
    cells = " | ".join(
        str(c) for row in book.active.iter_rows(values_only=True) for c in row if c is not None
    )
    document = Document(io.BytesIO(summary_docx(rows, summary_heading())))
    words = " | ".join(c.text for t in document.tables for r in t.rows for c in r.cells)
    for where, text in (("xlsx", cells), ("docx", words)):
        assert_no_phone(text, where)
        assert "Nguyễn Văn An •••• ••• •••" in text and "1625/QĐ-UBND" in text


@pytest.mark.parametrize("stage", [review.UNIT, review.REVIEW])
async def test_the_card_warns_the_reviewer(app: GuongSang, stage: str) -> None:
    with_phone = await phone_story(app, code="GS-2024-0071", status="submitted")
    # A phone in the story body alone is enough; the author's own phone (kept apart) is not.
    body_only = await story(
        app, code="GS-2024-0072", status="submitted", story="Gọi cô Lan: 0987654321."
    )
    plain = await story(app, code="GS-2024-0073", status="submitted", author_phone="0987654321")
    async with app.db.transaction() as session:
        texts = {}
        for sub in (with_phone, body_only, plain):
            fresh = await session.get(Submission, sub.id)
            assert fresh is not None
            texts[sub.code] = (await review.card(session, app.services, fresh, stage)).text
    warning = "⚠️ Bài có số điện thoại: số đó sẽ được che khi đăng công khai."
    assert warning in texts["GS-2024-0071"]
    assert warning in texts["GS-2024-0072"]
    assert warning not in texts["GS-2024-0073"]
    # The reviewer reads the story as written: the card itself hides nothing.
    assert "0987 654 321" in texts["GS-2024-0071"]


async def test_decision_details_survive_and_honour_in_code_masks_the_summary(
    app: GuongSang,
) -> None:
    sub = await phone_story(app)
    async with app.db.transaction() as session:
        row, _ = await broadcasting.honour(
            session,
            app.services,
            sub.code or "",
            decision_number="1625/QĐ-UBND",
            decision_date=date(2024, 3, 20),
            summary=SUMMARY,
            actor_id=None,
            channel="cli",
        )
        fresh = await session.get(Submission, sub.id)
        assert fresh is not None
        post = broadcasting.post(app.services, fresh, row)
    assert row.slug == SLUG
    # The decision as typed is kept on record; only what is published is hidden.
    assert row.summary == SUMMARY
    assert_no_phone(post.text, "post")
    assert "Quyết định số 1625/QĐ-UBND ngày 20/03/2024" in post.text
