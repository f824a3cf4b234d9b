"""Small fixed reads on the per-update path, run as prepared statements on SQLite's driver.

Through the ORM session, a one-row lookup costs SQLAlchemy's whole execution path (compiled
cache lookup, ORM compile state, result objects), several times what SQLite itself does for
it. A `Prepared` statement is written once as a Core construct, so it reads as any other
query and runs unchanged on PostgreSQL; on SQLite it is compiled once to SQL and run on the
driver inside the session's transaction (`sqlite_inline.driver_of`), where Python's sqlite3
keeps it compiled.

Only for statements whose parameters and columns need no type conversion (integers, text,
booleans read as 0 or 1), and for reads that do not need the session's pending objects
flushed first: the driver does not autoflush.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from storage import sqlite_inline


class Prepared:
    """A fixed Core statement, with its SQLite text compiled on first use."""

    __slots__ = ("_sqlite", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # (SQL, parameter names in order, the statement's own values), once compiled.
        self._sqlite: tuple[str, Sequence[str], dict[str, Any]] | None = None

    async def rows(self, session: AsyncSession, **params: Any) -> list[tuple[Any, ...]]:
        """Every row, as tuples."""
        driver = await sqlite_inline.driver_of(session)
        if driver is None:
            return [tuple(row) for row in await session.execute(self.statement, params)]
        sql, names, own = self._sqlite or self._compile(session.get_bind().dialect)
        values = own | params
        return driver.execute(sql, [values[name] for name in names]).fetchall()

    async def first(self, session: AsyncSession, **params: Any) -> tuple[Any, ...] | None:
        """The first row, or None."""
        rows = await self.rows(session, **params)
        return rows[0] if rows else None

    async def scalar(self, session: AsyncSession, **params: Any) -> Any:
        """The first column of the first row, or None."""
        row = await self.first(session, **params)
        return row[0] if row else None

    def _compile(self, dialect: Dialect) -> tuple[str, Sequence[str], dict[str, Any]]:
        compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        names = compiled.positiontup or []
        binds = [compiled.binds[name] for name in names]
        if any(bind.expanding for bind in binds):
            raise ValueError("a Prepared statement takes no IN lists: their length varies")
        # Values the statement carries itself (a role's name, a LIMIT), by parameter name;
        # a bindparam() without one must come with each call (a KeyError otherwise).
        own = {
            name: bind.effective_value
            for name, bind in zip(names, binds, strict=True)
            if not bind.required
        }
        self._sqlite = (str(compiled), names, own)
        return self._sqlite
