"""The per-unit year summary (letter 001: a unit's entries count toward its year-end emulation
review): the figures, `guongsang report year`, and the emulation's proposed scores."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot import report_command
from bot.app import GuongSang
from bot.settings import Settings
from handlers import year_summary
from handlers.emulation import contest
from handlers.emulation.criteria import Criterion
from storage import nominations
from storage.models import Nomination, Submission, Unit
from templates import Texts
from tests.apps import Clock
from tests.test_month_exports import CAMPAIGN, HOA_SUA, KIM_GIANG, LQD, NOW, app, month

__all__ = ["app", "month"]  # the fixtures, imported for pytest
CITY = "Hội đồng thi cấp Thành phố"


async def send_up(app: GuongSang, code: str, level: int, org: str, status: str) -> None:
    async with app.db.transaction() as session:
        sub_id = await session.scalar(select(Submission.id).where(Submission.code == code))
        office = await nominations.organisation_named(session, org)
        by = await session.scalar(select(Submission.author_id).where(Submission.id == sub_id))
        assert sub_id is not None and office is not None and by is not None
        session.add(
            Nomination(submission_id=sub_id, level=level, organisation_id=office.id,
                       status=status, nominated_by_id=by, nominated_at=NOW, note="Tiêu biểu")
        )  # fmt: skip


async def report(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="guongsang")
    sub = parser.add_subparsers(dest="command", required=True)
    report_command.add_parser(sub)
    args = parser.parse_args(["report", "year", "--campaign", CAMPAIGN, *argv])
    return await args.func(args, settings, Texts("cli", html=False))


async def test_a_units_year_and_its_proposed_scores(
    app: GuongSang, month: int, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await send_up(app, "GS-2024-0001", 1, "Phòng Nội vụ quận Thanh Xuân", "selected")
    await send_up(app, "GS-2024-0001", 2, CITY, "pending")
    await send_up(app, "GS-2024-0002", 1, "Phòng Nội vụ quận Thanh Xuân", "not_selected")
    # 20 March: the deadlines of January, February and March have passed.
    clock.moment = datetime(2024, 3, 20, 3, 0, tzinfo=UTC)
    campaign = app.services.campaign(CAMPAIGN)
    assert campaign is not None
    async with app.db.transaction() as session:
        rows = {r.unit.name: r for r in await year_summary.year_summary(
            session, app.services, campaign, 2024
        )}  # fmt: skip
        lqd = rows[LQD]
        assert (lqd.entries, lqd.approved, lqd.nominated_up, lqd.selected) == (1, 1, 1, [1, 0])
        assert (lqd.months_met, lqd.months_counted, lqd.exemplar_months) == (1, 3, 1)
        assert (rows[KIM_GIANG].nominated_up, rows[KIM_GIANG].selected) == (1, [0, 0])
        assert rows["Trường THCS Kim Giang"].entries == 0
        assert rows["Trường THCS Kim Giang"].exemplar_months == 0
        assert rows[HOA_SUA].exemplar_months == 1
        assert (await year_summary.year_summary(session, app.services, campaign, 2023))[
            0
        ].entries == 0

        # The emulation's proposed score from the same figures.
        lqd_id = await session.scalar(select(Unit.id).where(Unit.name == LQD))
        assert lqd_id is not None
        for figure, expected in (("nominated_up", 1), ("exemplar_months", 1)):
            criterion = Criterion(
                id="1.1", section="Phần 1", name="Gương tháng", max=10, from_contest=figure,
                campaign=CAMPAIGN, points_each=2,
            )  # fmt: skip
            assert await contest.figure(session, app.services, criterion, lqd_id) == expected

    assert await report(app.settings, "--year", "2024") == 0
    out = capsys.readouterr().out
    assert "Tổng hợp năm 2024" in out and "Được chọn ở Phòng Nội vụ quận Thanh Xuân" in out
    line = next(x for x in out.splitlines() if x.startswith(LQD))
    assert line.split()[-8:] == ["1", "1", "1", "1", "0", "0", "1/3", "1"]

    book = tmp_path / "nam-2024.xlsx"
    assert await report(app.settings, "--year", "2024", "--format", "xlsx", "--output",
                        str(book)) == 0  # fmt: skip
    sheet = load_workbook(book).active
    assert sheet.title == "Tổng hợp năm"
    header = [c.value for c in sheet[2]]
    assert header[:5] == ["Đơn vị", "Cấp", "Bài dự thi", "Đã duyệt", "Đề cử lên"]
    assert header[-3:] == ["Tuyên dương", "Tháng đạt chỉ tiêu", "Tháng có gương tiêu biểu"]
    assert f"Được chọn ở {CITY}" in header
    assert await report(app.settings, "--year", "24") == 2
