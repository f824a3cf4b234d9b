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
import math
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

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

    @property
    def cpu_ms_per_update(self) -> float:
        """Processor milliseconds per update."""
        return self.cpu_seconds / self.updates * 1000 if self.updates else math.nan

    @property
    def rate(self) -> float:
        """Updates per second of wall time."""
        return self.updates / self.seconds if self.seconds else 0.0


async def _step(db: Database, chat: str, update_key: str) -> None:
    """One update's transaction, as the router opens it, with the step's data changed."""
    async with db.transaction() as session:
        await conversations.lock_chat(session, "telegram", chat)
        await updates.claim(session, "telegram", update_key)
        conv, _person = await conversations.load_with_person(session, "telegram", chat, chat)
        conv.data = {**conv.data, "seen": update_key}
        conv.prompt_seq += 1


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
    return Floor(updates=users * steps, seconds=seconds, cpu_seconds=cpu_seconds)


def ceiling(echo_cpu_ms: float, floor: Floor) -> float:
    """The highest form/echo ratio possible with the floor's cost on top of echo's own."""
    total = echo_cpu_ms + floor.cpu_ms_per_update
    return echo_cpu_ms / total if total else math.nan
