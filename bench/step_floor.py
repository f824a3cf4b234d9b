"""The least a step of the form costs the bot before any of its own logic runs.

Every update the bot handles is committed before it is answered (a draft is never only in
memory), and every one goes through the same opening as `handlers.router.handle`: take the
chat's turn, claim the update's id, read the chat's conversation and the person writing, and
save the step. This measures only that transaction, through the real storage on the real
engine, as many times as the form has updates, with the same number of people at once.

Its processor time per update, added to the bare echo bot's, bounds the ratio any form that
commits each step on this stack (SQLAlchemy's async ORM over aiosqlite or asyncpg) can reach
against the echo bot: `echo / (echo + floor)`, before a single message is composed or any of
the form's extra Bot API calls (buttons taken away, presses answered) is made.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.settings import Settings
from storage import conversations, updates
from storage.db import Database
from tests.apps import Clock, start_app


@dataclass(frozen=True)
class Floor:
    """One timed run of the floor."""

    updates: int
    seconds: float
    cpu_seconds: float
    # The same statements straight on Python's sqlite3, same file (SQLite runs only): what
    # the database itself costs, without the layers above it.
    driver_cpu_seconds: float | None = None

    @property
    def cpu_ms_per_update(self) -> float:
        """Processor milliseconds per update."""
        return self.cpu_seconds / self.updates * 1000 if self.updates else math.nan

    @property
    def driver_ms_per_update(self) -> float:
        """Processor milliseconds per update of the bare sqlite3 run (NaN if none)."""
        if self.driver_cpu_seconds is None or not self.updates:
            return math.nan
        return self.driver_cpu_seconds / self.updates * 1000

    @property
    def rate(self) -> float:
        """Updates per second of wall time."""
        return self.updates / self.seconds if self.seconds else 0.0


async def _step(db: Database, chat: str, update_key: str) -> None:
    """One update's transaction, as the router opens it, with the step's data changed."""
    async with db.transaction() as session:
        await conversations.lock_chat(session, "telegram", chat)
        await updates.claim(session, "telegram", update_key)
        conv, _person = await conversations.load_step(session, "telegram", chat, chat)
        conv.data = {**conv.data, "seen": update_key}
        conv.prompt_seq += 1
        await conversations.save_step(session, conv)


async def bench_floor(
    users: int, steps: int, database_url: str | None, first_id: int, config: Path, now: datetime
) -> Floor:
    """`users` people at once, each making `steps` updates that do nothing but the floor."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            database_url=database_url,
            config=config,
        )
        app = await start_app(settings, Clock(now), with_units=False)
        try:
            chats = [str(first_id + n) for n in range(1, users + 1)]
            # Each chat's conversation exists before timing, as it does after the form's /start.
            await asyncio.gather(*(_step(app.db, chat, f"{chat}:0") for chat in chats))

            async def walk(chat: str) -> None:
                for n in range(1, steps + 1):
                    await _step(app.db, chat, f"{chat}:{n}")

            started, cpu_started = time.perf_counter(), time.process_time()
            await asyncio.gather(*(walk(chat) for chat in chats))
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        finally:
            await app.close()
        driver = None
        if app.db.is_sqlite:
            driver = _bare_sqlite(make_url(app.db.url).database or "", chats, steps)
    return Floor(
        updates=users * steps, seconds=seconds, cpu_seconds=cpu_seconds, driver_cpu_seconds=driver
    )


def _bare_sqlite(path: str, chats: list[str], steps: int) -> float:
    """Processor seconds for the floor's statements on Python's sqlite3, one chat after
    another (nothing to wait for), with the bot's own settings (WAL, synchronous=NORMAL)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    at = datetime.now(UTC).isoformat(" ")
    started = time.process_time()
    for n in range(steps):
        for chat in chats:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT INTO processed_updates (channel, update_key, at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                ("telegram", f"{chat}:bare:{n}", at),
            )
            row = db.execute(_CONVERSATION_WITH_PERSON, ("telegram", chat, "telegram", chat))
            conv_id, data, seq = row.fetchone()[:3]
            db.execute(
                "UPDATE conversations SET data = ?, prompt_seq = ?, updated_at = ? WHERE id = ?",
                (json.dumps({**json.loads(data), "seen": n}), seq + 1, at, conv_id),
            )
            db.execute("COMMIT")
    used = time.process_time() - started
    db.close()
    return used


_CONVERSATION_WITH_PERSON = (
    "SELECT conversations.id, conversations.data, conversations.prompt_seq, people.* "
    "FROM conversations "
    "LEFT OUTER JOIN identities ON identities.channel = ? AND identities.external_id = ? "
    "LEFT OUTER JOIN people ON people.id = identities.person_id "
    "WHERE conversations.channel = ? AND conversations.chat_id = ?"
)


def ceiling(echo_cpu_ms: float, floor: Floor) -> float:
    """The highest form/echo ratio possible with the floor's cost on top of echo's own."""
    total = echo_cpu_ms + floor.cpu_ms_per_update
    return echo_cpu_ms / total if total else math.nan


async def main(users: int, steps: int, database_url: str | None) -> str:
    """Run the floor alone and say what it cost; returns the line printed."""
    from bench.updates import FIXTURES, NOW

    floor = await bench_floor(
        users, steps, database_url, int(time.time()) * 1000, FIXTURES / "campaigns.toml", NOW
    )
    line = (
        f"floor: {users} people × {steps} steps, {floor.cpu_ms_per_update:.3f} ms of processor "
        f"time per update, {floor.rate:,.0f} upd/s"
    )
    if floor.driver_cpu_seconds is not None:
        line += f" (the same statements straight on sqlite3: {floor.driver_ms_per_update:.3f} ms)"
    print(line)
    return line


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(
        description="The transaction every step opens with, alone: "
        "`python -m bench.step_floor --users 1` for one person at a time (people's pace)."
    )
    parser.add_argument("--users", type=int, default=1, help="people writing at once")
    parser.add_argument("--steps", type=int, default=3000, help="updates per person")
    parser.add_argument("--database-url", default=None, help="a scratch database")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.steps, args.database_url))
