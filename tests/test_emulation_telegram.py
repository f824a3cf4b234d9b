"""Letter 004 on Telegram, through the fake Bot API: buttons for every choice, the member's
and the block's notifications delivered from the outbox, stale and forged presses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import GuongSang
from bot.settings import Settings
from tests.apps import Clock
from tests.drivers import Chat, invite_code, join, jpeg, text_of
from tests.emulation_helpers import BLOCK_UNITS, emulation_settings, start_emulation_app
from tests.fakes.telegram_server import FakeTelegram
from tests.test_emulation import card_of

POINTS = ["18", "9", "8", "7", None, "9", "10", "8", "9", "2"]  # None: the contest proposal


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The campaigns file with the example block."""
    return emulation_settings(tmp_path, database_url)


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[GuongSang]:
    """The real application with the units and the block synced."""
    application = await start_emulation_app(settings, clock)
    yield application
    await application.close()


async def test_scoring_and_cross_check_with_buttons(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    head = Chat(telegram.user(201, "Bình"))
    await join(head, await invite_code(app, "unit_head", BLOCK_UNITS["head"]))
    member = Chat(telegram.user(202, "Hà"))
    await join(member, await invite_code(app, "unit_head", BLOCK_UNITS["kd"]))

    assert "/thidua — khối thi đua" in await head.send("/help")
    await head.send("/thidua")
    text = await head.press("Ban hành bảng tiêu chí")
    assert "Đã ban hành" in text
    assert "đã ban hành bảng tiêu chí" in text_of(await member.replies())

    await member.send("/thidua")
    text = await member.press("Tự chấm điểm")
    assert "Tiêu chí 1/10" in text
    await member.send(POINTS[0])
    first_extra = member.with_buttons()
    next_data = first_extra.button_data()["➡️ Tiếp"] or ""
    await member.photo(jpeg(3))
    assert "Đã nhận ảnh minh chứng" in text_of(await member.replies())
    await member.press("Tiếp")
    for answer in POINTS[1:]:
        if answer is None:
            text = await member.press("Nhận điểm đề xuất: 0")
        else:
            text = await member.send(answer)
        assert "Gõ ghi chú ngắn" in text, text
        await member.press("Tiếp")
    assert "Tổng tự chấm: 80 / 105" in text_of(member.last)
    summary = member.with_buttons()
    # A pressed message loses its buttons: keep what they carried, to press them again later.
    submit_data = summary.button_data()["📨 Nộp phiếu tự chấm"] or ""
    assert "Đã nộp phiếu tự chấm: 80 điểm" in await member.press("Nộp phiếu")
    assert "Khương Đình đã nộp phiếu tự chấm: 80 điểm" in text_of(await head.replies())
    sent = (await card_of(app, BLOCK_UNITS["kd"])).scores

    # Presses on older messages, and forged data, change nothing once the sheet is sent.
    answer = await member.press_raw(next_data, first_extra.message_id)
    assert answer  # a toast explains the button no longer works
    answer = await member.press_raw(submit_data, summary.message_id)
    assert answer
    menu = member.with_buttons()
    seq = (menu.button_data()["📄 Xem phiếu của đơn vị"] or "").split("|")[0]
    card_id = (await card_of(app, BLOCK_UNITS["kd"])).id
    for forged in ("score", f"o:{card_id}", "pub", "cards", "t:²", "b:99999999999", "o:-1"):
        await member.press_raw(f"{seq}|{forged}", menu.message_id)
    await member.replies(min_count=0)
    assert (await card_of(app, BLOCK_UNITS["kd"])).scores == sent
    assert (await card_of(app, BLOCK_UNITS["kd"])).status == "submitted"

    # The head adjusts two criteria, each with its reason; the member is told.
    await head.send("/thidua")
    await head.press("Phiếu các đơn vị")
    text = await head.press(BLOCK_UNITS["kd"])
    assert "tự chấm 18" in text and "1 ảnh minh chứng" in text
    for criterion, points, reason in (
        ("1.1.", "15", "Minh chứng chỉ có 80% học sinh khá, giỏi"),
        ("2.3.", "8", "Báo cáo quý III nộp chậm 5 ngày"),
    ):
        await head.press("Điều chỉnh điểm")
        await head.press(criterion)
        await head.send(points)
        assert "Xin ghi lý do" in await head.send("x")
        assert "Đã điều chỉnh" in await head.send(reason)
    told = text_of(await member.replies(min_count=2))
    assert "18 → 15 điểm" in told and "Báo cáo quý III nộp chậm 5 ngày" in told
    await head.press("Đề nghị khen thưởng")
    await head.press("Tập thể lao động xuất sắc")
    await head.press("Chốt điểm")
    assert "đã chốt điểm thi đua của đơn vị: 75 điểm" in text_of(await member.replies())
    await head.press("Quay lại")
    text = await head.press("Xếp hạng")
    assert "1. Trường THCS Khương Đình: 75 điểm (tự chấm 80)" in text
    assert "đề nghị Tập thể lao động xuất sắc" in text
