"""The month's exemplar list as XLSX and DOCX: the letters' columns in order, units by level then
alphabetically, only what the office marked (or all with --all), signed by the one who sent it.

Data is made through the storage layer on the real app's database; the command runs in-process
through its own argparse registration and the files are read back with openpyxl/python-docx.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from bot import export_command
from bot.app import GuongSang
from bot.settings import Settings
from handlers import month_exports, reports
from storage import month_exemplars, nominations, people, roles
from storage.models import Event, Nomination, Unit
from templates import Texts
from tests.apps import FIXTURES, Clock, start_app
from tests.drivers import Chat
from tests.factories import story
from tests.fakes.telegram_server import FakeTelegram, SentMessage

CAMPAIGN = "thanh-xuan-2024"
LQD, KIM_GIANG, HOA_SUA = (
    "Trường THCS Lê Quý Đôn", "Trường Tiểu học Kim Giang", "Trường Mầm non Hoa Sữa",
)  # fmt: skip
HEADERS = [
    "TT", "Họ và tên", "Chức vụ, nơi công tác", "Đơn vị đề cử", "Tóm tắt thành tích", "Mã bài",
    "Người đề cử",
]  # fmt: skip
NOW = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[GuongSang]:
    """The app with the ladder campaign that asks for a monthly exemplar."""
    app = await start_app(
        settings.model_copy(update={"config": FIXTURES / "campaigns-month.toml"}), clock
    )
    yield app
    await app.close()


async def person(session: object, chat: str, name: str, role: str, title: str, **where: object):
    someone = await people.create_with_identity(session, "telegram", chat, chat, "x")  # type: ignore[arg-type]
    someone.full_name = name
    grant = await roles.grant(session, someone.id, role, **where)  # type: ignore[arg-type]
    grant.title = title
    return someone


@pytest.fixture
async def month(app: GuongSang) -> int:
    """January 2024: three schools nominated; the office marked two and sent the list."""
    codes = {LQD: "GS-2024-0001", KIM_GIANG: "GS-2024-0002", HOA_SUA: "GS-2024-0003"}
    subs = {}
    for unit, code in codes.items():
        subs[unit] = await story(
            app, code=code, unit_name=unit, exemplar=f"Nhân vật {code[-1]}",
            address=f"Giáo viên {unit}",
        )  # fmt: skip
    campaign_id = app.services.campaign_ids[CAMPAIGN]
    async with app.db.transaction() as session:
        units = {u.name: u for u in await session.scalars(select(Unit))}
        office = await nominations.organisation_named(session, "Phòng GDĐT quận Thanh Xuân")
        assert office is not None
        sender = await person(session, "901", "Vũ Thị Thu", roles.REVIEWER, "Chuyên viên",
                              organisation_id=office.id)  # fmt: skip
        for n, unit in enumerate(codes, start=1):
            head = await person(session, f"80{n}", f"Hiệu trưởng {n}", roles.UNIT_HEAD,
                                "Hiệu trưởng", unit_id=units[unit].id)  # fmt: skip
            row, _ = await month_exemplars.choose(
                session, campaign_id=campaign_id, unit_id=units[unit].id, month="2024-01",
                submission_id=subs[unit].id, reason=f"=Lý do {n}: giúp đỡ học sinh khó khăn.",
                by_id=head.id, now=NOW,
            )  # fmt: skip
            if unit != KIM_GIANG:
                await month_exemplars.set_goes_up(session, row, True)
        parent = await nominations.organisation_named(session, "Phòng Nội vụ quận Thanh Xuân")
        assert parent is not None
        await month_exemplars.mark_sent(
            session, campaign_id=campaign_id, month="2024-01", organisation_id=parent.id,
            by_id=sender.id, now=NOW,
        )  # fmt: skip
    return campaign_id


async def export(settings: Settings, *argv: str) -> int:
    """`guongsang export exemplars …` through the command's own argparse registration."""
    parser = argparse.ArgumentParser(prog="guongsang")
    sub = parser.add_subparsers(dest="command", required=True)
    export_command.add_parser(sub)
    args = parser.parse_args(["export", "exemplars", "--campaign", CAMPAIGN, *argv])
    return await args.func(args, settings, Texts("cli", html=False))


