"""Per-chat conversation state: the current step and its working data."""

from __future__ import annotations

import hashlib

from sqlalchemy import and_, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage import people
from storage.models import Conversation, Identity, Person


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


async def find(session: AsyncSession, channel: str, chat_id: str) -> Conversation | None:
    """The chat's conversation row, if the chat ever wrote (none is created)."""
    return await session.scalar(
        select(Conversation).where(Conversation.channel == channel, Conversation.chat_id == chat_id)
    )


# Built once: making a statement (its joins and comparisons) cost SQLAlchemy several times
# what running it costs SQLite, on every update.
_WITH_PERSON = (
    select(Conversation, Person)
    .select_from(Conversation)
    .outerjoin(
        Identity,
        and_(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("user")),
    )
    .outerjoin(Person, Person.id == Identity.person_id)
    .where(Conversation.channel == bindparam("channel"), Conversation.chat_id == bindparam("chat"))
)


async def load_with_person(
    session: AsyncSession, channel: str, chat_id: str, user_id: str
) -> tuple[Conversation, Person | None]:
    """The chat's conversation and the person writing, in one query once the chat is known.

    Every update needs both; each statement through the ORM costs far more than SQLite
    takes to run it, so the common case is one SELECT rather than two.
    """
    params = {"channel": channel, "chat": chat_id, "user": user_id}
    row = (await session.execute(_WITH_PERSON, params)).first()
    if row is None:
        return await load(session, channel, chat_id), await people.by_identity(
            session, channel, user_id
        )
    return row[0], row[1]


_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


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
    await session.execute(_LOCK, {"key": key})
