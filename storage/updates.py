"""Platform update ids already handled, so a redelivered update is processed at most once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import UPSERT_INSERTS
from storage.models import ProcessedUpdate, utcnow
from storage.prepared import Prepared

_TABLE = ProcessedUpdate.__table__
# Inserts one row, or none if the key is there: the count says which.
_CLAIM = Prepared(
    {
        dialect: insert(_TABLE)
        .values(channel=bindparam("p_channel"), update_key=bindparam("p_key"), at=bindparam("p_at"))
        .on_conflict_do_nothing()
        for dialect, insert in UPSERT_INSERTS.items()
    }
)


async def claim(session: AsyncSession, channel: str, update_key: str) -> bool:
    """Record the update as handled by this transaction; False if it was handled before.

    One statement does both the check and the record. The record commits with the handling
    or not at all, so an update whose handling failed is handled again when redelivered. A
    worker process claiming an update another one is handling waits for that one to finish,
    then finds it claimed.
    """
    return await _CLAIM.changed(session, p_channel=channel, p_key=update_key, p_at=utcnow()) == 1


async def forget_before(session: AsyncSession, before: datetime) -> int:
    """Drop the records of updates claimed before `before`; returns how many were dropped.

    A platform redelivers an update only for a short while (Telegram keeps one for at most
    a day), so older records only take space: one row per message every teacher ever sent.
    """
    result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.at < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
