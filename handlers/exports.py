"""Letter 000's summary list ("danh sách trích ngang thành tích") as XLSX and DOCX.

Honoured exemplars are spread "kèm theo danh sách trích ngang thành tích": one row per exemplar
with the name, unit, achievement summary and the decision that honoured them. The same rows feed
both files; every word a reader sees (title, headers) comes from `templates/exports/summary.j2`.
Only the exemplar's public facts are exported — never the author's name or phone, which live
beside them in the submission's values.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.collation import vietnamese_key
from handlers.paper import one_page_wide, row_height
from handlers.phones import mask_phones
from storage import honours
from templates import Texts

# python-docx and openpyxl are imported by the functions that build a file, as in the other
# export modules: importing them took a seventh of every start of the bot and of every
# command, and most never build a file.
if TYPE_CHECKING:
    from docx.document import Document as DocumentObject
    from docx.styles.style import ParagraphStyle
    from docx.table import _Row

# Column header macros in `summary.j2`, in column order.
HEADER_MACROS = (
    "summary.col_number",
    "summary.col_name",
    "summary.col_position",
    "summary.col_unit",
    "summary.col_summary",
    "summary.col_decision_number",
    "summary.col_decision_date",
)
DATE_FORMAT = "dd/mm/yyyy"
# Widths in Excel character units: the summary gets the room, STT and the date stay narrow.
XLSX_WIDTHS = (6, 24, 18, 30, 56, 16, 13)
# Landscape A4 is 297 mm wide; with 20 mm margins the table has 257 mm.
DOCX_MARGIN_MM = 20
DOCX_WIDTHS_MM = (13, 35, 30, 44, 77, 33, 25)
FONT = "Times New Roman"  # the font of Vietnamese administrative documents

# Characters XML 1.0 cannot hold: text pasted from Word often carries vertical tabs (its manual
# line break) or form feeds, and both openpyxl and python-docx refuse the whole file over one.
_LINE_BREAKS = re.compile(r"[\x0b\x0c\u2028\u2029]|\r\n?")
_NOT_XML = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# Where a place starts in "Giáo viên Trường Tiểu học Kim Giang" or "Học sinh lớp 5A, Trường
# THCS …": the words that begin the name of a school, a ward, a union, an office.
_PLACE_WORDS = (
    r"(?:Trường|Phường|Xã|Thị trấn|Quận|Huyện|Tổ dân phố|Khu|Thôn|Công đoàn|Bệnh viện|Trạm|"
    r"Trung tâm|Phòng|Sở|Ủy ban|UBND|Công ty|Cụm)\b"
)
_PLACE_START = re.compile(rf"[\s,;–-]+(?={_PLACE_WORDS})")
_IS_PLACE = re.compile(_PLACE_WORDS)
# "…, cư trú tại" before the place belongs to neither column.
_AT = re.compile(r"[\s,;–-]*(?:(?:cư trú|công tác|học tập|sinh sống|làm việc)\s+)?tại$")


@dataclass(frozen=True)
class SummaryRow:
    """One honoured exemplar, as a line of the summary list."""

    number: int
    full_name: str
    position: str
    unit: str
    summary: str
    decision_number: str
    decision_date: date


@dataclass(frozen=True)
class SummaryHeading:
    """What an office puts above the table before filing it: the issuing body (one line
    each, e.g. "ỦY BAN NHÂN DÂN", "QUẬN THANH XUÂN"), the title, and the letter it goes with."""

    body: tuple[str, ...]
    title: str
    attached_to: str


@cache
def export_texts() -> Texts:
    """The plain-text renderer for `templates/exports/*.j2`."""
    return Texts("exports", html=False)


def headers() -> list[str]:
    """The column headers, in column order."""
    return [export_texts().render(name) for name in HEADER_MACROS]


def summary_title(campaign_title: str | None = None, decided_by: str | None = None) -> str:
    """The list's title, naming who issued the decisions and the campaign when given."""
    return export_texts().render(
        "summary.title", campaign_title=campaign_title, decided_by=decided_by
    )


def summary_heading(
    *,
    campaign_title: str | None = None,
    body: str | None = None,
    decided_by: str | None = None,
    letter_number: str | None = None,
    letter_date: date | None = None,
) -> SummaryHeading:
    """The heading: `body`'s lines ("|" separates them), else dots to write the body in by
    hand; "Kèm theo Công văn số … ngày …" with dots for what is not given."""
    lines = tuple(line.strip().upper() for line in (body or "").split("|") if line.strip())
    words = export_texts()
    return SummaryHeading(
        body=lines or (words.render("summary.blank_body"),),
        title=summary_title(campaign_title, decided_by),
        attached_to=words.render(
            "summary.attached_to", number=(letter_number or "").strip(), when=letter_date
        ),
    )


