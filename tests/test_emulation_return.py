"""The resubmission rule: a sheet the block sent back comes again; where the unit changed a
criterion's score, the block's adjustment of it is dropped (the unit's new score stands and the
block must look again, an `adjustment_dropped` event recorded); unchanged criteria, and a score
changed and put back, keep the adjustment. Both sides are told in plain Vietnamese."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from storage.models import Event as LogEvent
from tests.apps import Clock
from tests.emulation_helpers import (
    BLOCK_UNITS,
    emulation_settings,
    start_emulation_app,
    unit_head,
)
from tests.test_emulation import KG_POINTS, card_of, score_from, sent_to


async def test_changed_score_drops_the_adjustment_unchanged_keeps_it(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    app = await start_emulation_app(emulation_settings(tmp_path, database_url), clock)
    try:
        head = await unit_head(app, "nc", BLOCK_UNITS["head"])
        kd = await unit_head(app, "kd", BLOCK_UNITS["kd"])
        await head.send("/thidua")
        await head.choose("Ban hành bảng tiêu chí")

        await kd.send("/thidua")
        await kd.choose("Tự chấm điểm")
        await kd.send(KG_POINTS[0])
        await kd.send("https://thcs-khuongdinh.edu.vn/minh-chung")
        await kd.choose("Tiếp")
        await score_from(kd, KG_POINTS, 1)
        assert "Đã nộp phiếu tự chấm: 79 điểm" in await kd.choose("Nộp phiếu")

        # The head adjusts 1.1 (17 → 15) and 1.2 (8 → 6), then sends the sheet back.
        await head.send("/thidua")
        await head.choose("Phiếu các đơn vị")
        await head.choose(BLOCK_UNITS["kd"])
        for criterion, points, reason in (
            ("1.1.", "15", "Minh chứng chỉ có 80% học sinh khá, giỏi"),
            ("1.2.", "6", "Chưa có chuyên đề đổi mới phương pháp"),
        ):
            await head.choose("Điều chỉnh điểm")
            await head.choose(criterion)
            await head.send(points)
            await head.send(reason)
        await head.choose("Trả lại phiếu")
        assert "Đã trả lại phiếu" in await head.send("Xin xem lại tiêu chí 1.1 và 1.2")

        # The member changes 1.1, changes 1.2 and puts it back, keeps 1.3 as it was.
        await kd.send("/thidua")
        text = await kd.choose("Tự chấm điểm")
        assert "Tổng tự chấm: 79 / 105" in text
        await kd.choose("Sửa một tiêu chí")
        text = await kd.choose("1.1.")
        assert "Khối đã điều chỉnh tiêu chí này thành 15 điểm" in text
        assert "đổi điểm thì khi nộp lại, điều chỉnh này được bỏ" in text
        await kd.send("16")
        await kd.choose("Tiếp")
        for answer in ("5", "8"):
            await kd.choose("Sửa một tiêu chí")
            await kd.choose("1.2.")
            await kd.send(answer)
            await kd.choose("Tiếp")
        await kd.choose("Sửa một tiêu chí")
        await kd.choose("1.3.")
        assert "Gõ ghi chú ngắn" in await kd.send("giữ")
        await kd.choose("Tiếp")
        text = await kd.choose("Nộp phiếu")
        assert "Đã nộp phiếu tự chấm: 78 điểm" in text
        assert "Tiêu chí 1.1: bạn đổi 17 → 16 điểm (khối đã chấm 15 điểm)" in text
        assert "1.2" not in text.split("Đã nộp phiếu")[1]

        told = await sent_to(app, "nc")
        assert "Trường THCS Khương Đình đã nộp lại phiếu tự chấm: 78 điểm" in told
        assert (
            "Tiêu chí 1.1 (Chất lượng giáo dục toàn diện): đơn vị đổi 17 → 16 điểm; khối đã chấm"
            " 15 điểm (lý do: Minh chứng chỉ có 80% học sinh khá, giỏi)" in told
        )
        assert "Tiêu chí 1.2 (" not in told

        card = await card_of(app, BLOCK_UNITS["kd"])
        assert card.status == "submitted"
        assert card.scores["1.1"]["self"] == 16 and card.scores["1.1"].get("block") is None
        assert card.scores["1.1"]["dropped"]["block"] == 15
        assert card.scores["1.2"]["self"] == 8 and card.scores["1.2"]["block"] == 6
        assert card.scores["1.3"].get("block") is None

        async with app.db.transaction() as session:
            dropped = list(
                await session.scalars(
                    select(LogEvent).where(
                        LogEvent.subject == "emu_card", LogEvent.action == "adjustment_dropped"
                    )
                )
            )
        assert [(e.subject_id, e.data["criterion"], e.data["self_before"], e.data["self_after"],
                 e.data["block"], e.data["role"]) for e in dropped] == [
            (card.id, "1.1", 17, 16, 15, "unit_head")
        ]  # fmt: skip
        assert dropped[0].actor_id is not None

        # The head sees what to look at again; the block total counts the unit's new 16.
        await head.send("/thidua")
        await head.choose("Phiếu các đơn vị")
        text = await head.choose(BLOCK_UNITS["kd"])
        assert "điều chỉnh cũ của khối (15 điểm) đã bỏ: cần xem lại" in text
        assert "Tự chấm: 78 · Khối chấm: 76" in text
    finally:
        await app.close()
