"""Per-person message budgets kept in the database, for worker processes serving one bot."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import inserts_skipping_conflicts
from storage.models import FloodBucket

# Built once: every update of a bot with several workers runs these.
_LOCKED = (
    select(FloodBucket)
    .where(FloodBucket.channel == bindparam("channel"), FloodBucket.user_id == bindparam("user"))
    .with_for_update()
)
_CREATE = inserts_skipping_conflicts(FloodBucket.__table__)


async def locked_bucket(
    session: AsyncSession, channel: str, user_id: str, full: float, now: float
) -> FloodBucket:
    """The person's bucket, locked until the transaction ends; made with `full` tokens on
    first contact. Changes to it are saved with the transaction.

    Two workers may meet a person's first messages at once: the insert that loses the race
    does nothing, and both then lock the one row.
    """
    params = {"channel": channel, "user": user_id}
    bucket = await session.scalar(_LOCKED, params)
    if bucket is None:
        statement = _CREATE[session.get_bind().dialect.name]
        await session.execute(
            statement,
            {
                "channel": channel,
                "user_id": user_id,
                "tokens": full,
                "updated": now,
                "paused_until": 0.0,
            },
        )
        bucket = await session.scalar(_LOCKED, params)
        assert bucket is not None
    return bucket


async def forget_idle(session: AsyncSession, before: float) -> int:
    """Drop buckets untouched since `before` (they would be full again); returns how many."""
    result = await session.execute(delete(FloodBucket).where(FloodBucket.updated < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
