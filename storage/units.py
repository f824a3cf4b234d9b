"""Organisations and units: import, lookup and accent-free search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, or_, select
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


def _like_word(word: str) -> str:
    """A LIKE pattern for names holding `word`, its own wildcards taken literally."""
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matching(words: Sequence[Any], code: Any, columns: Sequence[Any]) -> Select[Any]:
    """`columns` of the units whose name holds every word (LIKE patterns of folded words,
    or bind parameters for them) or whose lower-cased code is `code`: the code's match
    first, then the shortest names."""
    by_words = and_(*(Unit.search_key.like(word, escape="\\") for word in words))
    by_code = func.lower(Unit.code) == code
    return (
        select(*columns)
        .where(or_(by_words, by_code))
        .order_by(case((by_code, 0), else_=1), func.length(Unit.name), Unit.name)
    )


async def search(session: AsyncSession, query: str, limit: int) -> list[Unit]:
    """Units whose name holds every word of `query`, accents ignored; best matches first
    (a unit whose code is `query` before them)."""
    words = fold(query).split()
    if not words:
        return []
    stmt = _matching([_like_word(w) for w in words], query.lower(), [Unit]).limit(limit)
    return list(await session.scalars(stmt))


_BRIEF_COLUMNS = (Unit.id, Unit.name, Unit.level, Unit.organisation_id)
# A unit is named in a few words: queries of up to this many run as prepared statements.
_PREPARED_WORDS = 8


@cache
def _briefs_matching(words: int) -> Prepared:
    """The prepared search for queries of `words` words."""
    return Prepared(
        _matching(
            [bindparam(f"w{n}") for n in range(words)], bindparam("code"), _BRIEF_COLUMNS
        ).limit(bindparam("limit"))
    )


async def search_briefs(session: AsyncSession, query: str, limit: int) -> list[UnitBrief]:
    """`search` as plain values, for a chat's unit question: no ORM rows loaded, and a
    statement compiled once per number of words."""
    words = fold(query).split()
    if not words:
        return []
    patterns = [_like_word(w) for w in words]
    if len(words) > _PREPARED_WORDS:
        stmt = _matching(patterns, query.lower(), _BRIEF_COLUMNS).limit(limit)
        return [UnitBrief(*row) for row in await session.execute(stmt)]
    params = {f"w{n}": pattern for n, pattern in enumerate(patterns)}
    rows = await _briefs_matching(len(words)).rows(
        session, code=query.lower(), limit=limit, **params
    )
    return [UnitBrief(*row) for row in rows]


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
