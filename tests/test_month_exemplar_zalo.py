"""The month's exemplar on Zalo, where there are no buttons: the principal picks by number and
types the reason; the office marks by number and sends the list up, which the next level's
reviewer receives."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from bot.app import GuongSang
from storage.month_models import MonthExemplar, MonthList
from tests.drivers import introduce, invite_code
from tests.factories import story
from tests.fakes.zalo_server import FakeZalo
from tests.test_month_exemplar_telegram import (
    DISTRICT,
    HOME_AFFAIRS,
    SCHOOL,
    settings,  # noqa: F401  (the campaigns file with the month's exemplar)
)
from tests.zalo_drivers import ZaloChat, text_of


async def on_zalo(app: GuongSang, chat: ZaloChat, name: str, **invite: str) -> ZaloChat:
    role = "unit_head" if "unit_name" in invite else "reviewer"
    await chat.send(f"/join {await invite_code(app, role, **invite)}")
    await introduce(chat, name, "Hiệu trưởng" if role == "unit_head" else "Chuyên viên")
    return chat


async def test_picked_by_number_marked_by_number_and_sent_up(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    app = zalo_app
    principal = await on_zalo(
        app, ZaloChat(zalo.user("a0a0c3d4e5f601234567", "Bình")), "Nguyễn Văn Bình",
        unit_name=SCHOOL,
    )  # fmt: skip
    office = await on_zalo(
        app, ZaloChat(zalo.user("b0b0c3d4e5f601234567", "Thu")), "Vũ Thị Thu",
        organisation=DISTRICT,
    )  # fmt: skip
    above = await on_zalo(
        app, ZaloChat(zalo.user("c0c0c3d4e5f601234567", "Nam")), "Trần Văn Nam",
        organisation=HOME_AFFAIRS,
    )  # fmt: skip
    await story(app, code="GS-2024-0001", unit_name=SCHOOL, exemplar="Nguyễn Thị Lan")
    await story(app, code="GS-2024-0002", unit_name=SCHOOL, exemplar="Phạm Văn Hùng")

    text = await principal.send("/guongthang")
    assert "Gõ số thứ tự" in text and "GS-2024-0001" in text and "bấm" not in text.lower()
    # A number not on the list picks nothing: the list comes again.
    assert "GS-2024-0002" in await principal.send("9")
    assert "lý do ngắn" in await principal.choose("GS-2024-0002")
    text = await principal.send("Cứu hai em nhỏ đuối nước ở hồ Linh Đàm.")
    assert "Đã ghi nhận gương tiêu biểu tháng 01/2024" in text

    text = await office.send("/dsguongthang")
    assert "Phạm Văn Hùng" in text and "Gõ số thứ tự" in text and "bấm" not in text.lower()
    text = await office.choose(SCHOOL)
    assert "Đã đánh dấu gửi lên" in text and f"✅ 1. {SCHOOL}" in text
    text = await office.choose("Gửi danh sách lên")
    assert f"Đã gửi danh sách 1 gương tiêu biểu tháng 01/2024 lên {HOME_AFFAIRS}" in text
    received = text_of(await above.replies())
    assert "Danh sách gương tiêu biểu tháng 01/2024" in received and "Phạm Văn Hùng" in received

    async with app.db.transaction() as session:
        (row,) = await session.scalars(select(MonthExemplar))
        assert row.goes_up and row.reason.startswith("Cứu hai em")
        assert len(list(await session.scalars(select(MonthList)))) == 1
    assert "đã gửi danh sách" in await principal.send("/guongthang")


async def test_the_console_picks_by_number(app: GuongSang) -> None:
    """The console has no buttons either: the same numbered list, answered by number."""
    from tests.drivers import typed

    async def say(text: str) -> str:
        response = await app.handle(typed("hieutruong", text))
        # The console channel numbers the choices under the text.
        return "\n".join(r.text + "".join(c.label for c in r.choices) for r in response.replies)

    await story(app, code="GS-2024-0001", unit_name=SCHOOL, exemplar="Nguyễn Thị Lan")
    await say(f"/join {await invite_code(app, 'unit_head', SCHOOL)}")
    await say("Nguyễn Văn Bình")
    await say("Hiệu trưởng")
    text = await say("/guongthang")
    assert "GS-2024-0001" in text and "Gõ số thứ tự" in text
    assert "lý do ngắn" in await say("1")
    text = await say("Ba năm mở lớp học miễn phí cho học sinh khó khăn.")
    assert "Đã ghi nhận gương tiêu biểu tháng 01/2024" in text
    async with app.db.transaction() as session:
        (row,) = await session.scalars(select(MonthExemplar))
        assert row.reason.startswith("Ba năm")
