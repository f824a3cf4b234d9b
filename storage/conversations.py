"""Per-chat conversation state: the current step and its working data."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, text, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from storage import people, sqlite_inline
from storage.models import Conversation, Identity, Person, utcnow
from storage.people import PersonRecord


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
_PEOPLE = Person.__table__
_IDENTITIES = Identity.__table__
_PERSON_COLUMNS = (_PEOPLE.c.id, _PEOPLE.c.full_name, _PEOPLE.c.phone, _PEOPLE.c.unit_id)
# Columns, not ORM entities: the person comes back as plain values (`PersonRecord`).
_STEP_WITH_PERSON = (
    select(_TABLE.c.step, _TABLE.c.data, _TABLE.c.prompt_seq, *_PERSON_COLUMNS)
    .select_from(_TABLE)
    .outerjoin(
        _IDENTITIES,
        and_(
            _IDENTITIES.c.channel == bindparam("channel"),
            _IDENTITIES.c.external_id == bindparam("user"),
        ),
    )
    .outerjoin(_PEOPLE, _PEOPLE.c.id == _IDENTITIES.c.person_id)
    .where(_TABLE.c.channel == bindparam("channel"), _TABLE.c.chat_id == bindparam("chat"))
)
_PERSON_BY_IDENTITY = (
    select(*_PERSON_COLUMNS)
    .select_from(_IDENTITIES)
    .join(_PEOPLE, _PEOPLE.c.id == _IDENTITIES.c.person_id)
    .where(
        _IDENTITIES.c.channel == bindparam("channel"),
        _IDENTITIES.c.external_id == bindparam("user"),
    )
)
# The same reads, prepared on SQLite's driver inside the session's transaction.
_STEP_SQL = (
    "SELECT c.step, c.data, c.prompt_seq, p.id, p.full_name, p.phone, p.unit_id "
    "FROM conversations AS c "
    "LEFT OUTER JOIN identities AS i ON i.channel = ? AND i.external_id = ? "
    "LEFT OUTER JOIN people AS p ON p.id = i.person_id "
    "WHERE c.channel = ? AND c.chat_id = ?"
)
_PERSON_SQL = (
    "SELECT p.id, p.full_name, p.phone, p.unit_id FROM identities AS i "
    "JOIN people AS p ON p.id = i.person_id WHERE i.channel = ? AND i.external_id = ?"
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
) -> tuple[ChatStep, PersonRecord | None]:
    """The chat's step and the person writing, as plain values, in one query once the chat
    is known (a prepared statement on SQLite's driver, a Core statement elsewhere). A chat
    never seen gets a new step, written by `save_step`."""
    driver = await sqlite_inline.driver_of(session)
    if driver is not None:
        row = driver.execute(_STEP_SQL, (channel, user_id, channel, chat_id)).fetchone()
        if row is None:
            return ChatStep(channel, chat_id, is_new=True), _record(
                driver.execute(_PERSON_SQL, (channel, user_id)).fetchone()
            )
        data = _data_reader(session.get_bind().dialect)(row[1])
    else:
        params = {"channel": channel, "chat": chat_id, "user": user_id}
        row = (await session.execute(_STEP_WITH_PERSON, params)).first()
        if row is None:
            return ChatStep(channel, chat_id, is_new=True), _record(
                (await session.execute(_PERSON_BY_IDENTITY, params)).first()
            )
        data = row[1]
    step, seq = row[0], row[2]
    return ChatStep(channel, chat_id, step, dict(data or {}), int(seq or 0)), _record(row[3:])


def _record(row: Sequence[Any] | None) -> PersonRecord | None:
    """The person of a row's (id, full_name, phone, unit_id), if there is one."""
    if row is None or row[0] is None:
        return None
    return PersonRecord(row[0], row[1], row[2], row[3])


@functools.lru_cache(maxsize=4)
def _data_reader(dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy makes of the stored `data` column (JSON text on SQLite), for the row
    read on the driver: the same value a Core or ORM read gives."""
    processor = _TABLE.c.data.type.dialect_impl(dialect).result_processor(dialect, None)
    return processor if processor is not None else (lambda value: value)


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
