"""The office's list of submitted stories (XLSX / CSV) and one story as a Word document.

`submission_rows` reads one campaign's submitted stories with their dates from the event log;
`submissions_xlsx` and `submissions_csv` write them. This list is an internal office report, so
unlike letter 000's public summary it carries the author's name, unit and phone.

`story_document` and `story_docx` make letter 001's printed copy of one story: title, exemplar,
story, photos, the entrant's name, unit and phone, and the principal's confirmation block
("được đóng quyển … có xác nhận của Hiệu trưởng"). Every word a reader sees comes from
`templates/exports/submissions.j2` and `templates/exports/story.j2`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.exports import FONT, _clean, _plain_style, _text, export_texts
from handlers.paper import one_page_wide, row_height
from handlers.services import Services
from storage import roles
from storage import submissions as repo
from storage.models import Campaign, Event, Honour, Person, Submission

# python-docx and openpyxl are imported where a file is built (see handlers.exports).
if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.text.paragraph import Paragraph

# Column header macros in `submissions.j2`, in column order (SubmissionRow's field order).
HEADER_MACROS = (
    "submissions.col_code",
    "submissions.col_status",
    "submissions.col_submitted_at",
    "submissions.col_author_name",
    "submissions.col_author_unit",
    "submissions.col_author_phone",
    "submissions.col_exemplar_name",
    "submissions.col_exemplar_address",
    "submissions.col_focus_area",
    "submissions.col_title",
    "submissions.col_word_count",
    "submissions.col_photo_count",
    "submissions.col_version",
    "submissions.col_unit_confirmed",
    "submissions.col_decided",
    "submissions.col_decision_number",
    "submissions.col_decision_date",
)
XLSX_WIDTHS = (14, 28, 17, 24, 30, 14, 24, 30, 30, 40, 8, 8, 8, 14, 12, 18, 14)
NOT_SUBMITTED = (repo.DRAFT, repo.DISCARDED)
DECISION_ACTIONS = ("approved", "rejected", "changes_requested")
CONFIRMED = "unit_confirmed"
# Statuses in which the unit head has yet to confirm the current text: an older confirmation,
# if any, was for an earlier version and must not be printed as if it covered this one.
AWAITING_CONFIRMATION = (repo.DRAFT, repo.SUBMITTED, repo.RETURNED)
# Excel runs a CSV cell starting with one of these as a formula; numbers are left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?[\d .,]+")
PHOTO_WIDTH_CM = 12
STORY_FONT_SIZE = 13


@dataclass(frozen=True)
class SubmissionRow:
    """One submitted story, as a line of the office's list (times in Hà Nội time)."""

    code: str
    status: str
    submitted_at: datetime | None
    author_name: str
    author_unit: str
    author_phone: str
    exemplar_name: str
    exemplar_address: str
    focus_area: str
    title: str
    word_count: int
    photo_count: int
    version: int
    unit_confirmed_on: date | None
    decided_on: date | None
    decision_number: str
    decision_date: date | None


@dataclass(frozen=True)
class StoryDocument:
    """What the printed copy of one story shows; `photos` are absolute file paths."""

    code: str
    title: str
    exemplar_name: str
    exemplar_address: str
    focus_area: str
    story: str
    photos: list[Path]
    author_name: str
    author_unit: str
    author_phone: str
    confirmed_by: str | None
    confirmed_at: datetime | None
    # The version the principal confirmed, when older than this one: a story sent back by
    # the reviewers can come back to them without the principal (resubmit_to = "review").
    confirmed_version: int | None = None
    version: int = 1
    # The title the confirmer holds their role under ("Hiệu trưởng", "Phó Hiệu trưởng"), and
    # whether an admin confirmed on the unit's behalf rather than its own head.
    confirmed_title: str | None = None
    on_behalf: bool = False
    unit_name: str = ""


class MissingPhoto(Exception):
    """A stored photo of the story cannot be read (file gone or not an image)."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def headers() -> list[str]:
    """The list's column headers, in column order."""
    return [export_texts().render(name) for name in HEADER_MACROS]


async def campaign_exists(session: AsyncSession, slug: str) -> bool:
    """Whether a campaign with this slug is stored."""
    return await session.scalar(select(Campaign.id).where(Campaign.slug == slug)) is not None


