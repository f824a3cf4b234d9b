"""People and their channel identities."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Identity, Person


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
