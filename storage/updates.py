"""Platform update ids already handled, so a redelivered update is processed at most once."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate


async def seen(session: AsyncSession, channel: str, update_key: str) -> bool:
    """Whether this update was handled before."""
    found = await session.scalar(
        select(ProcessedUpdate.update_key).where(
            ProcessedUpdate.channel == channel, ProcessedUpdate.update_key == update_key
        )
    )
    return found is not None


async def mark(session: AsyncSession, channel: str, update_key: str) -> None:
    """Remember the update; the primary key makes a concurrent second handling fail to commit."""
    session.add(ProcessedUpdate(channel=channel, update_key=update_key))
    await session.flush()
