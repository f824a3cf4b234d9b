"""Things done at most once a day (reminders), remembered across restarts and workers."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import upsert_insert
from storage.models import DailyMark


async def once(session: AsyncSession, kind: str, key: str, day: date, now: datetime) -> bool:
    """Record (kind, key, day); False when it was recorded before, by anyone."""
    insert = upsert_insert(session)
    result = await session.execute(
        insert(DailyMark)
        .values(kind=kind, key=key, day=day, at=now)
        .on_conflict_do_nothing()
        .returning(DailyMark.key)
    )
    return result.scalar() is not None
