"""A unit's year in a campaign, for the year-end emulation review (letter 001: "Số lượng, chất
lượng bài viết tham gia Cuộc thi là một trong những căn cứ xét duyệt thi đua các đơn vị cuối
năm học").

Per unit: entries sent on to the office, approved, sent up the ladder, selected at each level
above the campaign's review, honoured, the months that met the quota (at least the campaign's
`monthly_quota` before its deadline day) and the months with an exemplar chosen. The year is
the calendar year, in the users' time zone; a month counts toward the quota once its deadline
has passed. `year_summary` is public so the emulation scoring can read the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import reports
from handlers.campaigns import CampaignSpec
from handlers.services import Services
from storage import nominations
from storage import submissions as repo
from storage.models import Nomination, Submission, Unit
from storage.month_models import MonthExemplar
from templates import Texts


@dataclass
class UnitYear:
    """One unit's year: the counts of its stories submitted in the year, and its months.

    `selected[i]` counts stories selected at the ladder's level i + 1 (the first level above
    the campaign's own review).
    """

    unit: Unit
    entries: int = 0
    approved: int = 0
    nominated_up: int = 0
    selected: list[int] = field(default_factory=list)
    honoured: int = 0
    months_met: int = 0
    months_counted: int = 0
    exemplar_months: int = 0


async def year_summary(
    session: AsyncSession,
    services: Services,
    campaign: CampaignSpec,
    year: int,
    unit_ids: set[int] | None = None,
) -> list[UnitYear]:
    """Every unit of the campaign (or `unit_ids`) with its figures for `year`, in the order
    offices list units (by level, then alphabetically)."""
    campaign_id = services.campaign_ids[campaign.slug]
    levels = max(0, len(campaign.ladder) - 1)
    units = await reports.campaign_units(session, campaign, unit_ids)
    rows = {u.id: UnitYear(unit=u, selected=[0] * levels) for u in units}
    start = datetime.combine(date(year, 1, 1), time(), services.tz)
    end = datetime.combine(date(year + 1, 1, 1), time(), services.tz)
    stories = await session.execute(
        select(Submission.id, Submission.unit_id, Submission.status).where(
            Submission.campaign_id == campaign_id,
            Submission.submitted_at >= start,
            Submission.submitted_at < end,
        )
    )
    of_story: dict[int, UnitYear] = {}
    for sub_id, unit_id, status in stories:
        row = rows.get(unit_id or 0)
        if row is None:
            continue
        of_story[sub_id] = row
        row.entries += status in reports.PAST_UNIT
        row.approved += status in reports.APPROVED_OR_BETTER
        row.honoured += status == repo.HONOURED
    if of_story:
        sent = await session.execute(
            select(Nomination.submission_id, Nomination.level, Nomination.status).where(
                Nomination.submission_id.in_(list(of_story))
            )
        )
        up: set[int] = set()
        for sub_id, level, status in sent:
            up.add(sub_id)
            if status == nominations.SELECTED and 1 <= level <= levels:
                of_story[sub_id].selected[level - 1] += 1
        for sub_id in up:
            of_story[sub_id].nominated_up += 1
    today = services.today()
    for number in range(1, 13):
        month = date(year, number, 1)
        passed = month.replace(day=campaign.monthly_deadline_day) <= today
        if not passed or not reports.quota_applies(campaign, month) or not campaign.monthly_quota:
            continue
        for monthly in await reports.monthly(
            session, campaign, campaign_id, month, services.tz, unit_ids=set(rows)
        ):
            rows[monthly.unit.id].months_counted += 1
            rows[monthly.unit.id].months_met += monthly.met
    chosen = await session.execute(
        select(MonthExemplar.unit_id, func.count())
        .where(
            MonthExemplar.campaign_id == campaign_id,
            MonthExemplar.month.like(f"{year:04d}-%"),
        )
        .group_by(MonthExemplar.unit_id)
    )
    for unit_id, count in chosen:
        if unit_id in rows:
            rows[unit_id].exemplar_months = int(count)
    return sorted(rows.values(), key=lambda r: reports.unit_order(r.unit))


async def nominated_up(session: AsyncSession, campaign_id: int, unit_id: int) -> int:
    """How many of the unit's stories in the campaign were sent up the ladder (any level)."""
    count = await session.scalar(
        select(func.count(func.distinct(Nomination.submission_id)))
        .join(Submission, Submission.id == Nomination.submission_id)
        .where(Submission.campaign_id == campaign_id, Submission.unit_id == unit_id)
    )
    return int(count or 0)


async def exemplar_months(session: AsyncSession, campaign_id: int, unit_id: int) -> int:
    """How many months of the campaign the unit's head chose an exemplar."""
    count = await session.scalar(
        select(func.count()).where(
            MonthExemplar.campaign_id == campaign_id, MonthExemplar.unit_id == unit_id
        )
    )
    return int(count or 0)


def year_table(
    texts: Texts, campaign: CampaignSpec, rows: Sequence[UnitYear]
) -> tuple[list[str], list[list[object]]]:
    """The year summary's headers and lines in the words of `texts` (the CLI's area), as the
    CLI prints them and both the CLI and the chat (/baocao) file them."""
    headers = texts.render("reports.year_headers", levels=campaign.ladder[1:]).split("|")
    table: list[list[object]] = [
        [
            r.unit.name,
            texts.render("reports.level", code=r.unit.level),
            r.entries,
            r.approved,
            r.nominated_up,
            *r.selected,
            r.honoured,
            texts.render("reports.months", met=r.months_met, counted=r.months_counted),
            r.exemplar_months,
        ]
        for r in rows
    ]
    return headers, table


def year_xlsx(texts: Texts, campaign: CampaignSpec, year: int, rows: Sequence[UnitYear]) -> bytes:
    """The year summary as an Excel file (`guongsang report year --format xlsx`, /baocao)."""
    headers, table = year_table(texts, campaign, rows)
    title = texts.render("reports.year_title", campaign=campaign, year=year)
    widths = (46, 7, *([11] * (len(headers) - 2)))
    sheet_name = texts.render("reports.year_sheet_name")
    return reports.table_xlsx(headers, table, title, sheet_name, widths)
