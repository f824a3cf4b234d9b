"""Letter 000's summary list ("danh sách trích ngang thành tích") as XLSX and DOCX.

Honoured stories are made through the storage layer on the real app's database; each export is
opened back with openpyxl / python-docx and read cell by cell. The `export summary` command runs
in-process through its own argparse registration, against the same database file.
"""

from __future__ import annotations

import argparse
import io
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from openpyxl import load_workbook

from bot import export_command
from bot.app import GuongSang
from bot.settings import Settings
from handlers.exports import (
    XLSX_WIDTHS,
    SummaryHeading,
    SummaryRow,
    split_position,
    summary_docx,
    summary_heading,
    summary_rows,
    summary_xlsx,
)
from handlers.paper import row_height
from storage.models import Submission
from templates import Texts
from tests.apps import FIXTURES, Clock, start_app
from tests.factories import honoured_story

TITLE = "DANH SÁCH TRÍCH NGANG THÀNH TÍCH\nCác cá nhân được tặng danh hiệu “Người tốt, việc tốt”"
HEADERS = [
    "STT",
    "Họ và tên",
    "Chức vụ, nghề nghiệp",
    "Nơi công tác, học tập, cư trú",
    "Tóm tắt thành tích",
    "Số quyết định",
    "Ngày quyết định",
]
AUTHOR = "Nguyễn Thị Hoa"  # the factory's author: not an exemplar, never in the list

# Made in this order; the list must read Lan (20/3), then Hương before Đức (same day, by name).
LAN: dict[str, Any] = {
    "code": "GS-2024-0001",
    "exemplar": "Nguyễn Thị Lan",
    "unit_name": "Trường Tiểu học Kim Giang",
    "summary": "Mở lớp học miễn phí cho học sinh khó khăn suốt ba năm.",
    "decision_number": "1625/QĐ-UBND",
    "decision_date": date(2023, 3, 20),
    "author_phone": "0912345678",
}
DUC: dict[str, Any] = {
    "code": "GS-2024-0002",
    "exemplar": "Trần Văn Đức",
    "unit_name": "Trường THCS Lê Quý Đôn",
    "summary": "Dũng cảm cứu hai em nhỏ đuối nước ở hồ Định Công.\nHiến máu tình nguyện 12 lần.",
    "decision_number": "3215/QĐ-UBND",
    "decision_date": date(2023, 6, 14),
    "author_phone": "0987654321",
}
HUONG: dict[str, Any] = {
    "code": "GS-2024-0003",
    "exemplar": "Lò Thị Hương",
    "unit_name": "Trường Mầm non Hạ Đình",
    "summary": "Nhặt được ví có 15 triệu đồng, tìm và trả lại người đánh rơi.",
    "decision_number": "3216/QĐ-UBND",
    "decision_date": date(2023, 6, 14),
    "author_phone": "0356789012",
}
PHONES = [LAN["author_phone"], DUC["author_phone"], HUONG["author_phone"]]
# Đức's place was written "Giáo viên Trường THCS Lê Quý Đôn": the job goes to its own column.
EXPECTED = [
    SummaryRow(
        number=n,
        full_name=story["exemplar"],
        position="Giáo viên" if story is DUC else "",
        unit=story["unit_name"],
        summary=story["summary"],
        decision_number=story["decision_number"],
        decision_date=story["decision_date"],
    )
    for n, story in enumerate((LAN, HUONG, DUC), start=1)
]


@pytest.fixture
async def three(app: GuongSang) -> list[SummaryRow]:
    """Three honoured stories in the letter-001 campaign, read back as summary rows."""
    for story in (LAN, DUC, HUONG):
        honour = await honoured_story(app, **story)
        if story is DUC:
            async with app.db.transaction() as session:
                sub = await session.get(Submission, honour.submission_id)
                assert sub is not None
                sub.values = {**sub.values, "exemplar_address": f"Giáo viên {DUC['unit_name']}"}
    async with app.db.transaction() as session:
        return await summary_rows(session, "thanh-xuan-2024")


