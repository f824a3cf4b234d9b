"""The month's exemplar list as XLSX and DOCX, in the letters' shape.

Letter 001 asks each school for "01 gương ĐHTT, NTVT tiêu biểu" a month, which the education
office compiles and sends to the Home Affairs office; letter 000 shows the shape such a list
takes ("danh sách trích ngang thành tích": who, where they work, a summary of the deed). The
columns are: TT | Họ và tên | Chức vụ, nơi công tác | Đơn vị đề cử | Tóm tắt thành tích |
Mã bài | Người đề cử — the two last ones so the receiving office can find the story and ask
the school. The summary is the head's reason, typed for that purpose.

`rows`, `heading`, `xlsx` and `docx` are public so the chat can offer the same file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import reports
from handlers.campaigns import CampaignSpec
from handlers.exports import (
    FONT,
    _clean,
    _repeat_as_header,
    _text,
    export_texts,
    letter_document,
    split_position,
)
from handlers.paper import one_page_wide, row_height
from handlers.phones import mask_phones
from storage import month_exemplars as store
from storage import nominations, roles
from storage.models import Organisation, Person, Submission, Unit

HEADER_MACROS = (
    "month.col_number",
    "month.col_name",
    "month.col_position",
    "month.col_unit",
    "month.col_summary",
    "month.col_code",
    "month.col_nominated_by",
)
# Excel width units; landscape A4 one page wide holds them at a readable scale.
XLSX_WIDTHS = (6, 22, 30, 26, 52, 15, 24)
DOCX_WIDTHS_MM = (11, 33, 42, 38, 80, 23, 30)


@dataclass(frozen=True)
class ExemplarRow:
    """One exemplar on the month's list."""

    number: int
    full_name: str
    position: str
    unit: str
    summary: str
    code: str
    nominated_by: str


@dataclass(frozen=True)
class ExemplarHeading:
    """The list's frame: the sending body, the title, to whom, and who signs (name and role)."""

    body: tuple[str, ...]
    title: str
    campaign: str
    recipient: str
    sent_on: date | None
    signer_title: str
    signer_name: str | None


def headers() -> list[str]:
    """The column headers, in column order."""
    return [export_texts().render(name) for name in HEADER_MACROS]


def display_month(month: str) -> str:
    """'01/2024' for '2024-01'."""
    year, number = month.split("-")
    return f"{number}/{year}"


async def rows(
    session: AsyncSession, campaign_id: int, month: str, *, marked_only: bool = True
) -> list[ExemplarRow]:
    """The month's exemplars (those the office marked to go up, or every unit's with
    `marked_only=False`), units by level then in Vietnamese alphabetical order."""
    found = []
    for e in await store.of_month(session, campaign_id, month):
        if marked_only and not e.goes_up:
            continue
        unit = await session.get(Unit, e.unit_id)
        sub = await session.get(Submission, e.submission_id)
        if unit is None or sub is None:
            continue
        found.append((unit, sub, e))
    found.sort(key=lambda item: reports.unit_order(item[0]))
    words = export_texts()
    result = []
    for n, (unit, sub, e) in enumerate(found, start=1):
        values = sub.values
        given = _text(values.get("exemplar_position"))
        place = _text(values.get("exemplar_address"))
        position, place = (given, place) if given else split_position(place)
        by = await session.get(Person, e.nominated_by_id)
        title = await _title(session, e.nominated_by_id, roles.UNIT_HEAD, unit_id=unit.id)
        result.append(
            ExemplarRow(
                number=n,
                full_name=mask_phones(_text(values.get("exemplar_name"))),
                position=mask_phones(", ".join(p for p in (position, place) if p)),
                unit=unit.name,
                summary=mask_phones(e.reason.strip()),
                code=sub.code or "",
                nominated_by=words.render(
                    "month.nominator", name=by.full_name if by else None, title=title
                ),
            )
        )
    return result


async def _title(
    session: AsyncSession, person_id: int, role: str, unit_id: int | None = None
) -> str | None:
    for grant in await roles.of(session, person_id):
        if grant.role == role and (unit_id is None or grant.unit_id == unit_id) and grant.title:
            return grant.title.strip()
    return None


async def heading(
    session: AsyncSession,
    campaign: CampaignSpec,
    campaign_id: int,
    month: str,
    tz: ZoneInfo | None = None,
) -> ExemplarHeading:
    """The frame: the campaign's office sends it to the organisation above; the one who sent
    the list in chat signs it, with the title they gave (else a line to sign by hand)."""
    words = export_texts()
    office = await nominations.organisation_named(session, campaign.organisation)
    parent = (
        await session.get(Organisation, office.parent_id) if office and office.parent_id else None
    )
    sent = await store.sent_list(session, campaign_id, month)
    signer_name = signer_title = None
    if sent is not None:
        person = await session.get(Person, sent.sent_by_id)
        signer_name = person.full_name if person else None
        signer_title = await _title(session, sent.sent_by_id, roles.REVIEWER) or await _title(
            session, sent.sent_by_id, roles.ADMIN
        )
    return ExemplarHeading(
        body=tuple(line.upper() for line in (campaign.organisation,) if line),
        title=words.render("month.title", month=display_month(month)),
        campaign=words.render("month.campaign_line", title=campaign.title),
        recipient=(
            words.render("month.recipient", name=parent.name)
            if parent
            else words.render("month.no_recipient")
        ),
        # The day it was sent where the office is (`tz`), the list's date.
        sent_on=(sent.sent_at.astimezone(tz) if tz else sent.sent_at).date() if sent else None,
        signer_title=(signer_title or words.render("month.signer_title")).upper(),
        signer_name=signer_name,
    )


