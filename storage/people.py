"""People and their channel identities."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Identity, Person, utcnow
from storage.prepared import Prepared, insert_row


class PersonRecord:
    """The person writing, as plain values: what the per-update path reads of them.

    Most updates need only who is writing (their id, whether registered, their unit). An
    ORM `Person` with its unit and organisation joined cost more to load than the update's
    whole transaction otherwise; handlers that change a person or show their unit ask for
    the ORM row (`Ctx.person_row`). Same attribute names as `Person`, read-only.
    """

    __slots__ = ("full_name", "id", "phone", "unit_id")

    def __init__(
        self, id: int, full_name: str | None, phone: str | None, unit_id: int | None
    ) -> None:
        self.id = id
        self.full_name = full_name
        self.phone = phone
        self.unit_id = unit_id

    @property
    def registered(self) -> bool:
        """Whether the person has given every registration field (as `Person.registered`)."""
        return bool(self.full_name and self.phone and self.unit_id)

    def __repr__(self) -> str:
        return f"PersonRecord(id={self.id})"


async def by_identity(session: AsyncSession, channel: str, external_id: str) -> Person | None:
    """The person behind a channel account, if known."""
    return await session.scalar(
        select(Person)
        .join(Identity, Identity.person_id == Person.id)
        .where(Identity.channel == channel, Identity.external_id == external_id)
    )


_NEW_PERSON = Prepared(
    Person.__table__.insert()
    .values(created_at=bindparam("n_at"), updated_at=bindparam("n_at"))
    .returning(Person.__table__.c.id)
)
_NEW_IDENTITY = Prepared(insert_row(Identity.__table__, "i_"))


async def create_record(
    session: AsyncSession, channel: str, external_id: str, chat_id: str, display_name: str
) -> PersonRecord:
    """A new person with their first channel account, as plain values: two INSERTs on the
    driver (what a first /start needs; `create_with_identity` loads the ORM row after)."""
    at = utcnow()
    person_id = await _NEW_PERSON.scalar(session, n_at=at)
    await _NEW_IDENTITY.rows(
        session,
        i_person_id=person_id,
        i_channel=channel,
        i_external_id=external_id,
        i_chat_id=chat_id,
        i_display_name=display_name[:200] or None,
        i_created_at=at,
    )
    return PersonRecord(person_id, None, None, None)


_SAVE_PROFILE = Prepared(
    update(Person.__table__)
    .where(Person.__table__.c.id == bindparam("s_id"))
    .values(
        full_name=bindparam("s_name"),
        unit_id=bindparam("s_unit"),
        phone=bindparam("s_phone"),
        updated_at=bindparam("s_at"),
    )
)


async def save_profile(
    session: AsyncSession,
    person_id: int,
    *,
    full_name: str,
    unit_id: int | None,
    phone: str,
    at: datetime,
) -> PersonRecord:
    """Write a person's name, unit and phone in one statement on the driver; returns them
    as plain values. An ORM row of theirs this session holds is read again, so it does not
    show what was there before."""
    await _SAVE_PROFILE.rows(
        session, s_id=person_id, s_name=full_name, s_unit=unit_id, s_phone=phone, s_at=at
    )
    sync = session.sync_session
    held = sync.identity_map.get(sync.identity_key(Person, person_id))
    if held is not None:
        await session.refresh(held)
    return PersonRecord(person_id, full_name, phone, unit_id)


async def create_with_identity(
    session: AsyncSession, channel: str, external_id: str, chat_id: str, display_name: str
) -> Person:
    """A new person with their first channel account, as an ORM row (for handlers that go
    on to change it): written by `create_record`, then loaded."""
    record = await create_record(session, channel, external_id, chat_id, display_name)
    person = await session.get(Person, record.id)
    assert person is not None
    return person
