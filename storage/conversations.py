"""Per-chat conversation state: the current step and its working data."""

from __future__ import annotations

import hashlib

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation


async def load(session: AsyncSession, channel: str, chat_id: str) -> Conversation:
    """The chat's conversation row, created on first contact."""
    conv = await session.scalar(
        select(Conversation).where(Conversation.channel == channel, Conversation.chat_id == chat_id)
    )
    if conv is None:
        conv = Conversation(channel=channel, chat_id=chat_id, step="idle", data={}, prompt_seq=0)
        session.add(conv)
        await session.flush()
    return conv


async def lock_chat(session: AsyncSession, channel: str, chat_id: str) -> None:
    """Hold the chat for the rest of the transaction, so that worker processes sharing one
    PostgreSQL database handle a chat's updates one at a time.

    A transaction-scoped advisory lock works before the conversation row exists. SQLite
    needs none: every transaction there takes the single write lock up front.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"{channel}:{chat_id}".encode(), digest_size=8).digest()
    key = int.from_bytes(digest, "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
