"""The month's exemplar on Telegram, end to end (letter 001: each school nominates 01 typical
exemplar a month): a principal picks and changes the pick, a principal who has not picked is
reminded once on the reminder day, the office marks which go up and sends the list, and the
next level's reviewer receives it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.campaign_file import CampaignFileError, load_campaigns
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from storage.models import Event as LogEvent
from storage.month_models import MonthExemplar, MonthList
from tests.apps import FIXTURES, Clock
from tests.drivers import Chat, introduce, invite_code, join, text_of
from tests.factories import story
from tests.fakes.telegram_server import FakeTelegram

SCHOOL = "Trường THCS Lê Quý Đôn"
OTHER = "Trường Tiểu học Kim Giang"
DISTRICT = "Phòng GDĐT quận Thanh Xuân"
HOME_AFFAIRS = "Phòng Nội vụ quận Thanh Xuân"


def at(day: int, hour: int = 9) -> datetime:
    """January 2024, `hour` o'clock in Hà Nội (UTC+7)."""
    return datetime(2024, 1, day, tzinfo=UTC) + timedelta(hours=hour - 7)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Letter 001's campaign with its ladder and the month's exemplar."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        config=FIXTURES / "campaigns-month.toml",
        admins="telegram:999",
        user_message_burst=100,
    )


async def exemplar_rows(app: GuongSang) -> list[MonthExemplar]:
    async with app.db.transaction() as session:
        return list(await session.scalars(select(MonthExemplar).order_by(MonthExemplar.id)))


async def month_log(app: GuongSang) -> list[tuple[str, str | None]]:
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(LogEvent)
            .where(LogEvent.subject.in_(("month_exemplar", "month_list")))
            .order_by(LogEvent.id)
        )
        return [(e.action, e.reason) for e in rows]


