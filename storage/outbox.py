"""The outbox: messages decided inside a transaction, delivered after it commits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage

PENDING, SENDING, SENT = "pending", "sending", "sent"
FAILED, BLOCKED, CANCELLED = "failed", "blocked", "cancelled"
# The stage of an answer to someone's own message that the channel could not deliver at once.
DIRECT_REPLY = "reply"
# Set in a session's info when it queues something, so whoever commits it knows to wake the
# delivery worker (most messages people send queue nothing for anyone else).
_QUEUED = "outbox_queued"


def queued(session: AsyncSession) -> bool:
    """Whether this session has queued any outbox message."""
    return bool(session.info.get(_QUEUED))


async def enqueue(
    session: AsyncSession,
    channel: str,
    chat_id: str,
    payload: dict[str, Any],
    *,
    submission_id: int | None = None,
    stage: str | None = None,
    version: int | None = None,
    kind: str = "send",
    target_message_id: str | None = None,
    broadcast_id: int | None = None,
    now: datetime,
) -> OutboxMessage:
    """Queue one message (or one edit of `target_message_id`), due at `now`."""
    row = OutboxMessage(
        created_at=now,
        next_attempt_at=now,
        channel=channel,
        chat_id=chat_id,
        kind=kind,
        payload=payload,
        submission_id=submission_id,
        stage=stage,
        version=version,
        target_message_id=target_message_id,
        broadcast_id=broadcast_id,
    )
    session.add(row)
    await session.flush()
    session.info[_QUEUED] = True
    return row


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Queue many prepared rows (a broadcast's audience) in one statement."""
    if not rows:
        return
    await session.execute(insert(OutboxMessage), rows)
    session.info[_QUEUED] = True


async def due(
    session: AsyncSession,
    channels: set[str],
    now: datetime,
    limit: int,
    only_chats: Mapping[str, str] | None = None,
) -> list[OutboxMessage]:
    """Pending rows whose time has come, oldest first, for channels that are running;
    of a channel in `only_chats`, only the rows for that one chat."""
    one_chat = [
        or_(OutboxMessage.channel != channel, OutboxMessage.chat_id == chat_id)
        for channel, chat_id in (only_chats or {}).items()
    ]
    rows = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.status == PENDING,
            OutboxMessage.next_attempt_at <= now,
            OutboxMessage.channel.in_(channels),
            *one_chat,
        )
        .order_by(OutboxMessage.priority, OutboxMessage.id)
        .limit(limit)
        # Workers in several processes (PostgreSQL) each take rows nobody else is claiming,
        # instead of queueing behind one another; SQLite ignores this and serialises anyway.
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def cards(session: AsyncSession, submission_id: int, stage: str) -> list[OutboxMessage]:
    """Every notification of one stage of a submission, sent or not."""
    rows = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.submission_id == submission_id,
            OutboxMessage.stage == stage,
            OutboxMessage.kind == "send",
        )
        .order_by(OutboxMessage.id)
    )
    return list(rows)


async def supersede_in_flight(
    session: AsyncSession, submission_id: int, stage: str, payload: dict[str, Any]
) -> None:
    """Replace the payload of a decided stage's notifications that are being sent (or were,
    by a worker that died): sent again, they say the outcome; sent now, their worker sees the
    change when it records the send and queues the edit."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.submission_id == submission_id,
            OutboxMessage.stage == stage,
            OutboxMessage.status == SENDING,
            OutboxMessage.kind == "send",
        )
        .values(payload=payload)
        .execution_options(synchronize_session=False)
    )


async def cancel_pending(session: AsyncSession, submission_id: int, stage: str) -> None:
    """Drop unsent notifications of a stage that has just been decided."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.submission_id == submission_id,
            OutboxMessage.stage == stage,
            OutboxMessage.status == PENDING,
            OutboxMessage.kind == "send",
        )
        .values(status=CANCELLED)
        .execution_options(synchronize_session=False)
    )


async def sent_since(session: AsyncSession, broadcast_id: int, since: datetime) -> int:
    """How many of a broadcast's deliveries went out at or after `since` (wall clock)."""
    count = await session.scalar(
        select(func.count()).where(
            OutboxMessage.broadcast_id == broadcast_id,
            OutboxMessage.audience_id.is_not(None),
            OutboxMessage.status == SENT,
            OutboxMessage.sent_at >= since,
        )
    )
    return int(count or 0)


async def sent_by_others_since(
    session: AsyncSession, channel: str, since: datetime, token: str
) -> list[datetime]:
    """When the messages on `channel` sent since `since` (wall clock) by processes other than
    the one named `token` went, oldest first. A sent row's due time is the moment it was
    sent, so the status-and-due-time index finds the few recent ones among all."""
    rows = await session.scalars(
        select(OutboxMessage.next_attempt_at)
        .where(
            OutboxMessage.status == SENT,
            OutboxMessage.priority.in_((0, 1)),
            OutboxMessage.next_attempt_at >= since,
            OutboxMessage.channel == channel,
            (OutboxMessage.claimed_by.is_(None)) | (OutboxMessage.claimed_by != token),
        )
        .order_by(OutboxMessage.next_attempt_at)
    )
    return list(rows)
