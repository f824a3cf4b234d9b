"""Resident memory before and after N open drafts (default 10,000), in one process.

Each simulated person registers and fills the story form up to and including the first part
of the story, through the real application (`GuongSang.handle`, console channel events), so
the drafts are real drafts. Drafts live in the database; the figure shows what the process
itself keeps per person (flood buckets, caches), which must stay small.

    python -m bench.memory [--drafts 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.app import GuongSang
from bot.settings import Settings
from tests.apps import Clock, start_app
from tests.drivers import TO_STORY_STEP, to_story_step, typed

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
STORY = "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn."
EVENTS_PER_DRAFT = len(TO_STORY_STEP) + 1


def rss_mb() -> float:
    """This process's resident memory in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def open_draft(app: GuongSang, chat: str) -> None:
    """Register and fill the form up to the first part of the story."""
    await to_story_step(app, chat)
    await app.handle(typed(chat, STORY))


async def main(drafts: int, database_url: str | None, batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            database_url=database_url,
            config=FIXTURES / "campaigns.toml",
            # One person here sends eleven messages in a row as fast as the bot answers.
            user_message_burst=100,
        )
        app = await start_app(settings, Clock(datetime(2024, 1, 10, 3, 0, tzinfo=UTC)))
        await open_draft(app, "warm-up")  # imports, templates and caches loaded
        gc.collect()
        before = rss_mb()
        started = time.perf_counter()
        for first in range(0, drafts, batch):
            chats = [f"p{n}" for n in range(first, min(drafts, first + batch))]
            await asyncio.gather(*(open_draft(app, chat) for chat in chats))
        seconds = time.perf_counter() - started
        gc.collect()
        after = rss_mb()
        await app.close()
    growth = after - before
    per_draft_kb = growth * 1024 / drafts
    backend = "PostgreSQL" if database_url else "SQLite"
    print(f"{'drafts':>8} {'events':>8} {'seconds':>8} {'RSS before':>11} {'RSS after':>10}")
    print(
        f"{drafts:>8} {drafts * EVENTS_PER_DRAFT:>8} {seconds:>8.1f} "
        f"{before:>9.1f}MB {after:>8.1f}MB"
    )
    print(
        f"memory: {drafts} open drafts on {backend}: RSS {before:.1f} → {after:.1f} MiB, "
        f"growth {growth:.1f} MiB ({per_draft_kb:.2f} KiB per draft; target < 50 MiB)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--drafts", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--batch", type=int, default=50, help="people writing at once")
    args = parser.parse_args()
    asyncio.run(main(args.drafts, args.database_url, args.batch))
