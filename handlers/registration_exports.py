"""Letter 003's table: the models and exemplars each unit registered (TT, unit, name, field,
note), as the Excel file the units send to the education office."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.exports import export_texts
from storage import submissions as repo
from storage.models import Campaign, Submission, Unit

# Entries an office wants in the list: sent and not turned down.
LISTED = (
    repo.SUBMITTED, repo.IN_REVIEW, repo.CHANGES_REQUESTED, repo.RETURNED, repo.APPROVED,
    repo.HONOURED,
)  # fmt: skip


@dataclass(frozen=True)
class RegistrationRow:
    """One registered model or exemplar."""

    number: int
    unit: str
    name: str
    field: str
    note: str


async def registration_rows(session: AsyncSession, campaign_slug: str) -> list[RegistrationRow]:
    """Entries of a registration campaign, by unit then by when they were sent."""
    rows = await session.execute(
        select(Submission, Unit.name)
        .join(Campaign, Campaign.id == Submission.campaign_id)
        .outerjoin(Unit, Unit.id == Submission.unit_id)
        .where(Campaign.slug == campaign_slug, Submission.status.in_(LISTED))
        .order_by(Unit.name, Submission.submitted_at, Submission.id)
    )
    return [
        RegistrationRow(
            number=n,
            unit=unit_name or "",
            name=str(sub.values.get("model_name", "")),
            field=str(sub.values.get("field", "")),
            note=str(sub.values.get("note", "")),
        )
        for n, (sub, unit_name) in enumerate(rows, start=1)
    ]


def registrations_xlsx(rows: Sequence[RegistrationRow], title: str) -> bytes:
    """The list in letter 003's shape, with a title row and a bordered table."""
    words = export_texts()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = words.render("registrations.sheet_name")
    headers = words.render("registrations.headers").split("|")
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    sheet.cell(row=1, column=1, value=title).font = Font(bold=True, size=13)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    for column, header in enumerate(headers, start=1):
        cell = sheet.cell(row=2, column=column, value=header)
        cell.font = Font(bold=True)
        cell.border = border
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    for offset, row in enumerate(rows):
        values = [row.number, row.unit, row.name, row.field, row.note]
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=3 + offset, column=column, value=value)
            # People's text stays text, even when it starts with "=".
            if isinstance(value, str):
                cell.data_type = "s"
            cell.border = border
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDE", (6, 36, 48, 28, 30), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