HEADING = summary_heading(
    body="Ủy ban nhân dân|Quận Thanh Xuân",
    decided_by="UBND Thành phố",
    letter_number="123/UBND-NV",
    letter_date=date(2024, 3, 21),
)
TOP = [
    ["ỦY BAN NHÂN DÂN", None, None, None, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", None, None],
    ["QUẬN THANH XUÂN", None, None, None, "Độc lập - Tự do - Hạnh phúc", None, None],
    [None] * 7,
    ["DANH SÁCH TRÍCH NGANG THÀNH TÍCH", *[None] * 6],
    ["Các cá nhân được UBND Thành phố tặng danh hiệu “Người tốt, việc tốt”", *[None] * 6],
    ["(Kèm theo Công văn số 123/UBND-NV ngày 21 tháng 3 năm 2024)", *[None] * 6],
    [None] * 7,
]
HEADER_ROW = len(TOP) + 1


def table_part(cells: list[list[object]]) -> list[list[object]]:
    """The rows from the table's header row on."""
    return cells[cells.index(HEADERS) :]


def sheet_values(data: bytes) -> list[list[object]]:
    """Every cell of the only sheet, row by row."""
    book = load_workbook(io.BytesIO(data))
    assert len(book.worksheets) == 1
    return [list(row) for row in book.active.iter_rows(values_only=True)]


def every_part(data: bytes) -> str:
    """All XML parts of an Office file as text: cells, styles, properties, headers, footers."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "\n".join(
            archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if name.endswith((".xml", ".rels"))
        )


def docx_table(data: bytes) -> list[list[str]]:
    """The list's table of a .docx (after the heading's), as cell texts."""
    doc = Document(io.BytesIO(data))
    assert len(doc.tables) == 2
    return [[cell.text for cell in row.cells] for row in doc.tables[1].rows]


def assert_private_data_absent(data: bytes) -> None:
    """No author phone (in any spelling) and no author name anywhere in the file."""
    text = every_part(data)
    # Also with the separators people type ("0912 345 678", "0912.345.678") taken out.
    for haystack in (text, re.sub(r"[\s.\-()]", "", text)):
        for phone in PHONES:
            assert phone[1:] not in haystack  # 0…, +84… and 84… share the last nine digits
    assert AUTHOR not in text


async def test_rows_are_ordered_by_decision_date_then_name(three: list[SummaryRow]) -> None:
    assert three == EXPECTED


async def test_names_follow_the_vietnamese_alphabet(app: GuongSang) -> None:
    # Code point order would put Đ after Ô; accent-free order would put Đinh before Dương.
    # Letters decide before tones: Hạ Văn Minh comes before Hà Văn Nam; tones only break the tie
    # between Hà Văn Nam and Hạ Văn Nam (huyền before nặng).
    names = [
        "Ông Văn Tú",
        "Hạ Văn Nam",
        "Hà Văn Nam",
        "Đinh Thị Mai",
        "Dương Văn An",
        "Hạ Văn Minh",
    ]
    for n, name in enumerate(names, start=1):
        await honoured_story(
            app, code=f"GS-2024-01{n:02}", exemplar=name, author_phone=f"09000000{n:02}"
        )
    async with app.db.transaction() as session:
        rows = await summary_rows(session, None)
    assert [r.full_name for r in rows] == [
        "Dương Văn An",
        "Đinh Thị Mai",
        "Hạ Văn Minh",
        "Hà Văn Nam",
        "Hạ Văn Nam",
        "Ông Văn Tú",
    ]
    assert [r.number for r in rows] == [1, 2, 3, 4, 5, 6]


async def test_xlsx_cell_by_cell(three: list[SummaryRow]) -> None:
    data = summary_xlsx(three, HEADING)
    assert sheet_values(data) == [
        *TOP,
        HEADERS,
        [1, LAN["exemplar"], None, LAN["unit_name"], LAN["summary"], "1625/QĐ-UBND",
         datetime(2023, 3, 20)],
        [2, HUONG["exemplar"], None, HUONG["unit_name"], HUONG["summary"], "3216/QĐ-UBND",
         datetime(2023, 6, 14)],
        [3, DUC["exemplar"], "Giáo viên", DUC["unit_name"], DUC["summary"], "3215/QĐ-UBND",
         datetime(2023, 6, 14)],
    ]  # fmt: skip

    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == "Trích ngang"
    assert {"A1:C1", "E1:G1", "A4:G4", "A6:G6"} <= {str(r) for r in sheet.merged_cells.ranges}
    assert sheet["A1"].font.b and sheet["E1"].font.b and sheet["A4"].font.b
    assert sheet["A6"].font.i
    assert all(cell.font.b for cell in sheet[HEADER_ROW])
    assert sheet.freeze_panes == f"A{HEADER_ROW + 1}"
    for row in sheet.iter_rows(min_row=HEADER_ROW + 1):
        date_cell = row[6]
        assert date_cell.is_date and date_cell.number_format == "dd/mm/yyyy"
        assert all(cell.alignment.wrap_text for cell in row[1:5])
        assert all(cell.data_type == "s" for cell in row[1:6] if cell.value is not None)
        assert row[0].data_type == "n"
    widths = {c: sheet.column_dimensions[c].width for c in "ABCDEFG"}
    for column, header in zip("ABCDEFG", HEADERS, strict=True):
        # Wrapped headers break at spaces: each column must fit the longest word of its header.
        assert widths[column] >= max(len(word) for word in header.split())
    assert max(widths, key=widths.__getitem__) == "E"  # the summary gets the room
    # Printed landscape on A4, one page wide, the header row on every page.
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}"
    # Every row has a height that holds its wrapped text (LibreOffice does not grow rows).
    heights = [sheet.row_dimensions[HEADER_ROW + n].height for n in (1, 2, 3)]
    assert all(h and h >= 15 for h in heights)
    assert heights[2] >= 2 * 15, "Đức's two-line summary gets two lines"
    short = row_height([1, "Lan", "", "Trường", "Một dòng."], XLSX_WIDTHS)
    assert short < 2 * 15.75, "a one-line row stays one line tall"
    assert row_height([1, "Lan", "", "Trường", "chữ " * 100], XLSX_WIDTHS) >= 7 * 15.75
    assert_private_data_absent(data)


async def test_docx_paragraph_by_paragraph(three: list[SummaryRow]) -> None:
    data = summary_docx(three, HEADING)
    doc = Document(io.BytesIO(data))
    assert [(p.style.name, p.text) for p in doc.paragraphs] == [
        ("Heading 1", "DANH SÁCH TRÍCH NGANG THÀNH TÍCH"),
        ("Normal", "Các cá nhân được UBND Thành phố tặng danh hiệu “Người tốt, việc tốt”"),
        ("Normal", "(Kèm theo Công văn số 123/UBND-NV ngày 21 tháng 3 năm 2024)"),
    ]
    top = doc.tables[0]
    assert [c.text for c in top.rows[0].cells] == [
        "ỦY BAN NHÂN DÂN\nQUẬN THANH XUÂN",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc",
    ]
    assert top.style is None or top.style.name != "Table Grid", "the heading has no borders"
    assert docx_table(data) == [
        HEADERS,
        ["1", LAN["exemplar"], "", LAN["unit_name"], LAN["summary"], "1625/QĐ-UBND",
         "20/03/2023"],
        ["2", HUONG["exemplar"], "", HUONG["unit_name"], HUONG["summary"], "3216/QĐ-UBND",
         "14/06/2023"],
        ["3", DUC["exemplar"], "Giáo viên", DUC["unit_name"], DUC["summary"], "3215/QĐ-UBND",
         "14/06/2023"],
    ]  # fmt: skip

    table = doc.tables[1]
    assert table.style.name == "Table Grid"
    assert table.style.element.findall(f".//{qn('w:tblBorders')}"), "Table Grid draws borders"
    header = table.rows[0]
    assert all(run.bold for cell in header.cells for run in cell.paragraphs[0].runs)
    assert header._tr.trPr.find(qn("w:tblHeader")) is not None  # repeated on every page
    section = doc.sections[0]
    assert section.orientation == WD_ORIENT.LANDSCAPE
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (297, 210)
    assert doc.core_properties.title == HEADING.title.replace("\n", " ")
    assert_private_data_absent(data)


def test_the_heading_leaves_dots_for_what_the_office_fills_in() -> None:
    heading = summary_heading()
    assert heading.body == ("…………………………………",)
    assert heading.title == TITLE
    assert heading.attached_to == "(Kèm theo Công văn số ………/……… ngày ……… tháng ……… năm ………)"
    with_campaign = summary_heading(
        campaign_title="Cuộc thi 2024", body="Phòng GDĐT quận Thanh Xuân"
    )
    assert with_campaign.body == ("PHÒNG GDĐT QUẬN THANH XUÂN",)
    assert with_campaign.title.endswith("\n(Cuộc thi 2024)")


@pytest.mark.parametrize(
    "heading", [summary_heading(), summary_heading(campaign_title="Cuộc thi 2024")]
)
def test_empty_list_exports_only_the_heading_and_headers(heading: SummaryHeading) -> None:
    cells = sheet_values(summary_xlsx([], heading))
    assert cells[-1] == HEADERS and cells[3][0] == "DANH SÁCH TRÍCH NGANG THÀNH TÍCH"
    data = summary_docx([], heading)
    assert Document(io.BytesIO(data)).paragraphs[0].text == "DANH SÁCH TRÍCH NGANG THÀNH TÍCH"
    assert docx_table(data) == [HEADERS]


def test_people_text_stays_text() -> None:
    # A place that starts like a formula, and Word's manual line break (a vertical tab) that
    # XML cannot hold, as pasted from a .docx.
    row = SummaryRow(
        number=1,
        full_name="Vi Thị Ánh",
        position="",
        unit='=HYPERLINK("http://x.invalid","Bấm")',
        summary="Dòng một\x0bDòng hai\x07",
        decision_number="3606/QĐ-UBND",
        decision_date=date(2023, 7, 14),
    )
    xlsx = summary_xlsx([row], summary_heading())
    sheet = load_workbook(io.BytesIO(xlsx)).active
    line = HEADER_ROW + 1
    assert sheet[f"D{line}"].value == row.unit and sheet[f"D{line}"].data_type == "s"
    assert sheet[f"E{line}"].value == "Dòng một\nDòng hai"
    assert docx_table(summary_docx([row], summary_heading()))[1] == [
        "1",
        "Vi Thị Ánh",
        "",
        row.unit,
        "Dòng một\nDòng hai",
        "3606/QĐ-UBND",
        "14/07/2023",
    ]


@pytest.mark.parametrize(
    ("place", "split"),
    [
        ("Giáo viên Trường Tiểu học Kim Giang", ("Giáo viên", "Trường Tiểu học Kim Giang")),
        ("Học sinh lớp 5A, Trường THCS Lê Quý Đôn", ("Học sinh lớp 5A", "Trường THCS Lê Quý Đôn")),
        ("Cựu chiến binh, cư trú tại Phường Khương Mai", ("Cựu chiến binh", "Phường Khương Mai")),
        (
            "Trường THCS Lê Quý Đôn, Phường Khương Đình",
            ("", "Trường THCS Lê Quý Đôn, Phường Khương Đình"),
        ),
        ("Phường Kim Giang, quận Thanh Xuân", ("", "Phường Kim Giang, quận Thanh Xuân")),
        ("bác bảo vệ trường", ("", "bác bảo vệ trường")),
    ],
)
def test_the_job_is_split_from_the_place(place: str, split: tuple[str, str]) -> None:
    assert split_position(place) == split


LAI_CHAU_TITLE = "Phát hiện, tuyên truyền gương người tốt, việc tốt trong CNVCLĐ tỉnh Lai Châu 2024"
LAI_CHAU = f"""
[[campaigns]]
slug = "lai-chau-2024"
title = "{LAI_CHAU_TITLE}"
organisation = "Công đoàn Viên chức tỉnh Lai Châu"
opens = 2024-01-01
closes = 2024-12-31
form = "story"
"""


@pytest.fixture
async def two_campaigns(
    settings: Settings, clock: Clock, tmp_path: Path
) -> AsyncIterator[GuongSang]:
    """The real app with letter 001's campaign and a Lai Châu union one (letter 002)."""
    config = tmp_path / "campaigns.toml"
    config.write_text((FIXTURES / "campaigns.toml").read_text("utf-8") + LAI_CHAU, "utf-8")
    application = await start_app(settings.model_copy(update={"config": config}), clock)
    yield application
    await application.close()


