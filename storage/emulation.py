"""Emulation blocks, criteria sheet versions and score cards: reads and writes, no wording."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import roles
from storage.db import upsert_insert
from storage.emulation_models import EmulationBlock, EmulationCard, EmulationSheet
from storage.models import Person, Unit, utcnow

# Card statuses: being filled, sent to the block, sent back for changes, scores settled.
DRAFT, SUBMITTED, RETURNED, SCORED = "draft", "submitted", "returned", "scored"
EDITABLE = (DRAFT, RETURNED)
IN_BLOCK_HANDS = (SUBMITTED, SCORED)


@dataclass
class BlockRow:
    """A block as the campaigns file or an import describes it, units already resolved."""

    slug: str
    name: str
    year: int
    head_unit_id: int
    deputy_unit_id: int | None
    member_ids: list[int]
    settings: dict[str, Any] = field(default_factory=dict)


async def upsert_block(session: AsyncSession, row: BlockRow) -> tuple[EmulationBlock, bool]:
    """Create or update the block with this slug; returns (block, created)."""
    block = await session.scalar(select(EmulationBlock).where(EmulationBlock.slug == row.slug))
    created = block is None
    if block is None:
        block = EmulationBlock(slug=row.slug)
        session.add(block)
    block.name, block.year = row.name, row.year
    block.head_unit_id, block.deputy_unit_id = row.head_unit_id, row.deputy_unit_id
    members = list(dict.fromkeys([row.head_unit_id, *row.member_ids]))
    if row.deputy_unit_id is not None and row.deputy_unit_id not in members:
        members.append(row.deputy_unit_id)
    block.settings = {**row.settings, "members": members}
    await session.flush()
    return block, created


async def blocks(session: AsyncSession) -> list[EmulationBlock]:
    """Every block, newest year first, then by name."""
    rows = await session.scalars(
        select(EmulationBlock).order_by(EmulationBlock.year.desc(), EmulationBlock.name)
    )
    return list(rows.unique())


async def block(session: AsyncSession, block_id: int) -> EmulationBlock | None:
    """A block by id."""
    return await session.get(EmulationBlock, block_id)


async def block_by_slug(session: AsyncSession, slug: str) -> EmulationBlock | None:
    """A block by its slug."""
    return await session.scalar(select(EmulationBlock).where(EmulationBlock.slug == slug))


def member_ids(b: EmulationBlock) -> list[int]:
    """The block's member unit ids, head and deputy included."""
    return [int(i) for i in b.settings.get("members", [])]


async def members(session: AsyncSession, b: EmulationBlock) -> list[Unit]:
    """The block's member units, in the order the block lists them."""
    ids = member_ids(b)
    found = {u.id: u for u in await session.scalars(select(Unit).where(Unit.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


async def headed_units(session: AsyncSession, person_id: int) -> list[int]:
    """The units a person heads (their unit-head grants)."""
    return [
        g.unit_id
        for g in await roles.of(session, person_id)
        if g.role == roles.UNIT_HEAD and g.unit_id is not None
    ]


def leads(b: EmulationBlock, unit_ids: list[int]) -> bool:
    """Whether one of these units is the block's head or deputy unit."""
    return b.head_unit_id in unit_ids or (
        b.deputy_unit_id is not None and b.deputy_unit_id in unit_ids
    )


def member_unit(b: EmulationBlock, unit_ids: list[int]) -> int | None:
    """The first of these units that is a member of the block."""
    return next((u for u in unit_ids if u in member_ids(b)), None)


async def blocks_of(session: AsyncSession, person_id: int) -> list[EmulationBlock]:
    """The blocks a person leads or belongs to through the units they head."""
    units = await headed_units(session, person_id)
    if not units:
        return []
    return [b for b in await blocks(session) if leads(b, units) or member_unit(b, units)]


async def add_sheet(
    session: AsyncSession, block_id: int, title: str, data: dict[str, Any], now: datetime
) -> EmulationSheet:
    """Store a new version of the block's criteria (not yet published)."""
    last = await session.scalar(
        select(func.max(EmulationSheet.version)).where(EmulationSheet.block_id == block_id)
    )
    sheet = EmulationSheet(
        block_id=block_id, version=(last or 0) + 1, title=title, data=data, created_at=now
    )
    session.add(sheet)
    await session.flush()
    return sheet


async def add_sheet_if_changed(
    session: AsyncSession, block_id: int, title: str, data: dict[str, Any], now: datetime
) -> tuple[EmulationSheet, bool]:
    """The newest version when `data` is the same as it, else a new version; (sheet, new)."""
    latest = await latest_sheet(session, block_id)
    if latest is not None and latest.data == data:
        return latest, False
    return await add_sheet(session, block_id, title, data, now), True


async def latest_sheet(session: AsyncSession, block_id: int) -> EmulationSheet | None:
    """The newest version of the block's criteria, published or not."""
    return await session.scalar(
        select(EmulationSheet)
        .where(EmulationSheet.block_id == block_id)
        .order_by(EmulationSheet.version.desc())
        .limit(1)
    )


async def published_sheet(session: AsyncSession, block_id: int) -> EmulationSheet | None:
    """The newest published version of the block's criteria: the one members score."""
    return await session.scalar(
        select(EmulationSheet)
        .where(EmulationSheet.block_id == block_id, EmulationSheet.published_at.is_not(None))
        .order_by(EmulationSheet.version.desc())
        .limit(1)
    )


async def sheet(session: AsyncSession, sheet_id: int) -> EmulationSheet | None:
    """A sheet version by id."""
    return await session.get(EmulationSheet, sheet_id)


async def card(session: AsyncSession, block_id: int, unit_id: int) -> EmulationCard:
    """The unit's card in the block, created empty on first use.

    Created with ON CONFLICT DO NOTHING: two heads of one unit opening it at once, in two
    chats, both get the one card.
    """
    where = (EmulationCard.block_id == block_id, EmulationCard.unit_id == unit_id)
    found = await session.scalar(select(EmulationCard).where(*where))
    if found is None:
        insert = upsert_insert(session)
        await session.execute(
            insert(EmulationCard)
            .values(
                block_id=block_id, unit_id=unit_id, status=DRAFT, scores={}, registration={},
                reports={}, late=False, updated_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )  # fmt: skip
        found = await session.scalar(select(EmulationCard).where(*where))
        assert found is not None
    return found


async def card_by_id(
    session: AsyncSession, card_id: int, lock: bool = False
) -> EmulationCard | None:
    """A card by id; `lock` holds its row on PostgreSQL until the transaction ends."""
    stmt = select(EmulationCard).where(EmulationCard.id == card_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=EmulationCard)
    return await session.scalar(stmt)


async def cards(session: AsyncSession, block_id: int) -> list[EmulationCard]:
    """Every card of the block."""
    rows = await session.scalars(
        select(EmulationCard).where(EmulationCard.block_id == block_id).order_by(EmulationCard.id)
    )
    return list(rows.unique())


async def person(session: AsyncSession, person_id: int | None) -> Person | None:
    """A person by id (for who registered, signed or submitted)."""
    return None if person_id is None else await session.get(Person, person_id)
