"""The month's exemplar: each unit head's pick, the office's marks, and the list sent up.

Months are 'YYYY-MM' strings, as the office writes them. Writes that two people could race
(a head changing the pick while the office sends the list) are guarded by the list's row:
once it exists, the month is closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import upsert_insert
from storage.models import Submission
from storage.month_models import MonthExemplar, MonthList


def month_key(year: int, month: int) -> str:
    """'2024-01' for January 2024."""
    return f"{year:04d}-{month:02d}"


async def get(
    session: AsyncSession, campaign_id: int, unit_id: int, month: str
) -> MonthExemplar | None:
    """The unit's exemplar of the month, if its head chose one."""
    return await session.scalar(
        select(MonthExemplar).where(
            MonthExemplar.campaign_id == campaign_id,
            MonthExemplar.unit_id == unit_id,
            MonthExemplar.month == month,
        )
    )


async def by_id(session: AsyncSession, exemplar_id: int) -> MonthExemplar | None:
    """One nomination by its id (from a button)."""
    return await session.get(MonthExemplar, exemplar_id)


async def choose(
    session: AsyncSession,
    *,
    campaign_id: int,
    unit_id: int,
    month: str,
    submission_id: int,
    reason: str,
    by_id: int,
    now: datetime,
) -> tuple[MonthExemplar, int | None]:
    """Record the unit's pick of the month (a new one replaces the old, and loses the office's
    mark, which was about the old one); returns the row and the story it replaced, if any."""
    insert = upsert_insert(session)
    result = await session.execute(
        insert(MonthExemplar)
        .values(
            campaign_id=campaign_id,
            unit_id=unit_id,
            month=month,
            submission_id=submission_id,
            reason=reason,
            nominated_by_id=by_id,
            at=now,
            goes_up=False,
        )
        .on_conflict_do_nothing(
            index_elements=[MonthExemplar.campaign_id, MonthExemplar.unit_id, MonthExemplar.month]
        )
    )
    row = await get(session, campaign_id, unit_id, month)
    assert row is not None
    if result.rowcount == 1:
        return row, None
    previous = row.submission_id
    row.submission_id, row.reason, row.nominated_by_id, row.at = submission_id, reason, by_id, now
    if previous != submission_id:
        row.goes_up = False
    await session.flush()
    return row, previous


async def of_month(session: AsyncSession, campaign_id: int, month: str) -> list[MonthExemplar]:
    """Every unit's exemplar of the month, in the order they were chosen."""
    rows = await session.scalars(
        select(MonthExemplar)
        .where(MonthExemplar.campaign_id == campaign_id, MonthExemplar.month == month)
        .order_by(MonthExemplar.at, MonthExemplar.id)
    )
    return list(rows)


async def of_campaign(
    session: AsyncSession, campaign_id: int, unit_ids: Iterable[int] | None = None
) -> list[MonthExemplar]:
    """Every exemplar of a campaign (of some units), oldest month first."""
    stmt = select(MonthExemplar).where(MonthExemplar.campaign_id == campaign_id)
    if unit_ids is not None:
        stmt = stmt.where(MonthExemplar.unit_id.in_(list(unit_ids)))
    return list(await session.scalars(stmt.order_by(MonthExemplar.month, MonthExemplar.id)))


async def set_goes_up(session: AsyncSession, exemplar: MonthExemplar, value: bool) -> None:
    """The office's mark on one nomination."""
    await session.execute(
        update(MonthExemplar)
        .where(MonthExemplar.id == exemplar.id)
        .values(goes_up=value)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(exemplar)


async def sent_list(session: AsyncSession, campaign_id: int, month: str) -> MonthList | None:
    """The month's list, if the office has sent it up."""
    return await session.scalar(
        select(MonthList).where(MonthList.campaign_id == campaign_id, MonthList.month == month)
    )


async def mark_sent(
    session: AsyncSession,
    *,
    campaign_id: int,
    month: str,
    organisation_id: int,
    by_id: int,
    now: datetime,
) -> bool:
    """Record that the month's list went up; False when someone sent it first."""
    insert = upsert_insert(session)
    result = await session.execute(
        insert(MonthList)
        .values(
            campaign_id=campaign_id,
            month=month,
            organisation_id=organisation_id,
            sent_by_id=by_id,
            sent_at=now,
        )
        .on_conflict_do_nothing(index_elements=[MonthList.campaign_id, MonthList.month])
    )
    return result.rowcount == 1


async def candidates(
    session: AsyncSession,
    *,
    campaign_id: int,
    unit_id: int,
    statuses: tuple[str, ...],
    since: datetime,
    month: str,
) -> list[Submission]:
    """The unit's stories in `statuses` submitted since `since`, newest first, leaving out the
    ones already chosen as the exemplar of another month."""
    taken = select(MonthExemplar.submission_id).where(
        MonthExemplar.campaign_id == campaign_id,
        MonthExemplar.unit_id == unit_id,
        MonthExemplar.month != month,
    )
    rows = await session.scalars(
        select(Submission)
        .where(
            Submission.campaign_id == campaign_id,
            Submission.unit_id == unit_id,
            Submission.status.in_(statuses),
            Submission.submitted_at >= since,
            Submission.id.not_in(taken),
        )
        .order_by(Submission.submitted_at.desc(), Submission.id.desc())
    )
    return list(rows)
