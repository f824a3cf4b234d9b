"""Per-chat conversation state: the current step and its working data."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import people
from storage.models import Conversation, Identity, Person, utcnow
from storage.people import PersonRecord
from storage.prepared import Prepared


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
_STEP_WITH_PERSON = Prepared(
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
_PERSON_BY_IDENTITY = Prepared(
    select(*_PERSON_COLUMNS)
    .select_from(_IDENTITIES)
    .join(_PEOPLE, _PEOPLE.c.id == _IDENTITIES.c.person_id)
    .where(
        _IDENTITIES.c.channel == bindparam("channel"),
        _IDENTITIES.c.external_id == bindparam("user"),
    )
)
_INSERT_STEP = Prepared(
    insert(_TABLE).values(
        channel=bindparam("p_channel"),
        chat_id=bindparam("p_chat"),
        step=bindparam("p_step"),
        data=bindparam("p_data"),
        prompt_seq=bindparam("p_seq"),
        updated_at=bindparam("p_at"),
    )
)
_UPDATE_STEP = Prepared(
    update(_TABLE)
    .where(_TABLE.c.channel == bindparam("b_channel"), _TABLE.c.chat_id == bindparam("b_chat"))
    .values(
        step=bindparam("p_step"),
        data=bindparam("p_data"),
        prompt_seq=bindparam("p_seq"),
        updated_at=bindparam("p_at"),
    )
)


async def load_step(
    session: AsyncSession, channel: str, chat_id: str, user_id: str
) -> tuple[ChatStep, PersonRecord | None]:
    """The chat's step and the person writing, as plain values, in one query once the chat
    is known (run on the driver, `storage.prepared`). A chat never seen gets a new step,
    written by `save_step`."""
    params = {"channel": channel, "chat": chat_id, "user": user_id}
    row = await _STEP_WITH_PERSON.first(session, **params)
    if row is None:
        person = await _PERSON_BY_IDENTITY.first(session, **params)
        return ChatStep(channel, chat_id, is_new=True), _record(person)
    step, data, seq = row[0], row[1], row[2]
    return ChatStep(channel, chat_id, step, dict(data or {}), int(seq or 0)), _record(row[3:])


def _record(row: Sequence[Any] | None) -> PersonRecord | None:
    """The person of a row's (id, full_name, phone, unit_id), if there is one."""
    if row is None or row[0] is None:
        return None
    return PersonRecord(row[0], row[1], row[2], row[3])


async def save_step(session: AsyncSession, conv: ChatStep) -> None:
    """Write the chat's step in one statement, if it changed, inside the caller's transaction
    (run on the driver, `storage.prepared`)."""
    if not conv.changed():
        return
    values = {"p_step": conv.step, "p_data": conv.data, "p_seq": conv.prompt_seq, "p_at": utcnow()}
    if conv.is_new:
        await _INSERT_STEP.rows(session, p_channel=conv.channel, p_chat=conv.chat_id, **values)
    else:
        await _UPDATE_STEP.rows(session, b_channel=conv.channel, b_chat=conv.chat_id, **values)
    conv.is_new = False
    conv.saved = (conv.step, conv.data, conv.prompt_seq)


_LOCK = Prepared(text("SELECT pg_advisory_xact_lock(:key)"))


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
    await _LOCK.rows(session, key=key)
