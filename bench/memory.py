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
import itertools
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.app import GuongSang
from bot.settings import Settings
from bot.units_file import read_units
from handlers.types import Event
from storage import units

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
STEPS = (
    "/start", "Nguyễn Thị Hoa", "thcs le quy don", "1", "0912345678", "/new",
    "Nguyễn Thị Lan", "Trường Tiểu học Kim Giang", "An toàn trường học", "Cô giáo Lan",
    "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn.",
)  # fmt: skip
_keys = itertools.count(1)


def rss_mb() -> float:
    """This process's resident memory in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def typed(chat: str, text: str) -> Event:
    command, _, args = text[1:].partition(" ") if text.startswith("/") else ("", "", "")
    return Event(
        channel="console", chat_id=chat, user_id=chat, user_name=chat,
        kind="command" if command else "text", command=command, args=args, text=text,
        update_key=f"m{next(_keys)}", has_buttons=False,
    )  # fmt: skip


async def open_draft(app: GuongSang, chat: str) -> None:
    for text in STEPS:
        await app.handle(typed(chat, text))


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
        app = GuongSang(settings, clock=lambda: datetime(2024, 1, 10, 3, 0, tzinfo=UTC))
        await app.start()
        async with app.db.transaction() as session:
            for row in read_units(FIXTURES / "units-thanh-xuan.csv").rows:
                await units.upsert(session, row)
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
    print(f"{drafts:>8} {drafts * len(STEPS):>8} {seconds:>8.1f} {before:>9.1f}MB {after:>8.1f}MB")
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
