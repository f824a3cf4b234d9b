"""Letter 004 on Zalo: numbered choices, typed words where a number is the score, a pause and
a resume, the sheet sent and the block's adjustment received."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import GuongSang
from bot.settings import Settings
from tests.drivers import invite_code
from tests.emulation_helpers import BLOCK_UNITS, Console, emulation_settings, sync_blocks
from tests.fakes.zalo_server import FakeZalo
from tests.test_emulation import card_of
from tests.zalo_drivers import ZaloChat, text_of


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The campaigns file with the example block."""
    return emulation_settings(tmp_path, database_url)


async def test_self_scoring_by_numbers_on_zalo(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_channel: object
) -> None:
    app = zalo_app
    await sync_blocks(app)
    head = Console(app, "nc")
    await head.send(f"/start {await invite_code(app, 'unit_head', BLOCK_UNITS['head'])}")
    await head.send("/thidua")
    await head.choose("Ban hành bảng tiêu chí")

    member = ZaloChat(zalo.user("zalo-kg", "Kim"))
    text = await member.send(f"/join {await invite_code(app, 'unit_head', BLOCK_UNITS['kg'])}")
    assert BLOCK_UNITS["kg"] in text
    text = await member.send("/thidua")
    assert "Tự chấm điểm" in text
    text = await member.choose("Tự chấm điểm")
    assert "Tiêu chí 1/10" in text and "«tạm dừng»" in text
    # "2" is two points, not the second option of the list shown before.
    text = await member.send("2")
    assert "Tiêu chí 1.1: 2 điểm" in text
    assert "Đã nhận đường link" in await member.send("https://thcs-kimgiang.edu.vn/minh-chung")
    text = await member.choose("Tiếp")
    assert "Tiêu chí 2/10" in text
    assert "Phiếu tự chấm đã được lưu" in await member.send("tạm dừng")

    await member.send("/thidua")
    text = await member.choose("Tự chấm điểm")
    assert "Tiêu chí 2/10" in text and "Tổng tạm tính: 2 / 105" in text
    for points in ("8", "8", "8", "0", "7", "9", "8", "8", "0"):
        text = await member.send(points)
        assert "Gõ ghi chú ngắn" in text, text
        await member.choose("Tiếp")
    assert "Tổng tự chấm: 58 / 105" in text_of(member.last)
    assert "Đã nộp phiếu tự chấm: 58 điểm" in await member.choose("Nộp phiếu")
    assert (await card_of(app, BLOCK_UNITS["kg"])).status == "submitted"

    await head.send("/thidua")
    await head.choose("Phiếu các đơn vị")
    await head.choose(BLOCK_UNITS["kg"])
    await head.choose("Điều chỉnh điểm")
    await head.choose("1.1.")
    await head.send("3")
    await head.send("Minh chứng cho thấy đạt thêm 1 điểm")
    told = text_of(await member.replies())
    assert "2 → 3 điểm" in told and "Minh chứng cho thấy đạt thêm 1 điểm" in told