async def test_campaign_filter(two_campaigns: GuongSang, tmp_path: Path) -> None:
    app = two_campaigns
    await honoured_story(app, **LAN)
    await honoured_story(
        app,
        code="GS-2024-0009",
        exemplar="Lù Văn Páo",
        unit_name="Công đoàn Bệnh viện Đa khoa tỉnh",
        summary="Hiến máu cứu sản phụ trong đêm mưa lũ.",
        decision_number="412/QĐ-LĐLĐ",
        decision_date=date(2024, 5, 2),
        author_phone="0977111222",
        campaign_slug="lai-chau-2024",
    )
    async with app.db.transaction() as session:
        assert [r.full_name for r in await summary_rows(session, "lai-chau-2024")] == ["Lù Văn Páo"]
        assert [r.full_name for r in await summary_rows(session, "thanh-xuan-2024")] == [
            LAN["exemplar"]
        ]
        assert [r.full_name for r in await summary_rows(session, None)] == [
            LAN["exemplar"],
            "Lù Văn Páo",
        ]

    out = tmp_path / "lai-chau.docx"
    status = await run_export(
        app.settings, "--campaign", "lai-chau-2024", "--format", "docx", "--output", str(out)
    )
    assert status == 0
    doc = Document(str(out))
    assert [p.text for p in doc.paragraphs[:3]] == [*TITLE.split("\n"), f"({LAI_CHAU_TITLE})"]
    # The campaign's organisation heads the list unless --body says otherwise.
    assert doc.tables[0].rows[0].cells[0].text == "CÔNG ĐOÀN VIÊN CHỨC TỈNH LAI CHÂU"
    assert docx_table(out.read_bytes())[1:] == [
        [
            "1",
            "Lù Văn Páo",
            "",
            "Công đoàn Bệnh viện Đa khoa tỉnh",
            "Hiến máu cứu sản phụ trong đêm mưa lũ.",
            "412/QĐ-LĐLĐ",
            "02/05/2024",
        ]
    ]


