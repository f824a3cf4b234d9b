"""Monthly quota per unit (letter 001: at least one story before the 15th of every month) and
campaign counts, for /report, /campaigns and `guongsang report` / `guongsang campaigns`."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.campaigns import LEVELS, CampaignSpec
from handlers.collation import vietnamese_key
from storage import submissions as repo
from storage import web_posts
from storage.models import Event, Nomination, Organisation, Submission, Unit
from storage.month_models import MonthExemplar
from templates import Texts

# Statuses a story reaches only after its unit head confirmed it (or none was required).
PAST_UNIT = (repo.IN_REVIEW, repo.CHANGES_REQUESTED, repo.APPROVED, repo.REJECTED, repo.HONOURED)
APPROVED_OR_BETTER = (repo.APPROVED, repo.HONOURED)


@dataclass
class UnitMonth:
    """One unit's month in a campaign.

    `submitted`, `confirmed`, `approved` and `honoured` count the stories first submitted in
    the calendar month. `on_time` counts what the quota is about (letter 001: "trước ngày 15
    hàng tháng … gửi bài viết dự thi về phòng GDĐT"): stories the school sent on to the
    office, confirmed by its principal (or passed to review where no confirmation is asked),
    after the previous month's deadline and before this month's.
    """

    unit: Unit
    submitted: int = 0
    on_time: int = 0
    confirmed: int = 0
    approved: int = 0
    honoured: int = 0
    quota: int = 1
    # Of the month's stories, how many an office sent up the ladder («Đề cử lên»), and the
    # code of the story the unit's head chose as the month's exemplar («Gương tháng»).
    nominated_up: int = 0
    exemplar: str | None = None
    # Stories published on the unit's page or given a portal address in the calendar month
    # (letter 001: each school posts at least one story a month on its website).
    web_posts: int = 0

    @property
    def met(self) -> bool:
        """Whether enough stories reached the office before the deadline day."""
        return self.on_time >= self.quota


def month_bounds(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The month [start, end) as aware datetimes in the users' zone."""
    start = datetime.combine(month.replace(day=1), time(), tz)
    return start, datetime.combine(_next_month(month), time(), tz)


def quota_window(month: date, deadline_day: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[the previous month's deadline, this month's): when stories count for this month's."""
    end = datetime.combine(month.replace(day=deadline_day), time(), tz)
    previous = month.replace(day=1) - timedelta(days=1)
    return datetime.combine(previous.replace(day=deadline_day), time(), tz), end


def quota_applies(campaign: CampaignSpec, month: date) -> bool:
    """Whether the month's deadline falls inside the campaign: not before it opens (its first
    month, when it opens after the deadline day) nor after it has closed (its last)."""
    return campaign.opens < month.replace(day=campaign.monthly_deadline_day) <= campaign.closes


async def monthly(
    session: AsyncSession,
    campaign: CampaignSpec,
    campaign_id: int,
    month: date,
    tz: ZoneInfo,
    unit_ids: set[int] | None = None,
) -> list[UnitMonth]:
    """Every unit of the campaign's organisation (or `unit_ids`) with its month's figures,
    by level then in Vietnamese alphabetical order; none when no unit belongs to the campaign's
    organisation.

    Calendar months and the quota's window are in Hà Nội time. Units that sent nothing are
    listed too: they are the ones the office needs to see. In a month whose deadline falls
    outside the campaign, the quota is 0.
    """
    start, end = month_bounds(month, tz)
    window_start, window_end = quota_window(month, campaign.monthly_deadline_day, tz)
    # The first confirmation sent a story on; it may have been written long before.
    first_confirmed = (
        select(Event.subject_id, func.min(Event.at).label("at"))
        .where(Event.subject == "submission", Event.action == "unit_confirmed")
        .group_by(Event.subject_id)
        .subquery()
    )
    stories = await session.execute(
        select(
            Submission.id,
            Submission.unit_id,
            Submission.status,
            Submission.submitted_at,
            first_confirmed.c.at,
        )
        .outerjoin(first_confirmed, first_confirmed.c.subject_id == Submission.id)
        .where(
            Submission.campaign_id == campaign_id,
            Submission.status != repo.DISCARDED,
            or_(
                and_(
                    Submission.submitted_at >= min(start, window_start),
                    Submission.submitted_at < max(end, window_end),
                ),
                and_(first_confirmed.c.at >= window_start, first_confirmed.c.at < window_end),
            ),
        )
    )
    quota = campaign.monthly_quota if quota_applies(campaign, month) else 0
    rows = {
        u.id: UnitMonth(unit=u, quota=quota)
        for u in await campaign_units(session, campaign, unit_ids)
    }
    in_month: dict[int, UnitMonth] = {}
    for sub_id, unit_id, status, submitted_at, confirmed_at in stories:
        row = rows.get(unit_id or 0)
        if row is None or submitted_at is None:
            continue
        sent_on = confirmed_at
        if sent_on is None and status in PAST_UNIT:
            sent_on = submitted_at  # straight to review: no confirmation was asked
        if sent_on is not None and window_start <= sent_on < window_end:
            row.on_time += 1
        if not start <= submitted_at < end:
            continue
        in_month[sub_id] = row
        row.submitted += 1
        row.confirmed += confirmed_at is not None or status in PAST_UNIT
        row.approved += status in APPROVED_OR_BETTER
        row.honoured += status == repo.HONOURED
    if in_month:
        sent_up = await session.scalars(
            select(Nomination.submission_id)
            .where(Nomination.submission_id.in_(list(in_month)))
            .distinct()
        )
        for sub_id in sent_up:
            in_month[sub_id].nominated_up += 1
    key = f"{month.year:04d}-{month.month:02d}"
    chosen = await session.execute(
        select(MonthExemplar.unit_id, Submission.code)
        .join(Submission, Submission.id == MonthExemplar.submission_id)
        .where(MonthExemplar.campaign_id == campaign_id, MonthExemplar.month == key)
    )
    for unit_id, code in chosen:
        if unit_id in rows:
            rows[unit_id].exemplar = code
    for unit_id, count in (
        await web_posts.posted_per_unit(session, start, end, campaign_id)
    ).items():
        if unit_id in rows:
            rows[unit_id].web_posts = count
    return sorted(rows.values(), key=lambda r: unit_order(r.unit))


def unit_order(unit: Unit) -> tuple[int, object]:
    """The order offices list units in: by level (letter 001's), then alphabetically."""
    return _level_rank(unit.level), vietnamese_key(unit.name)


def _level_rank(level: str) -> int:
    """Preschools, then primary, then lower-secondary schools, then the others (letter 001's
    order), whatever the codes' spelling order."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


async def campaign_units(
    session: AsyncSession, campaign: CampaignSpec, unit_ids: set[int] | None = None
) -> list[Unit]:
    """The units a campaign is for (those of its organisation), or `unit_ids`."""
    stmt = select(Unit)
    if unit_ids is not None:
        return list(await session.scalars(stmt.where(Unit.id.in_(unit_ids))))
    if not campaign.organisation:
        return list(await session.scalars(stmt))  # a campaign open to every unit
    org = await session.scalar(
        select(Organisation).where(Organisation.name == campaign.organisation)
    )
    if org is None:
        # A misspelt organisation must not turn into "every unit of every office": the
        # report would hold the quota against schools the campaign is not for.
        return []
    return list(await session.scalars(stmt.where(Unit.organisation_id == org.id)))


async def campaign_counts(session: AsyncSession, campaign_id: int) -> Counter[str]:
    """How many of a campaign's stories are in each status (drafts included)."""
    statuses = await session.scalars(
        select(Submission.status).where(Submission.campaign_id == campaign_id)
    )
    return Counter(statuses)


def parse_month(raw: str) -> date | None:
    """ "2024-01" (or "01/2024") → 1 January 2024; None when not a month."""
    raw = raw.strip()
    for sep, order in (("-", (0, 1)), ("/", (1, 0))):
        parts = raw.split(sep)
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            year, month = int(parts[order[0]]), int(parts[order[1]])
            if 2000 <= year <= 2100 and 1 <= month <= 12:
                return date(year, month, 1)
    return None


def monthly_table(texts: Texts, rows: Sequence[UnitMonth]) -> tuple[list[str], list[list[object]]]:
    """The monthly report's headers and lines, in the words of `texts` (the CLI's area), as
    the CLI prints them and both the CLI and the chat file them."""
    headers = texts.render("reports.headers").split("|")
    table: list[list[object]] = [
        [
            r.unit.name,
            texts.render("reports.level", code=r.unit.level),
            r.submitted,
            r.on_time,
            r.confirmed,
            r.approved,
            r.honoured,
            texts.render("reports.met", met=r.met),
            r.nominated_up,
            r.exemplar or texts.render("reports.no_exemplar"),
            r.web_posts,
        ]
        for r in rows
    ]
    return headers, table


def monthly_xlsx(
    texts: Texts, campaign: CampaignSpec, month: date, rows: Sequence[UnitMonth]
) -> bytes:
    """The monthly report as an Excel file (`guongsang report monthly --format xlsx`, /baocao)."""
    headers, table = monthly_table(texts, rows)
    return table_xlsx(
        headers,
        table,
        texts.render("reports.title", campaign=campaign, month=month),
        texts.render("reports.sheet_name"),
    )


def table_xlsx(
    headers: list[str],
    table: list[list[object]],
    title: str,
    sheet_name: str,
    widths: tuple[int, ...] | None = None,
) -> bytes:
    """A report as one sheet: title, bordered table, printed landscape one page wide."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    from handlers.paper import one_page_wide, row_height

    # Unit, level, five counts, quota met, nominated up, the month's exemplar, and any after.
    widths = widths or (46, 7, *([11] * 5), 13, 11, 15, *([11] * (len(headers) - 10)))
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new Workbook always has its one sheet
    sheet.title = sheet_name
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headers))
    sheet["A1"].font = Font(name="Times New Roman", bold=True, size=13)
    sheet["A1"].alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    sheet.row_dimensions[1].height = row_height([title], [sum(widths)], font_points=13)
    sheet.append(headers)
    for cell in sheet[2]:
        cell.font = Font(name="Times New Roman", bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = border
    sheet.row_dimensions[2].height = row_height(headers, widths)
    for values in table:
        sheet.append(values)
        line = sheet.max_row
        for cell in sheet[line]:
            cell.font = Font(name="Times New Roman")
            cell.border = border
            cell.alignment = Alignment(
                horizontal="left" if cell.column == 1 else "center", vertical="top", wrap_text=True
            )
        sheet.row_dimensions[line].height = row_height(values, widths)
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = "A3"
    one_page_wide(sheet, landscape=True, header_rows="2:2")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