def _values(row: ExemplarRow) -> list[object]:
    return [
        row.number,
        _clean(row.full_name),
        _clean(row.position),
        _clean(row.unit),
        _clean(row.summary),
        _clean(row.code),
        _clean(row.nominated_by),
    ]


def xlsx(table: Sequence[ExemplarRow], frame: ExemplarHeading) -> bytes:
    """The list as an Excel workbook: the sending body and the national motto, the title, to
    whom, the table (header repeated on every page), the signature; landscape, one page wide."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    words = export_texts()
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has its one sheet
    sheet.title = words.render("month.sheet_name")
    columns = len(HEADER_MACROS)
    thin = Side(style="thin", color="000000")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)

    def merged(line: int, first: int, last: int, text: str, **font: object) -> None:
        cell = sheet.cell(row=line, column=first, value=_clean(text))
        cell.font = Font(name=FONT, **font)  # type: ignore[arg-type]
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        if last > first:
            sheet.merge_cells(start_row=line, start_column=first, end_row=line, end_column=last)

    motto = export_texts().render("summary.national_motto").splitlines()
    for offset in range(max(len(frame.body), len(motto))):
        if offset < len(frame.body):
            merged(1 + offset, 1, 3, frame.body[offset], bold=True)
        if offset < len(motto):
            merged(1 + offset, 4, columns, motto[offset], bold=True)
    line = max(len(frame.body), len(motto)) + 2
    for offset, text in enumerate([*frame.title.splitlines(), frame.campaign]):
        merged(line + offset, 1, columns, text, bold=offset == 0, size=14 if offset == 0 else 12)
        sheet.row_dimensions[line + offset].height = 20
    line += len(frame.title.splitlines()) + 1
    merged(line, 1, columns, frame.recipient, italic=True)
    header = line + 2

    for column, text in enumerate(headers(), start=1):
        cell = sheet.cell(row=header, column=column, value=text)
        cell.font = Font(name=FONT, bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.fill = PatternFill("solid", fgColor="D9D9D9")
        cell.border = border
    sheet.row_dimensions[header].height = row_height(headers(), XLSX_WIDTHS)

    line = header
    for row in table:
        line += 1
        values = _values(row)
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=line, column=column, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # people's text stays text, even when it starts with "="
            cell.font = Font(name=FONT)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.border = border
        sheet.cell(row=line, column=1).alignment = Alignment(horizontal="center", vertical="top")
        sheet.row_dimensions[line].height = row_height(values, XLSX_WIDTHS)
    if not table:
        line += 1
        merged(line, 1, columns, words.render("month.empty"), italic=True)

    # The signature, right: place and date, the signer's role, room to sign, the name.
    line += 2
    merged(line, 5, columns, words.render("month.date_line", place=None, when=frame.sent_on),
           italic=True)  # fmt: skip
    merged(line + 1, 5, columns, frame.signer_title, bold=True)
    merged(line + 2, 5, columns, words.render("month.sign_note"), italic=True)
    merged(line + 6, 5, columns, frame.signer_name or words.render("month.blank_name"), bold=True)

    for column, width in enumerate(XLSX_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = f"A{header + 1}"
    one_page_wide(sheet, landscape=True, header_rows=f"{header}:{header}")
    book.properties.title = frame.title.replace("\n", " ")
    book.properties.creator = words.render("month.document_author")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def docx(table: Sequence[ExemplarRow], frame: ExemplarHeading) -> bytes:
    """The list as a Word document: landscape A4, the body beside the national motto, the
    title, to whom, a bordered table with a repeated header row, the signature."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    words = export_texts()
    doc = letter_document(frame.body)

    for n, text in enumerate([*frame.title.splitlines(), frame.campaign]):
        paragraph = doc.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.paragraph_format.space_before = Pt(12 if n == 0 else 0)
        paragraph.paragraph_format.space_after = Pt(0)
        run = paragraph.add_run(_clean(text))
        run.bold = n == 0
        if n == 0:
            run.font.size = Pt(14)
    recipient = doc.add_paragraph()
    recipient.alignment = WD_ALIGN_PARAGRAPH.CENTER
    recipient.add_run(_clean(frame.recipient)).italic = True

    grid = doc.add_table(rows=1, cols=len(HEADER_MACROS))
    grid.style = doc.styles["Table Grid"]
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    for cell, text in zip(grid.rows[0].cells, headers(), strict=True):
        paragraph = cell.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.add_run(text).bold = True
    _repeat_as_header(grid.rows[0])
    for row in table:
        cells = grid.add_row().cells
        for column, (cell, value) in enumerate(zip(cells, _values(row), strict=True)):
            cell.paragraphs[0].add_run(str(value))
            if column in (0, 5):
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    for column, width in zip(grid.columns, DOCX_WIDTHS_MM, strict=True):
        column.width = Mm(width)
        for cell in column.cells:
            cell.width = Mm(width)
    if not table:
        doc.add_paragraph().add_run(words.render("month.empty")).italic = True

    # The signature block, right-aligned under the table.
    date_line = words.render("month.date_line", place=None, when=frame.sent_on)
    for text, bold, italic, before in (
        (date_line, False, True, 12),
        (frame.signer_title, True, False, 0),
        (words.render("month.sign_note"), False, True, 0),
        (frame.signer_name or words.render("month.blank_name"), True, False, 48),
    ):
        paragraph = doc.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        paragraph.paragraph_format.space_before = Pt(before)
        paragraph.paragraph_format.space_after = Pt(0)
        run = paragraph.add_run(_clean(text))
        run.bold, run.italic = bold, italic

    doc.core_properties.title = frame.title.replace("\n", " ")
    doc.core_properties.author = words.render("month.document_author")
    doc.core_properties.last_modified_by = doc.core_properties.author
    doc.core_properties.comments = ""
    doc.core_properties.created = doc.core_properties.modified = datetime.now(UTC)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
