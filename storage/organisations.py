"""The organisations of the nomination ladder as a tree: imported from a file, listed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import Organisation
from storage.nominations import OrganisationRow


async def parents(session: AsyncSession) -> dict[str, str | None]:
    """Every organisation's name → the name of the level above it (None at the top)."""
    parent = aliased(Organisation)
    rows = await session.execute(
        select(Organisation.name, parent.name).outerjoin(
            parent, parent.id == Organisation.parent_id
        )
    )
    return {name: above for name, above in rows}


async def upsert_tree(session: AsyncSession, rows: list[OrganisationRow]) -> tuple[int, int]:
    """Create the organisations of `rows` not there yet and set every row's parent (rows
    already checked: each parent exists in `rows` or the database, and no loop). Returns
    (created, updated): updated counts the existing ones whose parent changed."""
    names = [row.name for row in rows]
    found = await session.scalars(select(Organisation).where(Organisation.name.in_(names)))
    by_name = {org.name: org for org in found}
    created: set[str] = set()
    for row in rows:
        if row.name not in by_name:
            by_name[row.name] = Organisation(name=row.name)
            session.add(by_name[row.name])
            created.add(row.name)
    await session.flush()
    wanted = {row.parent for row in rows if row.parent and row.parent not in by_name}
    if wanted:
        for org in await session.scalars(select(Organisation).where(Organisation.name.in_(wanted))):
            by_name[org.name] = org
    updated = 0
    for row in rows:
        org = by_name[row.name]
        parent_id = by_name[row.parent].id if row.parent else None
        if org.parent_id != parent_id and row.name not in created:
            updated += 1
        org.parent_id = parent_id
    await session.flush()
    return len(created), updated


async def tree(session: AsyncSession) -> list[Organisation]:
    """Every organisation (the caller orders and indents them)."""
    return list(await session.scalars(select(Organisation)))
