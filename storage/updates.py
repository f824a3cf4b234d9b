"""Platform update ids already handled, so a redelivered update is processed at most once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import upsert_insert
from storage.models import ProcessedUpdate, utcnow


async def claim(session: AsyncSession, channel: str, update_key: str) -> bool:
    """Record the update as handled by this transaction; False if it was handled before.

    One statement does both the check and the record. The record commits with the handling
    or not at all, so an update whose handling failed is handled again when redelivered. A
    worker process claiming an update another one is handling waits for that one to finish,
    then finds it claimed.
    """
    insert = upsert_insert(session)
    statement = (
        insert(ProcessedUpdate.__table__)
        .values(channel=channel, update_key=update_key, at=utcnow())
        .on_conflict_do_nothing()
    )
    result = await session.execute(statement)
    return result.rowcount == 1  # type: ignore[attr-defined]
