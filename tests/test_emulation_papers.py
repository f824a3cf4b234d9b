"""The block's papers (letter 004): the result table (XLSX, DOCX) and the registration list
are signed by the block head's unit head — role, unit with their title, full name — as given
when they accepted the invitation, not left blank; landscape A4, one page wide, the header row
repeated on every page. The files are opened as Excel and Word would (openpyxl, python-docx)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from bot.app import GuongSang
from handlers.emulation import exports
from handlers.emulation.exports import RegistrationLine, Signer
from handlers.emulation.scoring import Ranked
from storage import emulation as repo
from storage.emulation_models import EmulationBlock
from tests.apps import Clock, run_cli_beside
from tests.drivers import invite_code
from tests.emulation_helpers import (
    BLOCK_UNITS,
    EMULATION,
    Console,
    emulation_settings,
    start_emulation_app,
)

TODAY = date(2024, 12, 5)
LINES = [
    Ranked(1, BLOCK_UNITS["kd"], 90.0, 85.5, 1, datetime(2024, 1, 10, tzinfo=UTC), False,
           "Tập thể lao động xuất sắc", 2),
    Ranked(2, BLOCK_UNITS["deputy"], 75.0, 75.0, 2, None, True, None, 0),
]  # fmt: skip
UNIT_LINE = "HIỆU TRƯỞNG TRƯỜNG THCS NHÂN CHÍNH"


async def block_and_signer(app: GuongSang) -> tuple[EmulationBlock, Signer]:
    async with app.db.transaction() as session:
        block = await repo.block_by_slug(session, "khoi-thcs-2024")
        assert block is not None
        return block, await exports.block_signer(session, block)


def texts(sheet: Worksheet) -> list[str]:
    return [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]


def check_print_setup(sheet: Worksheet) -> None:
    assert sheet.page_setup.orientation == "landscape"
    assert int(sheet.page_setup.paperSize) == int(sheet.PAPERSIZE_A4)  # 9: A4
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.page_setup.fitToWidth == 1 and sheet.page_setup.fitToHeight == 0
    assert sheet.print_title_rows == "$5:$5"


def check_signature(sheet: Worksheet, name: str) -> None:
    """Role, unit line, hint, then the name, in that order under the table."""
    found = texts(sheet)
    order = [found.index(t) for t in ("TRƯỞNG KHỐI THI ĐUA", UNIT_LINE,
                                      "(Ký, ghi rõ họ tên, đóng dấu)", name)]  # fmt: skip
    assert order == sorted(order), found
    cell = next(c for row in sheet.iter_rows() for c in row if c.value == name)
    assert cell.font.b and cell.row > 5 + 2


async def test_papers_signed_by_the_head_units_head(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    settings = emulation_settings(tmp_path, database_url)
    app = await start_emulation_app(settings, clock)
    try:
        # Before the head unit's head has joined, the name is a line to fill by hand.
        block, signer = await block_and_signer(app)
        assert signer == Signer("TRƯỞNG KHỐI THI ĐUA", BLOCK_UNITS["head"], "", "")
        sheet = load_workbook(io.BytesIO(exports.result_xlsx(block, LINES, TODAY, signer))).active
        assert sheet is not None
        assert "TRƯỜNG THCS NHÂN CHÍNH" in texts(sheet)
        assert "............................................." in texts(sheet)

        # The head accepts the invitation with their full name and title.
        head = Console(app, "nc")
        await head.send(f"/start {await invite_code(app, 'unit_head', BLOCK_UNITS['head'])}")
        await head.send("Nguyễn Văn An")
        await head.choose("Hiệu trưởng")
        block, signer = await block_and_signer(app)
        assert signer.name == "Nguyễn Văn An" and signer.unit_line == UNIT_LINE

        # Result, XLSX.
        sheet = load_workbook(io.BytesIO(exports.result_xlsx(block, LINES, TODAY, signer))).active
        assert sheet is not None
        check_signature(sheet, "Nguyễn Văn An")
        check_print_setup(sheet)
        header = [c.value for c in sheet[5]]
        assert header[:2] == ["TT", "Đơn vị"]

        # Registrations, XLSX.
        regs = exports.registrations_xlsx(
            block,
            [RegistrationLine(BLOCK_UNITS["kd"], ["Cờ thi đua"], None, "Trần Thị Bình")],
            TODAY,
            app.services.tz,
            signer=signer,
        )
        sheet = load_workbook(io.BytesIO(regs)).active
        assert sheet is not None
        check_signature(sheet, "Nguyễn Văn An")
        check_print_setup(sheet)

        # Result, DOCX: landscape A4, header row repeated, the signature under the table.
        doc = Document(io.BytesIO(exports.result_docx(block, LINES, TODAY, signer)))
        section = doc.sections[0]
        assert section.orientation == WD_ORIENT.LANDSCAPE
        assert section.page_width > section.page_height
        assert round(section.page_width.mm) == 297 and round(section.page_height.mm) == 210
        table = doc.tables[1]
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
        assert [c.text for c in table.rows[0].cells][:2] == ["TT", "Đơn vị"]
        signature = doc.tables[2].rows[0].cells[1].text.split("\n")
        assert signature[:3] == [
            "TRƯỞNG KHỐI THI ĐUA", UNIT_LINE, "(Ký, ghi rõ họ tên, đóng dấu)"
        ]  # fmt: skip
        assert signature[-1] == "Nguyễn Văn An"
        assert all(not line for line in signature[3:-1]), "room to sign"

        # Still callable without a signer (as before): the role and a place to sign.
        doc = Document(io.BytesIO(exports.result_docx(block, LINES, TODAY)))
        assert doc.tables[2].rows[0].cells[1].text.startswith("TRƯỞNG KHỐI THI ĐUA\n(Ký")

        # The command line signs its papers the same way (once the sheet is published).
        await head.send("/thidua")
        await head.choose("Ban hành bảng tiêu chí")
        env = {
            "GUONGSANG_DATA_DIR": str(tmp_path / "data"),
            "GUONGSANG_DATABASE_URL": database_url,
            "GUONGSANG_CONFIG": str(EMULATION / "campaigns.toml"),
        }
        for args, path in (
            (("export", "--format", "docx"), tmp_path / "ket-qua.docx"),
            (("export", "--format", "xlsx"), tmp_path / "ket-qua.xlsx"),
            (("registrations",), tmp_path / "dang-ky.xlsx"),
        ):
            command, *options = args
            done = await run_cli_beside(
                env, "blocks", command, "khoi-thcs-2024", *options, "--output", str(path)
            )
            assert done.returncode == 0, done.stderr
            if path.suffix == ".docx":
                text = Document(str(path)).tables[2].rows[0].cells[1].text
                assert UNIT_LINE in text and text.endswith("Nguyễn Văn An")
            else:
                sheet = load_workbook(path).active
                assert sheet is not None
                check_signature(sheet, "Nguyễn Văn An")
                check_print_setup(sheet)
    finally:
        await app.close()
