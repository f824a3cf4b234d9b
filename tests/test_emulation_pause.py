"""Pausing self-scoring by typing «tạm dừng» (or «tam dung», «dừng», any case, with or
without accents) at every self-scoring prompt, on the console and on Zalo's numbered replies,
not only with the Telegram button; nothing typed as a pause is kept as a note."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import GuongSang
from bot.settings import Settings
from handlers.emulation.common import typed_pause
from tests.apps import Clock
from tests.drivers import invite_code
from tests.emulation_helpers import (
    BLOCK_UNITS,
    Console,
    emulation_settings,
    start_emulation_app,
    sync_blocks,
    unit_head,
)
from tests.fakes.zalo_server import FakeZalo
from tests.test_emulation import KG_POINTS, card_of, score_from
from tests.zalo_drivers import ZaloChat

PAUSED = "Phiếu tự chấm đã được lưu"


@pytest.mark.parametrize(
    "typed",
    ["tạm dừng", "Tạm Dừng", "TẠM DỪNG", "tam dung", "TAM DUNG", "dừng", "Dung", "dừng!",
     "  tạm   dừng. ", "tạm dung", "dừng lại", "tạm ngừng"],
)  # fmt: skip
def test_pause_words(typed: str) -> None:
    assert typed_pause(typed)


@pytest.mark.parametrize(
    "typed", ["đúng", "tạm đúng", "dừng lại đi", "không dừng", "18", "", "tạm", "dũng"]
)
def test_not_pause_words(typed: str) -> None:
    assert not typed_pause(typed)


async def test_typed_pause_at_every_prompt_on_the_console(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    app = await start_emulation_app(emulation_settings(tmp_path, database_url), clock)
    try:
        head = await unit_head(app, "nc", BLOCK_UNITS["head"])
        kg = await unit_head(app, "kg", BLOCK_UNITS["kg"])
        await head.send("/thidua")
        await head.choose("Ban hành bảng tiêu chí")

        # At the points prompt, in capitals.
        await kg.send("/thidua")
        assert "Tiêu chí 1/10" in await kg.choose("Tự chấm điểm")
        assert PAUSED in await kg.send("TẠM DỪNG")
        # At the note prompt: a pause, not a note «tam dung».
        await kg.send("/thidua")
        await kg.choose("Tự chấm điểm")
        assert "Gõ ghi chú ngắn" in await kg.send(KG_POINTS[0])
        assert PAUSED in await kg.send("tam dung")
        assert "note" not in (await card_of(app, BLOCK_UNITS["kg"])).scores["1.1"]
        # Resumed at the first criterion left; «đúng» is a note, not a pause.
        await kg.send("/thidua")
        assert "Tiêu chí 2/10" in await kg.choose("Tự chấm điểm")
        await kg.send(KG_POINTS[1])
        assert "Đã lưu ghi chú" in await kg.send("đúng")
        await kg.choose("Tiếp")
        await score_from(kg, KG_POINTS, 2)
        # At the summary and at the list of criteria to fix.
        assert PAUSED in await kg.send("Dừng")
        await kg.send("/thidua")
        assert "Tổng tự chấm: 79 / 105" in await kg.choose("Tự chấm điểm")
        await kg.choose("Sửa một tiêu chí")
        assert PAUSED in await kg.send("tạm dừng")
        # Everything kept: the sheet is sent as scored.
        await kg.send("/thidua")
        await kg.choose("Tự chấm điểm")
        assert "Đã nộp phiếu tự chấm: 79 điểm" in await kg.choose("Nộp phiếu")
        assert (await card_of(app, BLOCK_UNITS["kg"])).scores["1.2"]["note"] == "đúng"
    finally:
        await app.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The campaigns file with the example block."""
    return emulation_settings(tmp_path, database_url)


async def test_typed_pause_on_zalo(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_channel: object
) -> None:
    app = zalo_app
    await sync_blocks(app)
    head = Console(app, "nc")
    await head.send(f"/start {await invite_code(app, 'unit_head', BLOCK_UNITS['head'])}")
    await head.send("/thidua")
    await head.choose("Ban hành bảng tiêu chí")

    member = ZaloChat(zalo.user("zalo-kg", "Kim"))
    await member.send(f"/join {await invite_code(app, 'unit_head', BLOCK_UNITS['kg'])}")
    await member.send("/thidua")
    await member.choose("Tự chấm điểm")
    text = await member.send("17")
    assert "Gõ «tạm dừng» để lưu và làm tiếp sau" in text
    # Zalo is offered the web page for a long note, as the story editor is.
    assert f"📝 Viết ghi chú dài trên trang web: {app.settings.public_url}/note/" in text
    # The note prompt shows numbered options (1. Tiếp, 2. Tạm dừng); the words work too.
    assert PAUSED in await member.send("Tam dung")
    assert "note" not in (await card_of(app, BLOCK_UNITS["kg"])).scores["1.1"]
    await member.send("/thidua")
    text = await member.choose("Tự chấm điểm")
    assert "Tiêu chí 2/10" in text and "Tổng tạm tính: 17 / 105" in text
    await member.send("8")
    # The numbered option still works as well.
    assert PAUSED in await member.choose("Tạm dừng")
    await member.send("/thidua")
    assert "Tiêu chí 3/10" in await member.choose("Tự chấm điểm")
    assert PAUSED in await member.send("dừng")
