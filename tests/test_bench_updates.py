"""`python -m bench.updates`, run as the README gives it, with two people instead of 200.

The figures themselves are the benchmark's business; what is checked here is that it still
drives every person through the whole form on both bots and prints every part of its report.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from bench import step_floor, updates
from tests.backends import postgresql_only

REPO = Path(__file__).resolve().parents[1]


def test_the_updates_benchmark_walks_everyone_through_and_reports_its_ceiling() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.updates", "--users", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    rows = {
        line.split()[0]: line.split()
        for line in lines
        if line.startswith(("full ", "peer ", "echo "))
    }
    # Name (two words for the form), users, updates, …, done is the fourth column from the end.
    assert rows["full"][-3] == rows["peer"][-3] == rows["echo"][-3] == "2", run.stdout
    assert rows["full"][3] == rows["peer"][2] == rows["echo"][2] == "28", run.stdout  # 14 steps
    # The durable peer writes to its database on every step; echo has none.
    assert float(rows["peer"][8]) >= 2.0 and rows["echo"][8] == "nan", run.stdout
    # The form makes more Bot API calls per update than echo's one answer.
    form_calls, echo_calls = float(rows["full"][-4]), float(rows["echo"][-4])
    assert form_calls > echo_calls >= 1.0, run.stdout
    floor = next(line for line in lines if line.startswith("floor:"))
    ceiling = float(re.search(r"could pass a ratio of ([0-9.]+)", floor)[1])  # type: ignore[index]
    assert 0 < ceiling < 1
    orm, bare = re.search(
        r"([0-9.]+) ms of processor time per update \(.*sqlite3: ([0-9.]+) ms", floor
    ).groups()  # type: ignore[union-attr]
    assert 0 < float(bare) < float(orm), "SQLite alone costs less than through the layers"
    assert re.search(r"with 2 people sending without pause, each would wait [0-9]+ ms", floor)
    assert lines[-1].startswith("updates: 2 users") and f"ceiling {ceiling:.2f}" in lines[-1]
    assert re.search(r"full form ÷ durable peer [0-9.]+ \(target >= 1\.0\)", lines[-1])


@postgresql_only()
async def test_on_postgresql_it_counts_what_runs_beneath_sqlalchemy(
    backend: str, database_url: str
) -> None:
    """Statements of `storage.prepared` run on asyncpg itself, and SQLAlchemy begins and
    commits there too: the count must see them, or PostgreSQL's figure looks cheaper than
    SQLite's for the same work. (The full form alone, in this process: the command's other
    bots do not touch PostgreSQL.)"""
    result = await updates.bench_full_form(2, database_url, int(time.time()) * 1000)
    assert result.completed == 2 and result.updates == 28
    # Every update at least begins, claims itself, reads its step, writes it and commits.
    assert result.statements_per_update >= 5.0


async def test_the_floor_alone_reports_its_cost_per_update() -> None:
    """`python -m bench.step_floor`: one person's transactions, with sqlite3's own cost."""
    line = await step_floor.main(users=1, steps=20, database_url=None)
    assert line.startswith("floor: 1 people × 20 steps, "), line
    assert "ms of processor time per update" in line and "straight on sqlite3" in line