async def test_the_xlsx_has_the_letters_columns_and_the_marked_units(
    app: GuongSang, month: int, tmp_path: Path
) -> None:
    out = tmp_path / "guong-thang.xlsx"
    argv = ("--month", "2024-01", "--format", "xlsx", "--output", str(out))
    assert await export(app.settings, *argv) == 0
    sheet = load_workbook(out).active
    cells = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(cells) if row[0] == "TT")
    assert list(cells[header]) == HEADERS
    body = [row for row in cells[header + 1 :] if isinstance(row[0], int)]
    # Preschool before lower-secondary (letter 001's order); Kim Giang was not marked.
    assert [(r[0], r[3], r[5]) for r in body] == [
        (1, HOA_SUA, "GS-2024-0003"),
        (2, LQD, "GS-2024-0001"),
    ]
    assert body[0][1] == "Nhân vật 3" and body[0][2] == f"Giáo viên, {HOA_SUA}"
    assert body[0][4] == "=Lý do 3: giúp đỡ học sinh khó khăn.", "text stays text"
    assert body[0][6] == "Hiệu trưởng 3, Hiệu trưởng"
    words = [str(v) for row in cells for v in row if v]
    assert "PHÒNG GDĐT QUẬN THANH XUÂN" in words
    assert any("THÁNG 01/2024" in w for w in words)
    assert "Kính gửi: Phòng Nội vụ quận Thanh Xuân" in words
    assert words[-3:] == ["CHUYÊN VIÊN", "(Ký, ghi rõ họ tên)", "Vũ Thị Thu"]
    assert sheet.page_setup.orientation == "landscape"
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.print_title_rows == f"${header + 1}:${header + 1}"

    everyone = tmp_path / "all.xlsx"
    argv = ("--month", "2024-01", "--format", "xlsx", "--output", str(everyone), "--all")
    assert await export(app.settings, *argv) == 0
    sheet = load_workbook(everyone).active
    codes = [row[5] for row in sheet.iter_rows(values_only=True) if isinstance(row[0], int)]
    assert codes == ["GS-2024-0003", "GS-2024-0002", "GS-2024-0001"]


async def test_the_docx_is_landscape_with_the_same_rows(
    app: GuongSang, month: int, tmp_path: Path
) -> None:
    out = tmp_path / "guong-thang.docx"
    argv = ("--month", "2024-01", "--format", "docx", "--output", str(out))
    assert await export(app.settings, *argv) == 0
    doc = Document(io.BytesIO(out.read_bytes()))
    assert doc.sections[0].page_width > doc.sections[0].page_height
    table = doc.tables[1]
    assert [c.text for c in table.rows[0].cells] == HEADERS
    assert [[c.text for c in r.cells][3] for r in table.rows[1:]] == [HOA_SUA, LQD]
    text = [p.text for p in doc.paragraphs]
    assert "Vũ Thị Thu" in text and "CHUYÊN VIÊN" in text
    assert any("ngày 10 tháng 1 năm 2024" in t for t in text)


