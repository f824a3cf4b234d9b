"""The block's result in the shape of the official table (TT, đơn vị, tự chấm, khối chấm,
xếp hạng, đề nghị khen thưởng, ghi chú), as XLSX and DOCX, and the registration list."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.emulation.scoring import Ranked
from handlers.exports import FONT, _clean, _plain_style, _repeat_as_header, export_texts
from storage import roles
from storage.emulation_models import EmulationBlock

RESULT_COLUMNS = ("number", "unit", "self", "block", "rank", "award", "notes")
RESULT_WIDTHS = (6, 40, 11, 11, 10, 34, 26)
RESULT_WIDTHS_MM = (12, 78, 22, 22, 20, 70, 43)
REGISTRATION_COLUMNS = ("number", "unit", "titles", "covenant", "by")
REGISTRATION_WIDTHS = (6, 40, 50, 18, 28)


@dataclass(frozen=True)
class RegistrationLine:
    """One unit's registration: titles aimed for, when the covenant was signed, and by whom."""

    unit: str
    titles: list[str]
    covenant_at: datetime | None
    by: str


@dataclass(frozen=True)
class Signer:
    """Who signs the block's papers: the block head's role, the head unit, and the person
    heading that unit ("" while the unit has no head in the bot: the line stays to be filled)."""

    role: str
    unit: str
    name: str
    # The head's title in the unit ("Hiệu trưởng"), as given when accepting the invitation.
    title: str = ""

    @property
    def unit_line(self) -> str:
        """The line under the role: "HIỆU TRƯỞNG TRƯỜNG THCS NHÂN CHÍNH" (the title when known)."""
        return " ".join(p for p in (self.title, self.unit) if p).upper()


def _t(name: str, /, **values: object) -> str:
    return export_texts().render(f"emulation.{name}", **values)


async def block_signer(session: AsyncSession, block: EmulationBlock) -> Signer:
    """The signature of the block's result and registration papers: the head of the block's
    head unit (the first granted, where a unit has several), as the block head."""
    heads = [
        (grant, person)
        for grant, person in await roles.holders(session, roles.UNIT_HEAD)
        if grant.unit_id == block.head_unit_id and (person.full_name or "").strip()
    ]
    grant, person = heads[0] if heads else (None, None)
    return Signer(
        role=_t("signature_title"),
        unit=block.head_unit.name,
        name=(person.full_name or "").strip() if person else "",
        title=(grant.title or "").strip() if grant else "",
    )


def result_rows(lines: Sequence[Ranked]) -> list[list[object]]:
    """The table's rows: numbers as numbers, so Excel can sum and sort them."""
    return [
        [n, line.unit_name, line.self_total, line.block_total, line.rank, line.award or "",
         _t("notes", line=line)]
        for n, line in enumerate(lines, start=1)
    ]  # fmt: skip


def result_xlsx(
    block: EmulationBlock, lines: Sequence[Ranked], today: date, signer: Signer | None = None
) -> bytes:
    """The result as an Excel workbook with the letterhead, the table and the signature
    (`signer`'s role, unit and name; without it, the role and a line to sign on)."""
    headers = [_t(f"col_{c}") for c in RESULT_COLUMNS]
    return _xlsx(
        block, _t("title", block=block), _t("sheet_name"), headers, result_rows(lines),
        RESULT_WIDTHS, today, note=_t("tie_rule"), signer=signer,
    )  # fmt: skip


def registrations_xlsx(
    block: EmulationBlock,
    lines: Sequence[RegistrationLine],
    today: date,
    tz: object,
    signer: Signer | None = None,
) -> bytes:
    """The registration list for the block head, signed as the result is."""
    headers = [_t(f"col_{c}") for c in REGISTRATION_COLUMNS]
    rows: list[list[object]] = [
        [n, line.unit, ", ".join(line.titles),
         line.covenant_at.astimezone(tz).strftime("%d/%m/%Y %H:%M") if line.covenant_at else "",  # type: ignore[arg-type]
         line.by]
        for n, line in enumerate(lines, start=1)
    ]  # fmt: skip
    return _xlsx(
        block, _t("registrations_title", block=block), _t("registrations_sheet_name"), headers,
        rows, REGISTRATION_WIDTHS, today, note="", signer=signer,
    )  # fmt: skip


