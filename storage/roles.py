"""Role grants and who holds them: unit heads, reviewers by level, admins."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Identity, Person, RoleGrant
from storage.people import PersonRecord
from storage.prepared import Prepared

UNIT_HEAD = "unit_head"
REVIEWER = "reviewer"
ADMIN = "admin"
ROLES = (UNIT_HEAD, REVIEWER, ADMIN)


async def grant(
    session: AsyncSession,
    person_id: int,
    role: str,
    unit_id: int | None = None,
    organisation_id: int | None = None,
    levels: str | None = None,
) -> RoleGrant:
    """Give a person a role (kept alongside the roles they already hold)."""
    row = RoleGrant(
        person_id=person_id,
        role=role,
        unit_id=unit_id,
        organisation_id=organisation_id,
        levels=levels,
    )
    session.add(row)
    await session.flush()
    return row


async def of(session: AsyncSession, person_id: int) -> list[RoleGrant]:
    """Every role a person holds."""
    return list(await session.scalars(select(RoleGrant).where(RoleGrant.person_id == person_id)))


def covers_level(grant_row: RoleGrant, level: str) -> bool:
    """Whether a reviewer grant covers a school level (no levels means all)."""
    if not grant_row.levels:
        return True
    return level in grant_row.levels.split(",")


async def holders(session: AsyncSession, role: str) -> list[tuple[RoleGrant, Person]]:
    """Every grant of `role` with its person."""
    rows = await session.execute(
        select(RoleGrant, Person)
        .join(Person, Person.id == RoleGrant.person_id)
        .where(RoleGrant.role == role)
        .order_by(RoleGrant.id)
    )
    return [(g, p) for g, p in rows]


# A unit's own grants only (a city has hundreds of unit heads, and previews and submissions
# ask about one unit).
_UNIT_HEADS = Prepared(
    select(Person.id, Person.full_name, Person.phone, Person.unit_id)
    .join(RoleGrant, RoleGrant.person_id == Person.id)
    .where(RoleGrant.role == UNIT_HEAD, RoleGrant.unit_id == bindparam("unit"))
    .order_by(RoleGrant.id)
)
_HEADS_UNIT = Prepared(
    select(RoleGrant.id)
    .where(
        RoleGrant.role == UNIT_HEAD,
        RoleGrant.unit_id == bindparam("unit"),
        RoleGrant.person_id == bindparam("person"),
    )
    .limit(1)
)


async def unit_heads(session: AsyncSession, unit_id: int) -> list[PersonRecord]:
    """The heads of one unit (each once, in the order they were made heads), as plain values
    (one statement on the driver: a story's submission asks for them)."""
    found: dict[int, PersonRecord] = {}
    for row in await _UNIT_HEADS.rows(session, unit=unit_id):
        found.setdefault(row[0], PersonRecord(*row))
    return list(found.values())


async def heads_unit(session: AsyncSession, person_id: int, unit_id: int) -> bool:
    """Whether the person is a head of the unit."""
    found = await _HEADS_UNIT.scalar(session, unit=unit_id, person=person_id)
    return found is not None


async def reviewers(session: AsyncSession, level: str, organisation_id: int | None) -> list[Person]:
    """Reviewers whose levels and organisation cover a unit."""
    found: dict[int, Person] = {}
    for g, p in await holders(session, REVIEWER):
        same_org = g.organisation_id is None or g.organisation_id == organisation_id
        if same_org and covers_level(g, level):
            found[p.id] = p
    return list(found.values())


_CHATS_OF = Prepared(
    select(Identity.channel, Identity.chat_id)
    .where(Identity.person_id == bindparam("person"), Identity.chat_id.is_not(None))
    .order_by(Identity.id)
)
_ADMIN_CHATS = Prepared(
    select(Identity.channel, Identity.chat_id)
    .join(RoleGrant, RoleGrant.person_id == Identity.person_id)
    .where(RoleGrant.role == ADMIN, Identity.chat_id.is_not(None))
    .order_by(RoleGrant.id, Identity.id)
)


async def chats_of(session: AsyncSession, person_id: int) -> list[tuple[str, str]]:
    """(channel, chat id) of every account through which a person can be reached."""
    return [(channel, chat) for channel, chat in await _CHATS_OF.rows(session, person=person_id)]


async def admin_chats(session: AsyncSession) -> list[tuple[str, str]]:
    """(channel, chat id) of every account of everyone granted the admin role, in the order
    the grants were made."""
    return [(channel, chat) for channel, chat in await _ADMIN_CHATS.rows(session)]


async def identities(session: AsyncSession, person_id: int) -> list[Identity]:
    """The channel accounts through which a person can be reached."""
    rows = await session.scalars(
        select(Identity).where(Identity.person_id == person_id, Identity.chat_id.is_not(None))
    )
    return list(rows)


async def person_by_identity_pair(
    session: AsyncSession, channel: str, external_id: str
) -> Person | None:
    """The person behind (channel, id), as named in GUONGSANG_ADMINS."""
    return await session.scalar(
        select(Person)
        .join(Identity, Identity.person_id == Person.id)
        .where(Identity.channel == channel, Identity.external_id == external_id)
    )