async def submission_rows(
    session: AsyncSession, services: Services, campaign_slug: str
) -> list[SubmissionRow]:
    """Every submitted story of the campaign (not drafts, not discarded), in submission order."""
    stories = list(
        await session.scalars(
            select(Submission)
            .join(Campaign, Campaign.id == Submission.campaign_id)
            .where(
                Campaign.slug == campaign_slug,
                Submission.code.is_not(None),
                Submission.status.not_in(NOT_SUBMITTED),
            )
            .order_by(Submission.submitted_at, Submission.id)
        )
    )
    ids = [s.id for s in stories]
    confirmed: dict[int, datetime] = {}
    decided: dict[int, datetime] = {}
    versions = {s.id: s.version for s in stories}
    for event in await _events(session, ids, (CONFIRMED, *DECISION_ACTIONS)):
        # A confirmation or decision of an earlier version (before changes were asked for)
        # says nothing of the story as it stands. Oldest first: the last of each kind wins.
        of_version = (event.data or {}).get("version", versions[event.subject_id])
        if of_version != versions[event.subject_id]:
            continue
        (confirmed if event.action == CONFIRMED else decided)[event.subject_id] = event.at
    honours = {
        h.submission_id: h
        for h in await session.scalars(select(Honour).where(Honour.submission_id.in_(ids)))
    }
    authors = await _people(session, {s.author_id for s in stories})

    def local_day(moment: datetime | None) -> date | None:
        return services.local(moment).date() if moment else None

    rows = []
    for sub in stories:
        name, unit, phone = _author(sub, authors.get(sub.author_id))
        honour = honours.get(sub.id)
        rows.append(
            SubmissionRow(
                code=sub.code or "",
                status=export_texts().render("submissions.status", value=sub.status),
                submitted_at=services.local(sub.submitted_at) if sub.submitted_at else None,
                author_name=name,
                author_unit=unit,
                author_phone=phone,
                exemplar_name=_text(sub.values.get("exemplar_name")),
                exemplar_address=_text(sub.values.get("exemplar_address")),
                focus_area=_text(sub.values.get("focus_area")),
                title=_text(sub.values.get("title")),
                word_count=sub.word_count,
                photo_count=sum(1 for a in sub.attachments if a.kind == "photo"),
                version=sub.version,
                unit_confirmed_on=None
                if sub.status in AWAITING_CONFIRMATION
                else local_day(confirmed.get(sub.id)),
                decided_on=local_day(decided.get(sub.id)),
                decision_number=honour.decision_number if honour else "",
                decision_date=honour.decision_date if honour else None,
            )
        )
    return rows


