"""Letter 003's list of registered models and exemplars ("Danh sách đăng ký mô hình, điển hình
tiên tiến"), as the Excel file a school sends its education office, or the office's whole list.

The letter's table has one row per unit: TT, the unit, its models numbered in one cell ("Mô
hình 1: …, Mô hình 2: …"), their fields, a note; the school's head signs below it. Only entries
the unit's head has confirmed are listed (or that went straight to the reviewers where the
campaign asks for no confirmation): an entry the principal has not seen is not the school's.
Every word a reader sees comes from `templates/exports/registrations.j2`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.collation import vietnamese_key
from handlers.exports import FONT, _clean, _text, export_texts
from handlers.paper import one_page_wide, row_height
from storage import roles
from storage import submissions as repo
from storage.models import Campaign, Submission, Unit

# Entries the unit's head has confirmed (or that needed no confirmation) and that were not
# turned down: waiting for review, sent back for changes by the reviewers, approved, honoured.
LISTED = (repo.IN_REVIEW, repo.CHANGES_REQUESTED, repo.APPROVED, repo.HONOURED)
# Excel width units: TT, unit, models, fields, note. Landscape A4 holds 150 at 100%.
WIDTHS = (6, 30, 62, 20, 28)


@dataclass(frozen=True)
class Model:
    """One registered model or exemplar."""

    name: str
    field: str
    note: str


@dataclass
class UnitRegistrations:
    """One row of letter 003's table: a unit and what it registered, oldest first."""

    number: int
    unit: str
    models: list[Model] = field(default_factory=list)


@dataclass(frozen=True)
class Signer:
    """Who signs the list: the head's title, and their name when known."""

    title: str
    name: str | None = None


async def registration_rows(
    session: AsyncSession, campaign_slug: str, unit_id: int | None = None
) -> list[UnitRegistrations]:
    """The confirmed entries of a registration campaign, one row per unit (of one unit, or of
    all), units in Vietnamese alphabetical order, each unit's entries as they were sent."""
    stmt = (
        select(Submission, Unit.name)
        .join(Campaign, Campaign.id == Submission.campaign_id)
        .outerjoin(Unit, Unit.id == Submission.unit_id)
        .where(Campaign.slug == campaign_slug, Submission.status.in_(LISTED))
        .order_by(Submission.submitted_at, Submission.id)
    )
    if unit_id is not None:
        stmt = stmt.where(Submission.unit_id == unit_id)
    by_unit: dict[str, list[Model]] = {}
    for sub, unit_name in await session.execute(stmt):
        by_unit.setdefault(unit_name or "", []).append(
            Model(
                name=_text(sub.values.get("model_name")),
                field=_text(sub.values.get("field")),
                note=_text(sub.values.get("note")),
            )
        )
    ordered = sorted(by_unit, key=vietnamese_key)
    return [
        UnitRegistrations(number=n, unit=unit, models=by_unit[unit])
        for n, unit in enumerate(ordered, start=1)
    ]


async def unit_signer(session: AsyncSession, unit: Unit) -> Signer:
    """The unit's head as the list's signature: their title and full name, as given when they
    accepted the invitation; a deputy is not the head and the name is left to write by hand."""
    default = export_texts().render("registrations.head_title", level=unit.level)
    for grant, person in await roles.holders(session, roles.UNIT_HEAD):
        title = (grant.title or "").strip()
        if grant.unit_id == unit.id and not title.lower().startswith("phó "):
            return Signer(title=title or default, name=person.full_name)
    return Signer(title=default)


def models_cell(models: Sequence[Model]) -> str:
    """ "Mô hình 1: …" and so on, one per line, as the letter numbers them."""
    words = export_texts()
    return "\n".join(
        words.render("registrations.model_line", number=n, name=m.name, count=len(models))
        for n, m in enumerate(models, start=1)
    )


def fields_cell(models: Sequence[Model]) -> str:
    """Each field once, in the order the models name them ("Văn hóa", "Y tế")."""
    return "\n".join(dict.fromkeys(m.field for m in models if m.field))


def notes_cell(models: Sequence[Model]) -> str:
    """The notes, each with the number of the model it is about when there are several."""
    words = export_texts()
    return "\n".join(
        words.render("registrations.note_line", number=n, note=m.note, count=len(models))
        for n, m in enumerate(models, start=1)
        if m.note
    )


def registrations_xlsx(
    rows: Sequence[UnitRegistrations],
    *,
    year: int,
    organisation: str,
    unit: str | None,
    signer: Signer,
) -> bytes:
    """Letter 003's table: the issuing body's name, one title, the table with its header row
    repeated on every page, and the signature; printed landscape, one page wide."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    words = export_texts()
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has its one sheet
    sheet.title = words.render("registrations.sheet_name")
    columns = len(WIDTHS)
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    centred = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def merged(line: int, first: int, last: int, text: str, *, bold: bool = False,
               italic: bool = False, size: int = 12, align: str = "center") -> None:  # fmt: skip
        sheet.cell(row=line, column=first, value=_clean(text)).font = Font(
            name=FONT, bold=bold, italic=italic, size=size
        )
        sheet.cell(row=line, column=first).alignment = Alignment(
            horizontal=align, vertical="center", wrap_text=True
        )
        if last > first:
            sheet.merge_cells(start_row=line, start_column=first, end_row=line, end_column=last)

    # The body that sends the list, top left, as on any administrative paper.
    merged(1, 1, 2, organisation.upper(), size=12)
    if unit:
        merged(2, 1, 2, unit.upper(), bold=True)
    merged(4, 1, columns, words.render("registrations.title", year=year), bold=True, size=14)
    sheet.row_dimensions[4].height = 24

    header = 6
    for column, text in enumerate(words.render("registrations.headers").split("|"), start=1):
        cell = sheet.cell(row=header, column=column, value=text)
        cell.font = Font(name=FONT, bold=True)
        cell.alignment = centred
        cell.border = border
    sheet.row_dimensions[header].height = row_height(["TÊN MÔ HÌNH"], [WIDTHS[1]])

    line = header
    for row in rows:
        line += 1
        values: list[object] = [
            row.number,
            _clean(row.unit),
            _clean(models_cell(row.models)),
            _clean(fields_cell(row.models)),
            _clean(notes_cell(row.models)),
        ]
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=line, column=column, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # people's text stays text, even when it starts with "="
            cell.font = Font(name=FONT)
            cell.border = border
            cell.alignment = Alignment(vertical="top", wrap_text=True)
        sheet.cell(row=line, column=1).alignment = Alignment(horizontal="center", vertical="top")
        sheet.row_dimensions[line].height = row_height(values, WIDTHS)
    if not rows:
        line += 1
        merged(line, 1, columns, words.render("registrations.empty"), italic=True)
        for column in range(1, columns + 1):
            sheet.cell(row=line, column=column).border = border

    # The signature, right: date to fill in, the head's title, room to sign, the name.
    line += 2
    merged(line, 3, columns, words.render("registrations.date_line"), italic=True, align="right")
    merged(line + 1, 4, columns, signer.title.upper(), bold=True)
    merged(line + 2, 4, columns, words.render("registrations.sign_note"), italic=True)
    for gap in range(3, 6):
        sheet.row_dimensions[line + gap].height = 18
    merged(line + 6, 4, columns, signer.name or words.render("registrations.blank_name"), bold=True)

    for column, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    one_page_wide(sheet, landscape=True, header_rows=f"{header}:{header}")
    book.properties.title = words.render("registrations.title", year=year)
    book.properties.creator = words.render("registrations.document_author")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