def _xlsx(
    block: EmulationBlock,
    title: str,
    sheet_name: str,
    headers: list[str],
    rows: list[list[object]],
    widths: Sequence[int],
    today: date,
    note: str,
    signer: Signer | None = None,
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_name
    columns = len(headers)
    half = columns // 2
    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def put(row: int, col: int, value: object, bold: bool = False, end: int = 0) -> None:
        cell = sheet.cell(row=row, column=col, value=value)
        cell.font = Font(name=FONT, bold=bold, size=12)
        cell.alignment = center
        if end > col:
            sheet.merge_cells(start_row=row, start_column=col, end_row=row, end_column=end)

    # The letterhead: the block's head unit on the left, the national motto on the right.
    put(1, 1, _clean(_t("authority", block=block) + "\n" + _t("authority_line")), True, half)
    put(1, half + 1, _t("motto"), True, columns)
    sheet.row_dimensions[1].height = 36
    put(2, half + 1, _t("place_date", today=today), end=columns)
    put(3, 1, _clean(title), True, columns)
    sheet.row_dimensions[3].height = 22 * (title.count("\n") + 1)
    header_row = 5
    for column, header in enumerate(headers, start=1):
        cell = sheet.cell(row=header_row, column=column, value=header)
        cell.font = Font(name=FONT, bold=True)
        cell.alignment = center
        cell.fill = PatternFill("solid", fgColor="D9D9D9")
        cell.border = border
    for offset, values in enumerate(rows, start=1):
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=header_row + offset, column=column, value=value)
            if isinstance(value, str):
                cell.value = _clean(value)
                # People's text stays text, even when it starts with "=".
                cell.data_type = "s"
            cell.font = Font(name=FONT)
            cell.border = border
            cell.alignment = Alignment(
                horizontal="left" if isinstance(value, str) else "center",
                vertical="top",
                wrap_text=True,
            )
            if isinstance(value, float):
                cell.number_format = "0.##"
    last = header_row + len(rows)
    if note:
        put(last + 2, 1, note, end=columns)
        sheet.cell(row=last + 2, column=1).alignment = Alignment(wrap_text=True, vertical="top")
        sheet.row_dimensions[last + 2].height = 32
    row = last + 4
    put(row, half + 1, signer.role if signer else _t("signature_title"), True, columns)
    if signer is not None:
        row += 1
        put(row, half + 1, _clean(signer.unit_line), True, columns)
    row += 1
    put(row, half + 1, _t("signature_hint"), end=columns)
    sheet.cell(row=row, column=half + 1).font = Font(name=FONT, italic=True, size=12)
    if signer is not None:
        # Room for the signature and the seal, then the name.
        row += 4
        put(row, half + 1, _clean(signer.name) or _t("signature_blank"), True, columns)
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    # One page wide, as many pages tall as the table needs, header row on every page.
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"
    book.properties.title = title.replace("\n", " ")
    book.properties.creator = _t("document_author")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def result_docx(
    block: EmulationBlock, lines: Sequence[Ranked], today: date, signer: Signer | None = None
) -> bytes:
    """The result as a Word document: landscape A4, letterhead, table (its header row
    repeated on every page), signature block (`signer`'s role, unit and name)."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm

    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(297), Mm(210)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Mm(15))
    _plain_style(doc.styles["Normal"], size=12)

    letterhead = doc.add_table(rows=2, cols=2)
    left, right = letterhead.rows[0].cells
    for cell, text in ((left, _t("authority", block=block) + "\n" + _t("authority_line")),
                       (right, _t("motto"))):  # fmt: skip
        paragraph = cell.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.add_run(_clean(text)).bold = True
    date_paragraph = letterhead.rows[1].cells[1].paragraphs[0]
    date_paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    date_paragraph.add_run(_t("place_date", today=today)).italic = True

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.add_run(_clean(_t("title", block=block))).bold = True

    headers = [_t(f"col_{c}") for c in RESULT_COLUMNS]
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for cell, header in zip(table.rows[0].cells, headers, strict=True):
        paragraph = cell.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.add_run(header).bold = True
    _repeat_as_header(table.rows[0])
    for values in result_rows(lines):
        cells = table.add_row().cells
        for cell, value in zip(cells, values, strict=True):
            text = _t("pt", v=value) if isinstance(value, float) else str(value)
            cell.paragraphs[0].add_run(_clean(text))
            if not isinstance(value, str):
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    for column, width in zip(table.columns, RESULT_WIDTHS_MM, strict=True):
        column.width = Mm(width)
        for cell in column.cells:
            cell.width = Mm(width)
    doc.add_paragraph(_t("tie_rule")).runs[0].italic = True
    signature = doc.add_table(rows=1, cols=2)
    paragraph = signature.rows[0].cells[1].paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.add_run(signer.role if signer else _t("signature_title")).bold = True
    if signer is not None:
        paragraph.add_run("\n" + _clean(signer.unit_line)).bold = True
    paragraph.add_run("\n" + _t("signature_hint")).italic = True
    if signer is not None:
        # Room for the signature and the seal, then the name.
        paragraph.add_run("\n\n\n\n" + (_clean(signer.name) or _t("signature_blank"))).bold = True
    doc.core_properties.title = _t("title", block=block).replace("\n", " ")
    doc.core_properties.author = _t("document_author")
    doc.core_properties.last_modified_by = doc.core_properties.author
    doc.core_properties.comments = ""
    doc.core_properties.created = doc.core_properties.modified = datetime.now(UTC)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
