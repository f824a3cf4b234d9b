"""Platform update ids already handled, so a redelivered update is processed at most once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage import sqlite_inline
from storage.db import inserts_skipping_conflicts
from storage.models import ProcessedUpdate, utcnow

_CLAIMS = inserts_skipping_conflicts(ProcessedUpdate.__table__)
# The same claim, prepared on SQLite's driver inside the session's transaction.
_CLAIM_SQL = (
    "INSERT INTO processed_updates (channel, update_key, at) VALUES (?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


async def claim(session: AsyncSession, channel: str, update_key: str) -> bool:
    """Record the update as handled by this transaction; False if it was handled before.

    One statement does both the check and the record. The record commits with the handling
    or not at all, so an update whose handling failed is handled again when redelivered. A
    worker process claiming an update another one is handling waits for that one to finish,
    then finds it claimed.
    """
    driver = await sqlite_inline.driver_of(session)
    if driver is not None:
        at = sqlite_inline.binder(ProcessedUpdate.__table__.c.at, session.get_bind().dialect)
        return driver.execute(_CLAIM_SQL, (channel, update_key, at(utcnow()))).rowcount == 1
    statement = _CLAIMS[session.get_bind().dialect.name]
    values = {"channel": channel, "update_key": update_key, "at": utcnow()}
    result = await session.execute(statement, values)
    return result.rowcount == 1  # type: ignore[attr-defined]


async def forget_before(session: AsyncSession, before: datetime) -> int:
    """Drop the records of updates claimed before `before`; returns how many were dropped.

    A platform redelivers an update only for a short while (Telegram keeps one for at most
    a day), so older records only take space: one row per message every teacher ever sent.
    """
    result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