def split_position(place: str) -> tuple[str, str]:
    """("Giáo viên", "Trường Tiểu học Kim Giang") from "Giáo viên Trường Tiểu học Kim Giang":
    the job before the place, when the text starts with one; ("", place) otherwise."""
    match = _PLACE_START.search(place)
    if match is None:
        return "", place
    position = _AT.sub("", place[: match.start()]).strip(" ,;–-")
    rest = place[match.end() :].strip()
    # A job is a few words and starts with a capital ("Giáo viên", "Học sinh lớp 5A").
    if (
        not position
        or not rest
        or len(position.split()) > 6
        or not position[0].isupper()
        or _IS_PLACE.match(position)  # "Trường …, Phường …" is one place, not a job and a place
    ):
        return "", place
    return position, rest


async def summary_rows(session: AsyncSession, campaign_slug: str | None) -> list[SummaryRow]:
    """Every honoured exemplar (of one campaign, or all), oldest decision first, then by name."""
    # An official list holds everyone, so no page limit; `listing` pages for the web.
    found = await honours.listing(session, campaign_slug=campaign_slug, limit=sys.maxsize)
    # Decision date first (as the decisions were issued), then the name; the decision number
    # and the story code only make the order stable for namesakes.
    found.sort(
        key=lambda h: (
            h.decision_date,
            vietnamese_key(_text(h.submission.values.get("exemplar_name"))),
            h.decision_number,
            h.submission.code or "",
            h.id,
        )
    )
    rows = []
    for n, h in enumerate(found, start=1):
        values = h.submission.values
        # A form that asks for the position separately says it; otherwise it is split from
        # the place, where writers put it ("Giáo viên Trường …").
        given = _text(values.get("exemplar_position"))
        position, place = (
            (given, _text(values.get("exemplar_address")))
            if given
            else split_position(_text(values.get("exemplar_address")))
        )
        rows.append(
            SummaryRow(
                number=n,
                # The list is published with the decision: a phone typed into a story is hidden.
                full_name=mask_phones(_text(values.get("exemplar_name"))),
                position=mask_phones(position),
                unit=mask_phones(place),
                summary=mask_phones(h.summary.strip()),
                decision_number=h.decision_number,
                decision_date=h.decision_date,
            )
        )
    return rows


