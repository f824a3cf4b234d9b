"""Organisations and units: import, lookup and accent-free search."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Organisation, Unit
from storage.prepared import Prepared
from storage.search_keys import fold

LEVELS = ("MN", "TH", "THCS", "other")


@dataclass(frozen=True)
class UnitRow:
    """One row of a units file."""

    name: str
    level: str
    code: str | None = None
    organisation: str | None = None


async def organisation(session: AsyncSession, name: str) -> Organisation:
    """The organisation called `name`, created if new."""
    org = await session.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        org = Organisation(name=name)
        session.add(org)
        await session.flush()
    return org


async def organisations(session: AsyncSession) -> list[Organisation]:
    """Every organisation, by name."""
    return list(await session.scalars(select(Organisation).order_by(Organisation.name)))


async def upsert(session: AsyncSession, row: UnitRow) -> tuple[Unit, bool]:
    """Insert or update a unit, matched by code, else by name. Returns (unit, created)."""
    unit = None
    if row.code:
        unit = await session.scalar(select(Unit).where(Unit.code == row.code))
    if unit is None:
        unit = await session.scalar(
            select(Unit).where(Unit.search_key == fold(row.name)).order_by(Unit.id).limit(1)
        )
    created = unit is None
    if unit is None:
        unit = Unit()
        session.add(unit)
    unit.name = row.name
    unit.search_key = fold(row.name)
    unit.level = row.level
    if row.code:
        unit.code = row.code
    if row.organisation:
        unit.organisation_id = (await organisation(session, row.organisation)).id
    await session.flush()
    return unit, created


async def search(session: AsyncSession, query: str, limit: int) -> list[Unit]:
    """Units whose name holds every word of `query`, accents ignored; best matches first."""
    words = fold(query).split()
    if not words:
        return []
    stmt = select(Unit)
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Unit.search_key.like(f"%{escaped}%", escape="\\"))
    code_match = await session.scalar(select(Unit).where(func.lower(Unit.code) == query.lower()))
    rows = list(
        await session.scalars(stmt.order_by(func.length(Unit.name), Unit.name).limit(limit))
    )
    if code_match is not None and code_match not in rows:
        rows = [code_match, *rows][:limit]
    return rows


async def find_one(session: AsyncSession, name: str) -> tuple[Unit | None, list[Unit]]:
    """The one unit named on a command line (by code, exact name, or a single search match),
    with the matches to list when there is not exactly one."""
    matches = await search(session, name, 9)
    exact = [u for u in matches if u.code == name or u.name == name]
    if len(exact) == 1:
        return exact[0], matches
    if len(matches) == 1:
        return matches[0], matches
    return None, matches


async def get(session: AsyncSession, unit_id: int) -> Unit | None:
    """A unit by id."""
    return await session.get(Unit, unit_id)


_EXISTS = Prepared(select(Unit.id).where(Unit.id == bindparam("unit")))


@dataclass(frozen=True, slots=True)
class UnitBrief:
    """What a chat text or a story's route needs of a unit: its name, its level (which names
    its head: "Hiệu trưởng" or "Chủ tịch công đoàn") and its organisation."""

    id: int
    name: str
    level: str
    organisation_id: int | None


_BRIEF = Prepared(
    select(Unit.id, Unit.name, Unit.level, Unit.organisation_id).where(Unit.id == bindparam("unit"))
)


async def brief(session: AsyncSession, unit_id: int | None) -> UnitBrief | None:
    """A unit's name, level and organisation, or None (no id, or no such unit): one indexed
    read on the driver, where loading the ORM row with its organisation costs a story's
    steps several times as much."""
    if unit_id is None:
        return None
    row = await _BRIEF.first(session, unit=unit_id)
    return UnitBrief(*row) if row is not None else None


async def exists(session: AsyncSession, unit_id: int) -> bool:
    """Whether a unit with this id exists (a pressed pick, checked without loading it)."""
    return await _EXISTS.scalar(session, unit=unit_id) is not None


async def count(session: AsyncSession) -> int:
    """How many units there are."""
    return await session.scalar(select(func.count()).select_from(Unit)) or 0
