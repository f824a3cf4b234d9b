"""Monthly quota per unit (letter 001: at least one story before the 15th of every month) and
campaign counts, for /report, /campaigns and `guongsang report` / `guongsang campaigns`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.campaigns import CampaignSpec
from storage import submissions as repo
from storage.models import Event, Organisation, Submission, Unit

# Statuses a story reaches only after its unit head confirmed it (or none was required).
PAST_UNIT = (repo.IN_REVIEW, repo.CHANGES_REQUESTED, repo.APPROVED, repo.REJECTED, repo.HONOURED)
APPROVED_OR_BETTER = (repo.APPROVED, repo.HONOURED)


@dataclass
class UnitMonth:
    """One unit's month in a campaign."""

    unit: Unit
    submitted: int = 0
    on_time: int = 0
    confirmed: int = 0
    approved: int = 0
    honoured: int = 0
    quota: int = 1

    @property
    def met(self) -> bool:
        """Whether enough stories came before the deadline day."""
        return self.on_time >= self.quota


def month_bounds(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The month [start, end) as aware datetimes in the users' zone."""
    start = datetime.combine(month.replace(day=1), time(), tz)
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, datetime.combine(following, time(), tz)


async def monthly(
    session: AsyncSession,
    campaign: CampaignSpec,
    campaign_id: int,
    month: date,
    tz: ZoneInfo,
    unit_ids: set[int] | None = None,
) -> list[UnitMonth]:
    """Every unit of the campaign's organisation (or `unit_ids`) with its month's figures.

    A story counts in the month it was first submitted, in Hà Nội time; it is on time when
    submitted before `monthly_deadline_day`. Units that sent nothing are listed too: they are
    the ones the office needs to see.
    """
    start, end = month_bounds(month, tz)
    stories = list(
        await session.scalars(
            select(Submission).where(
                Submission.campaign_id == campaign_id,
                Submission.submitted_at >= start,
                Submission.submitted_at < end,
                Submission.status != repo.DISCARDED,
            )
        )
    )
    confirmed_ids = set(
        await session.scalars(
            select(Event.subject_id).where(
                Event.subject == "submission",
                Event.action == "unit_confirmed",
                Event.subject_id.in_([s.id for s in stories]),
            )
        )
    )
    rows = {
        u.id: UnitMonth(unit=u, quota=campaign.monthly_quota)
        for u in await _units(session, campaign, unit_ids)
    }
    for sub in stories:
        row = rows.get(sub.unit_id or 0)
        if row is None:
            continue
        row.submitted += 1
        assert sub.submitted_at is not None
        if sub.submitted_at.astimezone(tz).day < campaign.monthly_deadline_day:
            row.on_time += 1
        if sub.id in confirmed_ids or sub.status in PAST_UNIT:
            row.confirmed += 1
        row.approved += sub.status in APPROVED_OR_BETTER
        row.honoured += sub.status == repo.HONOURED
    return sorted(rows.values(), key=lambda r: (r.unit.level, r.unit.name))


async def _units(
    session: AsyncSession, campaign: CampaignSpec, unit_ids: set[int] | None
) -> list[Unit]:
    stmt = select(Unit)
    if unit_ids is not None:
        return list(await session.scalars(stmt.where(Unit.id.in_(unit_ids))))
    org = await session.scalar(
        select(Organisation).where(Organisation.name == campaign.organisation)
    )
    if org is not None:
        stmt = stmt.where(Unit.organisation_id == org.id)
    return list(await session.scalars(stmt))


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
