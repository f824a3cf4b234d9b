"""People and their channel identities."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Identity, Person


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


async def create_with_identity(
    session: AsyncSession, channel: str, external_id: str, chat_id: str, display_name: str
) -> Person:
    """A new person with their first channel account."""
    person = Person()
    session.add(person)
    await session.flush()
    session.add(
        Identity(
            person_id=person.id,
            channel=channel,
            external_id=external_id,
            chat_id=chat_id,
            display_name=display_name[:200] or None,
        )
    )
    await session.flush()
    return person