def summary_xlsx(rows: Sequence[SummaryRow], heading: SummaryHeading) -> bytes:
    """The list as an Excel workbook: the issuing body and the national motto, the title and
    the letter it goes with, a bordered table whose rows are as tall as their wrapped text;
    printed landscape, one page wide, the header row on every page."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    words = export_texts()
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has its one sheet
    sheet.title = words.render("summary.sheet_name")
    columns = len(HEADER_MACROS)
    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap_top = Alignment(wrap_text=True, vertical="top")

    def merged(line: int, first: int, last: int, text: str, **font: object) -> None:
        cell = sheet.cell(row=line, column=first, value=_clean(text))
        cell.font = Font(name=FONT, **font)  # type: ignore[arg-type]
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sheet.merge_cells(start_row=line, start_column=first, end_row=line, end_column=last)

    # Left: the issuing body; right: Quốc hiệu and Tiêu ngữ, as on the letter itself.
    motto = words.render("summary.national_motto").splitlines()
    for offset in range(max(len(heading.body), len(motto))):
        if offset < len(heading.body):
            merged(1 + offset, 1, 3, heading.body[offset], bold=True)
        if offset < len(motto):
            merged(1 + offset, 5, columns, motto[offset], bold=True, underline=None)
    line = max(len(heading.body), len(motto)) + 2
    title_lines = heading.title.splitlines()
    for offset, text in enumerate(title_lines):
        merged(line + offset, 1, columns, text, bold=True, size=14 if offset == 0 else 12)
        sheet.row_dimensions[line + offset].height = 20
    line += len(title_lines)
    merged(line, 1, columns, heading.attached_to, italic=True)
    header = line + 2

    for column, text in enumerate(headers(), start=1):
        cell = sheet.cell(row=header, column=column, value=text)
        cell.font = Font(name=FONT, bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.fill = PatternFill("solid", fgColor="D9D9D9")
        cell.border = border
    sheet.row_dimensions[header].height = row_height(headers(), XLSX_WIDTHS)

    for offset, row in enumerate(rows):
        line = header + 1 + offset
        values: list[object] = [
            row.number,
            _clean(row.full_name),
            _clean(row.position),
            _clean(row.unit),
            _clean(row.summary),
            _clean(row.decision_number),
            row.decision_date,
        ]
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=line, column=column, value=value)
            if isinstance(value, str):
                # openpyxl turns any text starting with "=" into a formula; people's text must
                # stay text, whatever it starts with.
                cell.data_type = "s"
            cell.font = Font(name=FONT)
            cell.alignment = wrap_top
            cell.border = border
        sheet.cell(row=line, column=1).alignment = Alignment(horizontal="center", vertical="top")
        date_cell = sheet.cell(row=line, column=columns)
        date_cell.number_format = DATE_FORMAT
        date_cell.alignment = Alignment(horizontal="center", vertical="top")
        # LibreOffice does not grow a wrapped row by itself: without a height the summary
        # runs over the next row. Excel honours the height too.
        sheet.row_dimensions[line].height = row_height(values[:-1], XLSX_WIDTHS)

    for column, width in enumerate(XLSX_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = f"A{header + 1}"  # the header stays in view while scrolling
    one_page_wide(sheet, landscape=True, header_rows=f"{header}:{header}")
    book.properties.title = heading.title.replace("\n", " ")
    book.properties.creator = words.render("summary.document_author")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def summary_docx(rows: Sequence[SummaryRow], heading: SummaryHeading) -> bytes:
    """The list as a Word document: landscape A4, the issuing body beside the national motto,
    the title and the letter it goes with, a bordered table with a repeated header row."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    words = export_texts()
    doc = letter_document(heading.body)
    _plain_style(doc.styles["Heading 1"], size=14)

    title_lines = heading.title.splitlines()
    title = doc.add_heading(_clean(title_lines[0]), level=1)
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.space_before = Pt(12)
    for text in title_lines[1:]:
        paragraph = doc.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.paragraph_format.space_after = Pt(0)
        paragraph.add_run(_clean(text)).bold = True
    attached = doc.add_paragraph()
    attached.alignment = WD_ALIGN_PARAGRAPH.CENTER
    attached.add_run(_clean(heading.attached_to)).italic = True

    table = doc.add_table(rows=1, cols=len(HEADER_MACROS))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for cell, text in zip(table.rows[0].cells, headers(), strict=True):
        paragraph = cell.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.add_run(text).bold = True
    _repeat_as_header(table.rows[0])

    for row in rows:
        values = (
            str(row.number),
            _clean(row.full_name),
            _clean(row.position),
            _clean(row.unit),
            _clean(row.summary),
            _clean(row.decision_number),
            row.decision_date.strftime("%d/%m/%Y"),
        )
        cells = table.add_row().cells
        for column, (cell, value) in enumerate(zip(cells, values, strict=True)):
            # A run's text turns "\n" into a line break, so multi-line summaries keep their lines.
            cell.paragraphs[0].add_run(value)
            if column in (0, len(values) - 1):
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER

    # Word reads each cell's width, LibreOffice the grid's: set both.
    for column, width in zip(table.columns, DOCX_WIDTHS_MM, strict=True):
        column.width = Mm(width)
        for cell in column.cells:
            cell.width = Mm(width)

    doc.core_properties.title = heading.title.replace("\n", " ")
    doc.core_properties.author = words.render("summary.document_author")
    doc.core_properties.last_modified_by = doc.core_properties.author
    doc.core_properties.comments = ""  # python-docx's template says "generated by python-docx"
    # The template's own dates are from 2013; a reader sorting files by date expects today.
    doc.core_properties.created = doc.core_properties.modified = datetime.now(UTC)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _text(value: object) -> str:
    """A form value as one clean line (values are JSON, so a missing field is None)."""
    return " ".join(str(value).split()) if value is not None else ""


def letter_document(body: Sequence[str]) -> DocumentObject:
    """A landscape A4 Word document headed as letters are: the issuing body's lines beside the
    national motto (a borderless two-cell table), in the plain 12 pt style."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    words = export_texts()
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(DOCX_MARGIN_MM))
    _plain_style(doc.styles["Normal"], size=12)
    top = doc.add_table(rows=1, cols=2)
    top.autofit = False
    motto = words.render("summary.national_motto").splitlines()
    for cell, lines, width in zip(
        top.rows[0].cells, (body, motto), (Mm(100), Mm(157)), strict=True
    ):
        cell.width = width
        for n, text in enumerate(lines):
            paragraph = cell.paragraphs[0] if n == 0 else cell.add_paragraph()
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            paragraph.paragraph_format.space_after = Pt(0)
            paragraph.add_run(_clean(text)).bold = True
    return doc


def _clean(text: str) -> str:
    """Text that XML can carry: Word's odd line breaks become newlines, other controls go."""
    return _NOT_XML.sub("", _LINE_BREAKS.sub("\n", text))


def _plain_style(style: ParagraphStyle, size: int) -> None:
    """Times New Roman in black: drop the template's theme font and theme colour."""
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    style.font.name = FONT
    style.font.size = Pt(size)
    style.font.color.rgb = RGBColor(0, 0, 0)
    fonts = style.element.rPr.rFonts
    # Theme attributes win over the named font in Word, so they must go, not just be joined.
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    fonts.set(qn("w:eastAsia"), FONT)
    fonts.set(qn("w:cs"), FONT)


def _repeat_as_header(row: _Row) -> None:
    """Mark a table row as the header Word repeats at the top of every page."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)
