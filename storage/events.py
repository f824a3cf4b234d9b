"""The append-only event log: every state change, with who, when, from where and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event, utcnow
from storage.prepared import Prepared, insert_row

# One audit row, run on the driver inside the session's transaction (`storage.prepared`).
_INSERT = Prepared(insert_row(Event.__table__, "p_").returning(Event.__table__.c.id))


async def record(
    session: AsyncSession,
    *,
    subject: str,
    subject_id: int,
    action: str,
    actor_id: int | None,
    channel: str | None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one event, at `at` (the app's clock); returns its id. Nothing updates or
    deletes these rows. The row is one statement run on the driver, in the same
    transaction."""
    if session.new:
        # The event may name a row the session has not written yet (a new person).
        await session.flush()
    row = {
        "at": at or utcnow(),
        "subject": subject,
        "subject_id": subject_id,
        "action": action,
        "actor_id": actor_id,
        "channel": channel,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "data": data or {},
    }
    return int(await _INSERT.scalar(session, **{f"p_{k}": v for k, v in row.items()}))


async def history(session: AsyncSession, subject: str, subject_id: int) -> list[Event]:
    """Every event of one subject, oldest first."""
    rows = await session.scalars(
        select(Event)
        .where(Event.subject == subject, Event.subject_id == subject_id)
        .order_by(Event.id)
    )
    return list(rows)


async def latest(
    session: AsyncSession, subject: str, subject_id: int, actions: tuple[str, ...]
) -> Event | None:
    """The newest event of one subject among `actions`, if any."""
    return await session.scalar(
        select(Event)
        .where(Event.subject == subject, Event.subject_id == subject_id, Event.action.in_(actions))
        .order_by(Event.id.desc())
        .limit(1)
    )