def submissions_xlsx(rows: Sequence[SubmissionRow]) -> bytes:
    """The list as an Excel workbook: bold frozen header with filters, one row per story."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new Workbook always has its one sheet
    sheet.title = export_texts().render("submissions.sheet_name")
    for column, header in enumerate(headers(), start=1):
        cell = sheet.cell(row=1, column=column, value=header)
        cell.font = Font(name=FONT, bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.fill = PatternFill("solid", fgColor="D9D9D9")
    for line, row in enumerate(rows, start=2):
        for column, value in enumerate(_values(row), start=1):
            if isinstance(value, datetime):
                # Excel has no time zones: the Hà Nội wall-clock time is what the office reads.
                value = value.replace(tzinfo=None)
            cell = sheet.cell(row=line, column=column, value=value)
            cell.font = Font(name=FONT)
            cell.alignment = Alignment(vertical="top", wrap_text=True)
            if isinstance(value, str):
                # Text stays text: no formulas from "=…", and phones keep their leading zero.
                cell.data_type = "s"
            elif isinstance(value, datetime):
                cell.number_format = "dd/mm/yyyy hh:mm"
            elif isinstance(value, date):
                cell.number_format = "dd/mm/yyyy"
        sheet.row_dimensions[line].height = row_height(_values(row), XLSX_WIDTHS)
    sheet.row_dimensions[1].height = row_height(headers(), XLSX_WIDTHS)
    for column, width in enumerate(XLSX_WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    # Seventeen columns: printed landscape, shrunk to one page wide rather than cut in two.
    one_page_wide(sheet, landscape=True, header_rows="1:1")
    sheet.freeze_panes = "B2"  # the header and the code stay in view
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(HEADER_MACROS))}{max(len(rows) + 1, 1)}"
    book.properties.creator = export_texts().render("summary.document_author")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def submissions_csv(rows: Sequence[SubmissionRow]) -> bytes:
    """The list as CSV for other programs: UTF-8 with a BOM, ISO 8601 dates, text as written.

    A CSV cannot say "this is text" or "this is a date" to a spreadsheet: opened with Excel's
    or LibreOffice's default import, 0912345678 loses its zero and 04/12/2026 is read as the
    12th of April on an English system. No spelling of the cells fixes both without spoiling the
    file for the programs CSV is for, so the CSV is for those programs (dates as 2026-12-04,
    which every spreadsheet also reads the right way round), and the XLSX is the file to open.
    """
    out = io.StringIO()
    writer = csv.writer(out)  # "excel" dialect: commas, quotes as needed, CRLF line ends
    writer.writerow(headers())
    for row in rows:
        writer.writerow([_csv_cell(value) for value in _values(row)])
    return out.getvalue().encode("utf-8-sig")


async def story_document(
    session: AsyncSession, services: Services, code: str
) -> StoryDocument | None:
    """The printed copy's contents for the story with this code (any case), or None."""
    sub = await session.scalar(
        select(Submission).where(func.upper(Submission.code) == code.strip().upper())
    )
    if sub is None:
        return None
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    confirmed_version: int | None = None
    confirmed_title: str | None = None
    on_behalf = False
    confirmations = await _events(session, [sub.id], (CONFIRMED,))
    if confirmations and sub.status not in AWAITING_CONFIRMATION:
        last = confirmations[-1]
        confirmed_at = services.local(last.at)
        actor = await session.get(Person, last.actor_id) if last.actor_id else None
        confirmed_by = _text(actor.full_name) if actor else ""
        version = (last.data or {}).get("version")
        if isinstance(version, int) and version < sub.version:
            confirmed_version = version
        on_behalf = bool((last.data or {}).get("on_behalf_of_unit"))
        if actor is not None:
            confirmed_title = await _title(session, actor.id, sub.unit_id, on_behalf)
    name, unit, phone = _author(sub, await session.get(Person, sub.author_id))
    return StoryDocument(
        code=sub.code or "",
        title=_text(sub.values.get("title")),
        exemplar_name=_text(sub.values.get("exemplar_name")),
        exemplar_address=_text(sub.values.get("exemplar_address")),
        focus_area=_text(sub.values.get("focus_area")),
        story=str(sub.values.get("story") or ""),
        photos=[services.media_dir / a.stored_path for a in sub.attachments if a.kind == "photo"],
        author_name=name,
        author_unit=unit,
        author_phone=phone,
        confirmed_by=confirmed_by,
        confirmed_at=confirmed_at,
        confirmed_version=confirmed_version,
        version=sub.version,
        confirmed_title=confirmed_title,
        on_behalf=on_behalf,
        unit_name=unit,
    )


async def _title(
    session: AsyncSession, person_id: int, unit_id: int | None, on_behalf: bool
) -> str | None:
    """The title under which the person confirmed: as the unit's head, or as an admin."""
    for grant in await roles.of(session, person_id):
        if grant.title and (
            (on_behalf and grant.role == roles.ADMIN)
            or (not on_behalf and grant.role == roles.UNIT_HEAD and grant.unit_id == unit_id)
        ):
            return grant.title
    return None


