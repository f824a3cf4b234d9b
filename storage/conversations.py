"""Per-chat conversation state: the current step and its working data."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import people, sqlite_inline
from storage.models import Conversation, Identity, Person, utcnow


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


class ChatStep:
    """A chat's step as plain values, read once and written once per update.

    The per-message path does not need an ORM object for the step: tracking one (identity
    map, attribute history, flush) cost more than the step's whole SELECT and UPDATE. It has
    the attributes handlers use on `Conversation` (step, data, prompt_seq), so a handler
    cannot tell the two apart; `save_step` writes it, and only if something changed.
    """

    __slots__ = ("channel", "chat_id", "data", "is_new", "prompt_seq", "saved", "step")

    def __init__(
        self,
        channel: str,
        chat_id: str,
        step: str = "idle",
        data: dict[str, Any] | None = None,
        prompt_seq: int = 0,
        is_new: bool = False,
    ) -> None:
        self.channel = channel
        self.chat_id = chat_id
        self.step = step
        self.data: dict[str, Any] = data if data is not None else {}
        self.prompt_seq = prompt_seq
        # A chat's first update creates its row even if the step stays idle, as `load` does.
        self.is_new = is_new
        self.saved: tuple[str, dict[str, Any], int] = (self.step, self.data, self.prompt_seq)

    def changed(self) -> bool:
        """Whether the step differs from what the database holds."""
        step, data, seq = self.saved
        return self.is_new or self.step != step or self.prompt_seq != seq or self.data != data


_TABLE = Conversation.__table__
_STEP_WITH_PERSON = (
    select(_TABLE.c.step, _TABLE.c.data, _TABLE.c.prompt_seq, Person)
    .select_from(_TABLE)
    .outerjoin(
        Identity,
        and_(Identity.channel == bindparam("channel"), Identity.external_id == bindparam("user")),
    )
    .outerjoin(Person, Person.id == Identity.person_id)
    .where(_TABLE.c.channel == bindparam("channel"), _TABLE.c.chat_id == bindparam("chat"))
)
_INSERT_STEP = insert(_TABLE)
_UPDATE_STEP = (
    update(_TABLE)
    .where(_TABLE.c.channel == bindparam("b_channel"), _TABLE.c.chat_id == bindparam("b_chat"))
    .values(
        step=bindparam("step"),
        data=bindparam("data"),
        prompt_seq=bindparam("prompt_seq"),
        updated_at=bindparam("updated_at"),
    )
)

# The same writes, prepared on SQLite's driver inside the session's transaction.
_INSERT_SQL = (
    "INSERT INTO conversations (channel, chat_id, step, data, prompt_seq, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_UPDATE_SQL = (
    "UPDATE conversations SET step = ?, data = ?, prompt_seq = ?, updated_at = ? "
    "WHERE channel = ? AND chat_id = ?"
)


async def load_step(
    session: AsyncSession, channel: str, chat_id: str, user_id: str
) -> tuple[ChatStep, Person | None]:
    """The chat's step as plain values and the person writing, in one query once the chat
    is known. A chat never seen gets a new step, written by `save_step`."""
    params = {"channel": channel, "chat": chat_id, "user": user_id}
    row = (await session.execute(_STEP_WITH_PERSON, params)).first()
    if row is None:
        person = await people.by_identity(session, channel, user_id)
        return ChatStep(channel, chat_id, is_new=True), person
    step, data, seq, person = row
    return ChatStep(channel, chat_id, step, dict(data or {}), int(seq or 0)), person


async def save_step(session: AsyncSession, conv: ChatStep) -> None:
    """Write the chat's step in one statement, if it changed, inside the caller's transaction
    (on SQLite a prepared statement on the driver, in that same transaction)."""
    if not conv.changed():
        return
    driver = await sqlite_inline.driver_of(session)
    if driver is not None:
        dialect = session.get_bind().dialect
        data = sqlite_inline.binder(_TABLE.c.data, dialect)(conv.data)
        at = sqlite_inline.binder(_TABLE.c.updated_at, dialect)(utcnow())
        if conv.is_new:
            row = (conv.channel, conv.chat_id, conv.step, data, conv.prompt_seq, at)
            driver.execute(_INSERT_SQL, row)
        else:
            row = (conv.step, data, conv.prompt_seq, at, conv.channel, conv.chat_id)
            driver.execute(_UPDATE_SQL, row)
    else:
        await _save_with_core(session, conv)
    conv.is_new = False
    conv.saved = (conv.step, conv.data, conv.prompt_seq)


async def _save_with_core(session: AsyncSession, conv: ChatStep) -> None:
    values = {"step": conv.step, "data": conv.data, "prompt_seq": conv.prompt_seq}
    if conv.is_new:
        at = utcnow()
        row = {"channel": conv.channel, "chat_id": conv.chat_id, "updated_at": at, **values}
        await session.execute(_INSERT_STEP, row)
    else:
        where = {"b_channel": conv.channel, "b_chat": conv.chat_id, "updated_at": utcnow()}
        await session.execute(_UPDATE_STEP, {**where, **values})


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
