"""The append-only event log: every state change, with who, when, from where and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event, utcnow
from storage.prepared import Prepared

_COLUMNS = Event.__table__.c
# One audit row, run on the driver inside the session's transaction (`storage.prepared`).
_INSERT = Prepared(
    insert(Event.__table__)
    .values(
        at=bindparam("p_at"),
        subject=bindparam("p_subject"),
        subject_id=bindparam("p_subject_id"),
        action=bindparam("p_action"),
        actor_id=bindparam("p_actor"),
        channel=bindparam("p_channel"),
        from_status=bindparam("p_from"),
        to_status=bindparam("p_to"),
        reason=bindparam("p_reason"),
        data=bindparam("p_data"),
    )
    .returning(_COLUMNS.id)
)


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
) -> Event:
    """Append one event, at `at` (the app's clock). Nothing updates or deletes these rows.

    The row is one statement run on the driver, in the same transaction; the event returned
    is not in the session (nothing reads it back through the session).
    """
    if session.new:
        # The event may name a row the session has not written yet (a new person).
        await session.flush()
    when = at or utcnow()
    event_id = await _INSERT.scalar(
        session,
        p_at=when,
        p_subject=subject,
        p_subject_id=subject_id,
        p_action=action,
        p_actor=actor_id,
        p_channel=channel,
        p_from=from_status,
        p_to=to_status,
        p_reason=reason,
        p_data=data or {},
    )
    return Event(
        id=event_id,
        at=when,
        subject=subject,
        subject_id=subject_id,
        action=action,
        actor_id=actor_id,
        channel=channel,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data=data or {},
    )


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