async def test_functions_are_public_and_refusals(
    app: GuongSang, month: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with app.db.transaction() as session:
        rows = await month_exports.rows(session, month, "2024-01")
        campaign = app.services.campaign(CAMPAIGN)
        assert campaign is not None
        frame = await month_exports.heading(session, campaign, month, "2024-02")
    assert [r.code for r in rows] == ["GS-2024-0003", "GS-2024-0001"]
    assert frame.signer_name is None and frame.signer_title == "NGƯỜI LẬP DANH SÁCH"
    assert load_workbook(io.BytesIO(month_exports.xlsx([], frame))).active is not None
    out = tmp_path / "x.xlsx"
    assert await export(app.settings, "--month", "13-2024", "--format", "xlsx",
                        "--output", str(out)) == 2  # fmt: skip
    assert "không phải tháng" in capsys.readouterr().err and not out.exists()


async def test_the_monthly_report_counts_nominations_up_and_names_the_exemplar(
    app: GuongSang, month: int
) -> None:
    async with app.db.transaction() as session:
        office = await nominations.organisation_named(session, "Phòng Nội vụ quận Thanh Xuân")
        sub = await app_story(app, session, "GS-2024-0001")
        assert office is not None
        session.add(
            Nomination(submission_id=sub, level=1, organisation_id=office.id, status="pending",
                       nominated_by_id=1, nominated_at=NOW, note="Tiêu biểu")
        )  # fmt: skip
        await session.flush()
        campaign = app.services.campaign(CAMPAIGN)
        assert campaign is not None
        rows = await reports.monthly(
            session, campaign, month, datetime(2024, 1, 1).date(), app.services.tz
        )
    by_unit = {r.unit.name: r for r in rows}
    assert (by_unit[LQD].nominated_up, by_unit[LQD].exemplar) == (1, "GS-2024-0001")
    assert (by_unit[KIM_GIANG].nominated_up, by_unit[KIM_GIANG].exemplar) == (0, "GS-2024-0002")
    assert by_unit["Trường THCS Kim Giang"].exemplar is None


async def app_story(app: GuongSang, session: object, code: str) -> int:
    from storage.models import Submission

    found = await session.scalar(select(Submission.id).where(Submission.code == code))  # type: ignore[attr-defined]
    assert found is not None
    return int(found)


async def test_the_list_and_the_year_summary_arrive_in_chat_within_the_askers_scope(
    app: GuongSang, month: int, telegram: FakeTelegram, channel: object
) -> None:
    # The admin (GUONGSANG_ADMINS=telegram:999) asks in one line; the file is the office's list.
    admin = Chat(telegram.user(999, "Quản trị"))
    await admin.send(f"/baocao exemplars_docx {CAMPAIGN} 2024-01")
    (sent,) = await _documents(admin, 1)
    assert sent.file_data is not None
    doc = Document(io.BytesIO(sent.file_data))
    assert [c.text for c in doc.tables[1].rows[0].cells] == HEADERS
    assert [[c.text for c in r.cells][3] for r in doc.tables[1].rows[1:]] == [HOA_SUA, LQD]
    # Kim Giang's head (not marked to go up) gets their own unit's pick, nobody else's.
    head = Chat(telegram.user(802, "Hiệu trưởng 2"))
    await head.send(f"/baocao exemplars_xlsx {CAMPAIGN} 2024-01")
    files = await _documents(head, 1)
    assert files[0].file_data is not None
    book = load_workbook(io.BytesIO(files[0].file_data)).worksheets[0]
    values = [str(c) for row in book.iter_rows(values_only=True) for c in row if c is not None]
    assert KIM_GIANG in values and LQD not in values and HOA_SUA not in values
    # The year summary: every unit's year, the columns the emulation review reads.
    await admin.send(f"/baocao year_summary {CAMPAIGN} 2024")
    files = await _documents(admin, 2)
    assert files[1].file_data is not None
    sheet = load_workbook(io.BytesIO(files[1].file_data)).worksheets[0]
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert "2024" in str(table[0][0])
    assert table[1][-1] == "Tháng có gương tiêu biểu"
    lines = {row[0]: row for row in table[2:]}
    assert lines[KIM_GIANG][-1] == 1 and lines[LQD][-1] == 1
    async with app.db.transaction() as session:
        sent_events = list(
            await session.scalars(select(Event).where(Event.action == "export_sent"))
        )
    assert [e.data["what"] for e in sent_events] == [
        "exemplars_docx", "exemplars_xlsx", "year_summary"
    ]  # fmt: skip
    assert sent_events[2].data["year"] == 2024


async def _documents(chat: Chat, count: int) -> list[SentMessage]:
    """The files sent into the chat, once `count` have arrived (a file follows its caption)."""
    for _ in range(5):
        found = [m for m in chat.user.messages() if m.kind == "document"]
        if len(found) >= count:
            return found
        await chat.replies(min_count=1)
    return [m for m in chat.user.messages() if m.kind == "document"]
