"""The nomination ladder's state: a story sent up to a level, and that level's decision.

Every write is a compare-and-set, so of two reviewers pressing at once exactly one wins.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import upsert_insert
from storage.models import Nomination, Organisation, Submission

PENDING = "pending"  # waiting for the level's reviewers
SELECTED = "selected"  # chosen at the level: may be sent on up
RETURNED = "returned"  # sent back to the level below, which may send it again
NOT_SELECTED = "not_selected"
DECIDED = (SELECTED, RETURNED, NOT_SELECTED)


@dataclass(frozen=True)
class OrganisationRow:
    """One `[[organisations]]` table of the campaigns file."""

    name: str
    parent: str | None = None


async def sync_organisations(
    session: AsyncSession, rows: list[OrganisationRow], reparent: bool = True
) -> None:
    """Create or update the organisations named in the campaigns file, with their parents.

    Only the rows' own organisations are touched: one imported (`guongsang organisations
    import`) that the file does not name keeps its place. With `reparent` False (the
    built-in ladder, when there is no file) existing organisations keep their parents too:
    nobody declared those, and an import may have put them under a level above.
    """
    by_name: dict[str, Organisation] = {}
    fresh: set[str] = set()
    for row in rows:
        org = await session.scalar(select(Organisation).where(Organisation.name == row.name))
        if org is None:
            org = Organisation(name=row.name)
            session.add(org)
            fresh.add(row.name)
        by_name[row.name] = org
    await session.flush()
    for row in rows:
        if not reparent and row.name not in fresh:
            continue
        parent = by_name.get(row.parent) if row.parent else None
        by_name[row.name].parent_id = parent.id if parent else None
    await session.flush()


async def organisation_named(session: AsyncSession, name: str) -> Organisation | None:
    """An organisation by its exact name."""
    return await session.scalar(select(Organisation).where(Organisation.name == name))


async def of_submission(session: AsyncSession, submission_id: int) -> list[Nomination]:
    """Every level a story was sent up to, lowest first."""
    rows = await session.scalars(
        select(Nomination)
        .where(Nomination.submission_id == submission_id)
        .order_by(Nomination.level)
    )
    return list(rows)


async def at_level(session: AsyncSession, submission_id: int, level: int) -> Nomination | None:
    """The story's nomination at one level, if it was sent there."""
    return await session.scalar(
        select(Nomination).where(
            Nomination.submission_id == submission_id, Nomination.level == level
        )
    )


async def nominate(
    session: AsyncSession,
    submission_id: int,
    level: int,
    organisation_id: int,
    by_id: int,
    note: str,
    now: datetime,
) -> bool:
    """Send a story up to `level`; False when it is already there (another reviewer won).

    A story the level sent back may be sent again: its row starts over as pending.
    """
    fresh = {
        "status": PENDING,
        "organisation_id": organisation_id,
        "nominated_by_id": by_id,
        "nominated_at": now,
        "note": note,
        "decided_by_id": None,
        "decided_at": None,
        "decision_note": None,
    }
    insert = upsert_insert(session)
    result = await session.execute(
        insert(Nomination)
        .values(submission_id=submission_id, level=level, **fresh)
        .on_conflict_do_nothing(index_elements=[Nomination.submission_id, Nomination.level])
    )
    if result.rowcount == 1:
        return True
    result = await session.execute(
        update(Nomination)
        .where(
            Nomination.submission_id == submission_id,
            Nomination.level == level,
            Nomination.status == RETURNED,
        )
        .values(**fresh)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def decide(
    session: AsyncSession,
    nomination: Nomination,
    status: str,
    by_id: int,
    note: str | None,
    now: datetime,
) -> bool:
    """Compare-and-set a pending nomination's decision; False when another came first."""
    result = await session.execute(
        update(Nomination)
        .where(Nomination.id == nomination.id, Nomination.status == PENDING)
        .values(status=status, decided_by_id=by_id, decided_at=now, decision_note=note)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(nomination)
    return result.rowcount == 1


async def pending(session: AsyncSession) -> list[Nomination]:
    """Every nomination waiting for its level's decision, longest waiting first."""
    rows = await session.scalars(
        select(Nomination)
        .where(Nomination.status == PENDING)
        .order_by(Nomination.nominated_at, Nomination.id)
    )
    return list(rows)


async def sent_up(
    session: AsyncSession, campaign_id: int, level: int, since: datetime, until: datetime
) -> int:
    """How many of a campaign's stories were sent up to `level` in [since, until) (a calendar
    month, for the level's quota).

    In a campaign every story sent up to a level comes from the one organisation below it,
    so this is that organisation's count. A story the level sent back does not count: it is
    no longer there, and sending it again counts it anew (the row's time is the new one).
    """
    count = await session.scalar(
        select(func.count(Nomination.id))
        .join(Submission, Submission.id == Nomination.submission_id)
        .where(
            Submission.campaign_id == campaign_id,
            Nomination.level == level,
            Nomination.status != RETURNED,
            Nomination.nominated_at >= since,
            Nomination.nominated_at < until,
        )
    )
    return int(count or 0)


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


async def hold_quota(session: AsyncSession, campaign_id: int, level: int) -> None:
    """Hold a level's monthly quota for the rest of the transaction, so that two stories
    sent up at once are counted one after the other and the quota is never passed.

    SQLite needs none: every transaction there takes the single write lock up front.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"quota:{campaign_id}:{level}".encode(), digest_size=8).digest()
    await session.execute(_LOCK, {"key": int.from_bytes(digest, "big", signed=True)})
