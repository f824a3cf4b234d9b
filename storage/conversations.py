"""Per-chat conversation state: the current step and its working data."""

from __future__ import annotations

from sqlalchemy import select
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