async def test_a_month_nominated_reminded_marked_and_sent_up(
    app: GuongSang, clock: Clock, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    principal = Chat(telegram.user(201, "Bình"))
    await join(principal, await invite_code(app, "unit_head", SCHOOL))
    await introduce(principal, "Trần Văn Bình", "Hiệu trưởng")
    other_head = Chat(telegram.user(202, "Mai"))
    await join(other_head, await invite_code(app, "unit_head", OTHER))
    await introduce(other_head, "Lê Thị Mai", "Hiệu trưởng")
    office = Chat(telegram.user(301, "Thu"))
    await join(office, await invite_code(app, "reviewer", organisation=DISTRICT))
    await introduce(office, "Vũ Thị Thu", "Chuyên viên")
    above = Chat(telegram.user(401, "Nam"))
    await join(above, await invite_code(app, "reviewer", organisation=HOME_AFFAIRS))
    await introduce(above, "Đỗ Văn Nam", "Chuyên viên")

    await story(app, code="GS-2024-0001", unit_name=SCHOOL, exemplar="Nguyễn Thị Lan")
    await story(app, code="GS-2024-0002", unit_name=SCHOOL, exemplar="Phạm Văn Hùng")
    await story(app, code="GS-2024-0003", unit_name=SCHOOL, status="in_review")
    await story(app, code="GS-2024-0004", unit_name=OTHER, status="approved")

    # The principal picks one of the school's approved stories, with a reason.
    text = await principal.send("/guongthang")
    assert "Gương tiêu biểu tháng 01/2024" in text and SCHOOL in text and "25/01/2024" in text
    labels = [b for b in principal.with_buttons().buttons()]
    assert any("GS-2024-0001" in b for b in labels) and any("GS-2024-0002" in b for b in labels)
    assert not any("GS-2024-0003" in b or "GS-2024-0004" in b for b in labels), labels
    text = await principal.press("GS-2024-0001")
    assert "lý do ngắn" in text
    assert "cần từ 10 đến 500 ký tự" in await principal.send("Tốt")
    text = await principal.send("Ba năm mở lớp học miễn phí cho học sinh khó khăn.")
    assert "Đã ghi nhận gương tiêu biểu tháng 01/2024" in text and "GS-2024-0001" in text

    # Changed before the deadline: one row, the new story.
    text = await principal.send("/guongthang")
    assert "Gương tháng đã chọn: GS-2024-0001" in text
    await principal.press("GS-2024-0002")
    text = await principal.send("Cứu hai em nhỏ đuối nước ở hồ Linh Đàm.")
    assert "đã đổi lựa chọn" in text and "GS-2024-0002" in text
    (row,) = await exemplar_rows(app)
    assert (row.month, row.reason) == ("2024-01", "Cứu hai em nhỏ đuối nước ở hồ Linh Đàm.")
    # The monthly report shows the month's exemplar.
    assert "gương tháng GS-2024-0002" in await principal.send("/report 2024-01")

    # A forged press on the pick list changes nothing.
    await principal.send("/guongthang")
    await principal.user.press_data(principal.with_buttons().message_id, "999|pick:1")
    await principal.replies()
    assert (await exemplar_rows(app))[0].reason == row.reason

    # Reminders: on the 20th, from seven, once; only the unit that has not chosen.
    clock.moment = at(20, hour=6)
    assert await app.run_exemplar_nudges() == 0, "not before seven in the morning"
    clock.moment = at(20)
    assert await app.run_exemplar_nudges() == 1
    nudge = text_of(await other_head.replies())
    assert "Nhắc chọn gương tiêu biểu tháng 01/2024" in nudge and OTHER in nudge
    assert await app.run_exemplar_nudges() == 0, "once a day"
    clock.moment = at(21)
    assert await app.run_exemplar_nudges() == 0, "the 21st is no reminder day"

    # The office: the list, with the unit that has not chosen; the level above may not mark.
    text = await office.send("/dsguongthang 2024-01")
    assert "Gương tiêu biểu tháng 01/2024" in text and "Phạm Văn Hùng" in text
    assert "Cứu hai em nhỏ đuối nước" in text and "Trần Văn Bình" in text
    assert OTHER in text.split("Chưa chọn")[1]
    assert "dành cho phòng" in await above.send("/dsguongthang 2024-01")
    answer = await above.press_raw(f"!m:t:{row.id}")
    assert "không có quyền" in answer
    answer = await office.press_raw(f"!m:s:{row.campaign_id}:2024-01")
    assert "Chưa có gương nào được đánh dấu" in answer
    for forged in ("!m:x", "!m:t:abc", "!m:t:99999", f"!m:s:{row.campaign_id}:2024-13"):
        assert "không hợp lệ" in await office.press_raw(forged), forged
    assert not (await exemplar_rows(app))[0].goes_up, "nothing changed"

    text = await office.press(SCHOOL)
    assert f"✅ 1. {SCHOOL}" in text
    assert (await exemplar_rows(app))[0].goes_up
    listing = office.with_buttons()
    text = await office.press(f"Gửi danh sách lên {HOME_AFFAIRS}", listing)
    assert "Đã gửi danh sách 1 gương tiêu biểu tháng 01/2024" in text
    received = text_of(await above.replies())
    assert "Danh sách gương tiêu biểu tháng 01/2024" in received and DISTRICT in received
    assert "Phạm Văn Hùng" in received and "Cứu hai em nhỏ đuối nước" in received
    assert "Vũ Thị Thu" in received
    told = text_of(await principal.replies())
    assert f"đã được phòng gửi lên {HOME_AFFAIRS}" in told and "GS-2024-0002" in told

    # Sent once; the month is closed for the office and the principal.
    answer = await office.press_raw(f"!m:s:{row.campaign_id}:2024-01")
    assert "đã được gửi lên" in answer and "Vũ Thị Thu" in answer
    assert "đã gửi danh sách" in await principal.send("/guongthang")
    text = await office.send("/dsguongthang")
    assert f"Danh sách đã gửi lên {HOME_AFFAIRS}" in text
    async with app.db.transaction() as session:
        assert len(list(await session.scalars(select(MonthList)))) == 1

    # After the deadline: refused politely.
    clock.moment = at(25)
    text = await other_head.send("/guongthang")
    assert "nay đã qua" in text and "chưa chọn" in text

    assert [a for a, _ in await month_log(app)] == [
        "month_exemplar_chosen",
        "month_exemplar_changed",
        "month_exemplar_marked",
        "month_list_sent",
    ]


def test_exemplar_keys_in_the_campaigns_file(tmp_path: Path) -> None:
    (spec,) = load_campaigns(FIXTURES / "campaigns-month.toml", date(2024, 1, 1))
    assert spec.monthly_exemplar and spec.exemplar_deadline_day == 25
    assert spec.exemplar_reminder_days == (20, 24)
    base = (FIXTURES / "campaigns-month.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        base.replace(
            "monthly_exemplar = true",
            "monthly_exemplar = true\nexemplar_deadline_day = 20\nexemplar_reminder_days = [22]",
        ),
        encoding="utf-8",
    )
    with pytest.raises(CampaignFileError, match=r"exemplar_reminder_days"):
        load_campaigns(bad, date(2024, 1, 1))
