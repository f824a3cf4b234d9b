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

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.styles.style import ParagraphStyle
from docx.table import _Row
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.collation import vietnamese_key
from storage import honours
from templates import Texts

# Column header macros in `summary.j2`, in column order.
HEADER_MACROS = (
    "summary.col_number",
    "summary.col_name",
    "summary.col_unit",
    "summary.col_summary",
    "summary.col_decision_number",
    "summary.col_decision_date",
)
DATE_FORMAT = "dd/mm/yyyy"
# Widths in Excel character units: the summary gets the room, STT and the date stay narrow.
XLSX_WIDTHS = (6, 26, 32, 60, 18, 14)
# Landscape A4 is 297 mm wide; with 20 mm margins the table has 257 mm.
DOCX_MARGIN_MM = 20
DOCX_WIDTHS_MM = (12, 40, 50, 95, 32, 28)
FONT = "Times New Roman"  # the font of Vietnamese administrative documents

# Characters XML 1.0 cannot hold: text pasted from Word often carries vertical tabs (its manual
# line break) or form feeds, and both openpyxl and python-docx refuse the whole file over one.
_LINE_BREAKS = re.compile(r"[\x0b\x0c\u2028\u2029]|\r\n?")
_NOT_XML = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class SummaryRow:
    """One honoured exemplar, as a line of the summary list."""

    number: int
    full_name: str
    unit: str
    summary: str
    decision_number: str
    decision_date: date


@cache
def export_texts() -> Texts:
    """The plain-text renderer for `templates/exports/*.j2`."""
    return Texts("exports", html=False)


def headers() -> list[str]:
    """The column headers, in column order."""
    return [export_texts().render(name) for name in HEADER_MACROS]


def summary_title(campaign_title: str | None = None) -> str:
    """The list's title, naming the campaign when the list is limited to one."""
    return export_texts().render("summary.title", campaign_title=campaign_title)


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
    return [
        SummaryRow(
            number=n,
            full_name=_text(h.submission.values.get("exemplar_name")),
            unit=_text(h.submission.values.get("exemplar_address")),
            summary=h.summary.strip(),
            decision_number=h.decision_number,
            decision_date=h.decision_date,
        )
        for n, h in enumerate(found, start=1)
    ]


def summary_xlsx(rows: Sequence[SummaryRow], title: str) -> bytes:
    """The list as an Excel workbook: merged title row, bold frozen header, one row per exemplar."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has its one sheet
    sheet.title = export_texts().render("summary.sheet_name")
    columns = len(HEADER_MACROS)
    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    wrap_top = Alignment(wrap_text=True, vertical="top")

    sheet.cell(row=1, column=1, value=_clean(title))
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=columns)
    title_cell = sheet.cell(row=1, column=1)
    title_cell.font = Font(name=FONT, bold=True, size=14)
    title_cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    # Merged cells never grow to fit their text in Excel, so give each title line its height.
    sheet.row_dimensions[1].height = 22 * (title.count("\n") + 1)

    for column, header in enumerate(headers(), start=1):
        cell = sheet.cell(row=2, column=column, value=header)
        cell.font = Font(name=FONT, bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.fill = PatternFill("solid", fgColor="D9D9D9")
        cell.border = border

    for offset, row in enumerate(rows):
        line = 3 + offset
        values: list[object] = [
            row.number,
            _clean(row.full_name),
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

    for column, width in enumerate(XLSX_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = "A3"  # title and header stay in view while scrolling
    _xlsx_print_setup(sheet)
    book.properties.title = title.replace("\n", " ")
    book.properties.creator = export_texts().render("summary.document_author")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def summary_docx(rows: Sequence[SummaryRow], title: str) -> bytes:
    """The list as a Word document: landscape A4, a heading, a bordered table with a header row."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(DOCX_MARGIN_MM))
    _plain_style(doc.styles["Normal"], size=12)
    _plain_style(doc.styles["Heading 1"], size=14)

    heading = doc.add_heading(_clean(title), level=1)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER

    table = doc.add_table(rows=1, cols=len(HEADER_MACROS))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for cell, header in zip(table.rows[0].cells, headers(), strict=True):
        paragraph = cell.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.add_run(header).bold = True
    _repeat_as_header(table.rows[0])

    for row in rows:
        values = (
            str(row.number),
            _clean(row.full_name),
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

    doc.core_properties.title = title.replace("\n", " ")
    doc.core_properties.author = export_texts().render("summary.document_author")
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


def _clean(text: str) -> str:
    """Text that XML can carry: Word's odd line breaks become newlines, other controls go."""
    return _NOT_XML.sub("", _LINE_BREAKS.sub("\n", text))


def _xlsx_print_setup(sheet: Worksheet) -> None:
    """Print on landscape A4, as wide as the page, with the header row on every page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = "2:2"


def _plain_style(style: ParagraphStyle, size: int) -> None:
    """Times New Roman in black: drop the template's theme font and theme colour."""
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
    tr_pr = row._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)
