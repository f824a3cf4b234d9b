"""Who receives the honoured stories: the audience's chats."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AudienceMember
from storage.prepared import Prepared

_ACTIVE = Prepared(
    select(AudienceMember.active).where(
        AudienceMember.channel == bindparam("channel"),
        AudienceMember.chat_id == bindparam("chat"),
    )
)


async def subscribed(session: AsyncSession, channel: str, chat_id: str) -> bool:
    """Whether this chat receives the honoured stories."""
    return bool(await _ACTIVE.scalar(session, channel=channel, chat=chat_id))
