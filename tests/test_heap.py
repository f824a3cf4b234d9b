"""Once started, the bot's long-lived objects are out of the garbage collector's way.

A full collection walks every object the collector tracks; in a started bot most of them
live as long as the process. `bot.heap.settle` freezes them. Run in a child process, since
freezing is for the rest of a process's life.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import asyncio, gc, json, sys
    from pathlib import Path
    from bot import heap
    from bot.app import GuongSang
    from bot.settings import Settings

    async def main():
        settings = Settings(_env_file=None, data_dir=Path(sys.argv[1]))
        app = GuongSang(settings)
        await app.start()
        before = len(gc.get_objects())
        heap.settle()
        after = len(gc.get_objects())
        await app.close()
        print(json.dumps({"before": before, "after": after, "frozen": gc.get_freeze_count()}))

    asyncio.run(main())
    """
)


def test_a_started_bot_leaves_little_for_the_collector(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    counts = json.loads(child.stdout.strip().splitlines()[-1])
    assert counts["before"] > 50_000  # what a full collection walked
    assert counts["frozen"] >= counts["before"] * 0.9
    assert counts["after"] < counts["before"] / 50, counts
