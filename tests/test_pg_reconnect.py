"""A pooled PostgreSQL connection the server has closed is replaced before a transaction
uses it, without the round trips of a pre-ping on every checkout (`storage.db`)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from sqlalchemy import event, text

from bot.app import GuongSang
from storage import updates
from tests.backends import PG_ADMIN_DSN, postgresql_only

pytestmark = postgresql_only()


def _drivers_checked_out(app: GuongSang) -> list[Any]:
    """Every asyncpg connection the pool hands out from now on, in order."""
    seen: list[Any] = []

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        seen.append(dbapi_connection.driver_connection)

    event.listen(app.db.engine.sync_engine, "checkout", checkout)
    return seen


async def _claim(app: GuongSang, key: str) -> bool:
    async with app.db.transaction() as session:
        return await updates.claim(session, "telegram", key)


async def test_a_connection_closed_in_the_pool_is_replaced(app: GuongSang) -> None:
    drivers = _drivers_checked_out(app)
    assert await _claim(app, "before")
    closed = drivers[-1]
    closed.terminate()  # as if the socket had gone while the connection sat in the pool
    assert await _claim(app, "after")
    assert drivers[-1] is not closed and not drivers[-1].is_closed()


async def test_connections_the_server_ended_are_replaced(app: GuongSang) -> None:
    """A restart or an administrator's pg_terminate_backend ends every pooled connection;
    the next transaction runs on a new one, with nothing for the person to resend."""
    drivers = _drivers_checked_out(app)
    assert await asyncio.gather(*(_claim(app, f"busy-{n}") for n in range(3)))
    pooled = set(drivers)
    database = app.db.engine.url.database
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            database,
        )
    finally:
        await admin.close()
    assert ended >= 1
    # Wait (bounded) for the event loop to read each closed socket: an event, not a time.
    for _ in range(1000):
        if all(driver.is_closed() for driver in pooled):
            break
        await asyncio.sleep(0.01)
    assert all(driver.is_closed() for driver in pooled)
    assert await _claim(app, "after the restart")
    assert drivers[-1] not in pooled
    async with app.db.transaction() as session:
        keys = set(await session.scalars(text("SELECT update_key FROM processed_updates")))
    assert {"busy-0", "busy-1", "busy-2", "after the restart"} <= keys
