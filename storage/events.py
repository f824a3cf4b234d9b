"""The append-only event log: every state change, with who, when, from where and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import sqlite_inline
from storage.models import Event, utcnow

_COLUMNS = Event.__table__.c
# One audit row, prepared on SQLite's driver inside the session's transaction.
_INSERT_SQL = (
    "INSERT INTO events (at, subject, subject_id, action, actor_id, channel, from_status, "
    "to_status, reason, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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

    On SQLite the row is one prepared statement on the driver, in the same transaction; the
    event returned is then not in the session (nothing reads it back through the session).
    """
    driver = await sqlite_inline.driver_of(session)
    if driver is not None:
        if session.new:
            # The event may name a row the session has not written yet (a new person).
            await session.flush()
        dialect = session.get_bind().dialect
        when = at or utcnow()
        values = (
            sqlite_inline.binder(_COLUMNS.at, dialect)(when),
            subject,
            subject_id,
            action,
            actor_id,
            channel,
            from_status,
            to_status,
            reason,
            sqlite_inline.binder(_COLUMNS.data, dialect)(data or {}),
        )
        event_id = driver.execute(_INSERT_SQL, values).lastrowid
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
    event = Event(
        at=at or utcnow(),
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
    session.add(event)
    await session.flush()
    return event


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
