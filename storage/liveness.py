"""Which outbox workers are alive: each holds a lock that dies with its process.

A worker names its claims with a token. While it lives it holds a lock named by that token:
a session advisory lock on PostgreSQL (held by a connection of its own), an exclusive `flock`
on a file beside the database on SQLite. The operating system or the database server drops
the lock the moment the process dies or its connection is cut, so another worker can tell at
once that a claim's holder is gone, instead of waiting out the claim's lease.

A token with no lock to test (a worker of an older version, a database in memory) is never
called dead here: its claims are taken back when their lease runs out, as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database

log = logging.getLogger(__name__)

_LOCK = text("SELECT pg_advisory_lock(:key)")
_TRY = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def _key(token: str) -> int:
    # A claim token is 32 hex digits; 15 of them make a positive 64-bit advisory key.
    return int(token[:15], 16)


class Liveness:
    """Holds this worker's lock and tests other workers' locks."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: AsyncConnection | None = None
        self._fd: int | None = None
        self._token: str | None = None
        self._dir: Path | None = None
        if db.is_sqlite:
            path = make_url(db.url).database or ":memory:"
            if path != ":memory:":
                self._dir = Path(f"{path}-workers")

    @property
    def held(self) -> bool:
        """Whether this worker holds its lock now."""
        return self._fd is not None or self._connection is not None

    async def hold(self, token: str) -> None:
        """Take this worker's lock (idempotent)."""
        self._token = token
        if self.held:
            return
        if self.db.is_sqlite:
            if self._dir is None:
                return
            self._dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._dir / token, os.O_CREAT | os.O_RDWR, 0o600)
            # Never blocks: the token is this process's own.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fd = fd
            return
        connection = await self.db.engine.connect()
        try:
            await connection.execute(_LOCK, {"key": _key(token)})
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def keep(self) -> None:
        """Take the lock again if its connection was cut (the server may have restarted)."""
        if self._connection is None or self._token is None:
            return
        try:
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception:
            log.warning("outbox: the connection holding this worker's lock was lost; again")
            with contextlib.suppress(Exception):
                await self._connection.invalidate()
            self._connection = None
            await self.hold(self._token)

    async def is_dead(self, token: str) -> bool:
        """Whether the worker that named its claims `token` is gone (its lock is free)."""
        if token == self._token:
            return False
        if self.db.is_sqlite:
            return self._file_is_free(token)
        async with self.db.engine.connect() as connection:
            free = bool(await connection.scalar(_TRY, {"key": _key(token)}))
            if free:
                await connection.execute(_UNLOCK, {"key": _key(token)})
            await connection.commit()
        return free

    def _file_is_free(self, token: str) -> bool:
        if self._dir is None or not all(c in "0123456789abcdef" for c in token):
            return False
        path = self._dir / token
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        else:
            # Nobody holds it: its worker died. The file has served its purpose.
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return True
        finally:
            os.close(fd)

    async def release(self) -> None:
        """Let the lock go (the worker stops); idempotent."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if self._dir is not None and self._token is not None:
                with contextlib.suppress(FileNotFoundError):
                    (self._dir / self._token).unlink()
            os.close(fd)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await connection.execute(_UNLOCK, {"key": _key(self._token or "0")})
                await connection.commit()
            await connection.close()