def story_docx(story: StoryDocument) -> bytes:
    """The story as a Word document on A4, ready to print and bind; raises MissingPhoto."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.image.exceptions import UnrecognizedImageError
    from docx.shared import Cm, Mm

    words = export_texts()
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    # Administrative documents leave a wider left margin, for the binding.
    section.left_margin, section.right_margin = Mm(30), Mm(20)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    _plain_style(doc.styles["Normal"], size=STORY_FONT_SIZE)
    _plain_style(doc.styles["Heading 1"], size=16)
    header = section.header.paragraphs[0]
    header.text = words.render("story.code_line", code=story.code)
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT

    heading = doc.add_heading(_clean(story.title), level=1)
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for key in ("exemplar_name", "exemplar_address", "focus_area"):
        value = _clean(getattr(story, key))
        _labelled(doc.add_paragraph(), words.render("story.field", key=key, value=value))

    for line in _clean(story.story).splitlines():
        if line.strip():
            paragraph = doc.add_paragraph(line.strip())
            paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
            paragraph.paragraph_format.first_line_indent = Cm(1)

    for path in story.photos:
        paragraph = doc.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        try:
            paragraph.add_run().add_picture(_printable(path), width=Cm(PHOTO_WIDTH_CM))
        except (OSError, UnrecognizedImageError) as exc:
            raise MissingPhoto(path) from exc

    author = doc.add_paragraph()
    author.add_run(words.render("story.author_heading")).bold = True
    author.paragraph_format.keep_with_next = True  # the heading never ends a page alone
    for macro, value in (
        ("story.author_name", story.author_name),
        ("story.author_unit", story.author_unit),
        ("story.author_phone", story.author_phone),
    ):
        paragraph = doc.add_paragraph()
        _labelled(paragraph, words.render(macro, value=_clean(value)))
        paragraph.paragraph_format.keep_with_next = macro != "story.author_phone"

    _confirmation(doc, story)

    doc.core_properties.title = _clean(story.title)
    doc.core_properties.author = words.render("story.document_author")
    doc.core_properties.last_modified_by = doc.core_properties.author
    doc.core_properties.comments = ""  # python-docx's template says "generated by python-docx"
    doc.core_properties.created = doc.core_properties.modified = datetime.now(UTC)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _confirmation(doc: WordDocument, story: StoryDocument) -> None:
    """The confirmation block, right of centre: date, who confirms in what role, a note, room
    to sign, the name. Kept on one page: a heading at the foot of a page with the name alone
    on the next is not a signature block an office accepts."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm

    words = export_texts()
    when = story.confirmed_at
    block: list[Paragraph] = []

    def line(text: str, *, bold: bool = False, italic: bool = False) -> None:
        paragraph = doc.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.paragraph_format.left_indent = Cm(7)
        run = paragraph.add_run(text)
        run.bold, run.italic = bold, italic
        block.append(paragraph)

    line("")
    line(words.render("story.confirm_date", when=when), italic=True)
    heading = words.render(
        "story.confirm_heading", title=story.confirmed_title, on_behalf=story.on_behalf
    )
    for text in heading.splitlines():
        line(text.strip(), bold=True)
    line(
        words.render(
            "story.confirm_note",
            when=when,
            version=story.confirmed_version,
            current=story.version,
            on_behalf=story.on_behalf,
            unit=story.unit_name,
        ),
        italic=True,
    )
    for _ in range(3):  # room for a handwritten signature and the stamp
        line("")
    line(_clean(story.confirmed_by or "") or words.render("story.blank_name"), bold=True)
    for paragraph in block:
        paragraph.paragraph_format.keep_together = True
        paragraph.paragraph_format.keep_with_next = paragraph is not block[-1]


def _labelled(paragraph: Paragraph, text: str) -> None:
    """ "Label: value" with the label in bold."""
    label, sep, value = text.partition(":")
    paragraph.add_run(label + sep).bold = True
    paragraph.add_run(value)


def _values(row: SubmissionRow) -> list[object]:
    """The row's cells in column order."""
    return [getattr(row, name) for name in SubmissionRow.__dataclass_fields__]


def _csv_cell(value: object) -> object:
    """A CSV cell: dates in ISO 8601 (with the Hà Nội time if any), text safe from formulas."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = _clean(value)
        if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
            return "'" + text
        return text
    return value


def _author(sub: Submission, person: Person | None) -> tuple[str, str, str]:
    """Name, unit and phone as given when the story was sent, else as registered now."""
    given = sub.values.get("_author") or {}
    unit = person.unit.name if person and person.unit else None
    return (
        _text(given.get("full_name") or (person.full_name if person else None)),
        _text(given.get("unit") or unit),
        _text(given.get("phone") or (person.phone if person else None)),
    )


async def _events(
    session: AsyncSession, submission_ids: Sequence[int], actions: Sequence[str]
) -> list[Event]:
    """These actions' events about these submissions, oldest first."""
    if not submission_ids:
        return []
    return list(
        await session.scalars(
            select(Event)
            .where(
                Event.subject == "submission",
                Event.subject_id.in_(submission_ids),
                Event.action.in_(actions),
            )
            .order_by(Event.at, Event.id)
        )
    )


async def _people(session: AsyncSession, ids: set[int]) -> dict[int, Person]:
    """People by id."""
    if not ids:
        return {}
    return {p.id: p for p in await session.scalars(select(Person).where(Person.id.in_(ids)))}


def _printable(path: Path) -> str | io.BytesIO:
    """The photo as Word can embed it: WEBP (which the bot accepts) is converted to PNG in
    memory; the formats Word reads go as they are. Unreadable files raise OSError."""
    if path.suffix.lower() != ".webp":
        return str(path)
    with Image.open(path) as image:
        converted = io.BytesIO()
        image.save(converted, "PNG")
    converted.seek(0)
    return converted