async def run_export(settings: Settings, *argv: str) -> int:
    """`guongsang export summary …` through the command's own argparse registration."""
    parser = argparse.ArgumentParser(prog="guongsang")
    sub = parser.add_subparsers(dest="command", required=True)
    export_command.add_parser(sub)
    args = parser.parse_args(["export", "summary", *argv])
    return await args.func(args, settings, Texts("cli", html=False))


async def test_export_command_end_to_end(
    app: GuongSang, three: list[SummaryRow], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xlsx, docx = tmp_path / "trich-ngang.xlsx", tmp_path / "trích ngang.docx"
    assert (
        await run_export(
            app.settings, "--format", "xlsx", "--output", str(xlsx),
            "--body", "Ủy ban nhân dân|Quận Thanh Xuân", "--decided-by", "UBND Thành phố",
            "--letter-number", "123/UBND-NV", "--letter-date", "21/3/2024",
        )
        == 0
    )  # fmt: skip
    assert capsys.readouterr().out.strip() == f"Đã xuất 3 dòng vào {xlsx}"
    assert (
        await run_export(
            app.settings, "--campaign", "thanh-xuan-2024", "--format", "docx", "--output", str(docx)
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == f"Đã xuất 3 dòng vào {docx}"

    # The files on disk are exactly what the functions make from the same rows.
    cells = sheet_values(xlsx.read_bytes())
    assert cells[: len(TOP)] == TOP and cells[len(TOP)] == HEADERS
    assert [row[:2] for row in cells[len(TOP) + 1 :]] == [
        [1, "Nguyễn Thị Lan"],
        [2, "Lò Thị Hương"],
        [3, "Trần Văn Đức"],
    ]
    table = docx_table(docx.read_bytes())
    assert [row[1] for row in table[1:]] == ["Nguyễn Thị Lan", "Lò Thị Hương", "Trần Văn Đức"]
    assert (
        Document(str(docx))
        .paragraphs[2]
        .text.endswith("(Cuộc thi viết về gương người tốt, việc tốt quận Thanh Xuân năm 2024)")
    )
    assert_private_data_absent(xlsx.read_bytes())
    assert_private_data_absent(docx.read_bytes())


async def test_export_command_unknown_campaign(
    app: GuongSang, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.xlsx"
    status = await run_export(
        app.settings, "--campaign", "ha-dong-2024", "--format", "xlsx", "--output", str(out)
    )
    assert status == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "Không có đợt thi đua «ha-dong-2024». Các đợt thi đua hiện có: thanh-xuan-2024."
    )
    assert captured.out == ""
    assert not out.exists()


async def test_export_command_empty_and_unwritable(
    app: GuongSang, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "empty.xlsx"
    assert await run_export(app.settings, "--format", "xlsx", "--output", str(out)) == 0
    assert capsys.readouterr().out.strip() == (
        f"Chưa có gương nào được tuyên dương; đã xuất danh sách chỉ có dòng tiêu đề vào {out}"
    )
    assert sheet_values(out.read_bytes())[-1] == HEADERS
    bad = tmp_path / "bad.xlsx"
    assert await run_export(app.settings, "--format", "xlsx", "--output", str(bad),
                            "--letter-date", "21.3.24") == 2  # fmt: skip
    assert "«21.3.24» không phải ngày" in capsys.readouterr().err and not bad.exists()

    missing = tmp_path / "no-such-folder" / "x.docx"
    assert await run_export(app.settings, "--format", "docx", "--output", str(missing)) == 2
    assert capsys.readouterr().err.startswith(f"Không ghi được tệp {missing}: ")
