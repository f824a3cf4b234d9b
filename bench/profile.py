"""Where an update's processor time goes, per library, for the full form, the durable peer
and the echo bot of `bench.updates`, in one run.

Each bot walks the same people through the same story as in `bench.updates`, under cProfile.
Every function's own time (not what it calls) is put in the package its code lives in; C
functions called from Python (sqlite3's execute, json's encoder, a dict's get) count where
they are implemented when cProfile names their module, else as "builtins". The harness
(people, the in-process Bot API) is a row of its own, the same for the three bots, so the
bot's own share is what is left.

    python -m bench.profile [--users 100] [--top 15]

The profiler makes every Python call dearer, C code not, so the milliseconds are larger than
`bench.updates` prints and Python-heavy libraries weigh more; read the shares side by side.
The function calls per update are counted, not timed: they do not drift with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import logging
import pstats
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import updates

REPO = Path(__file__).resolve().parents[1]
# Our own top-level folders, each a row.
OURS = ("handlers", "storage", "bot", "templates")
# Harness code: the same work for every bot, kept apart.
HARNESS = ("bench",)


def package_of(filename: str, function: str) -> str:
    """The row a function's own time goes to."""
    if filename == "~":
        # A C function: cProfile names it like "<method 'execute' of 'sqlite3.Connection'
        # objects>" or "<built-in method _json.encode_basestring>".
        if "select.epoll" in function or "select.select" in function:
            return "select"  # waiting for the next event
        for name in ("sqlite3", "_json", "json", "greenlet", "_asyncio"):
            if name in function:
                return {"_json": "json", "_asyncio": "asyncio"}.get(name, name)
        return "builtins"
    path = Path(filename)
    try:
        relative = path.resolve().relative_to(REPO)
    except ValueError:
        relative = None
    if relative is not None and relative.parts and relative.parts[0] != ".venv":
        top = relative.parts[0]
        if top in HARNESS or top == "tests":
            return "harness (people, Bot API)"
        return top
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    # The standard library: its module or package.
    for marker in ("python3.11", "python3.12", "python3.13"):
        if marker in parts:
            rest = parts[parts.index(marker) + 1 :]
            return rest[0].removesuffix(".py") if rest else "stdlib"
    return "other"


class Profile:
    """One bot's profile: own time and calls per package, and updates handled."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls = 0
        self.updates = 0

    def add(self, stats: pstats.Stats) -> None:
        """Fold cProfile's statistics in, by package."""
        for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
            _primitive, total_calls, own, _cumulative, _callers = row
            package = package_of(filename, function)
            self.seconds[package] += own
            self.calls += total_calls

    def ms_per_update(self, package: str) -> float:
        """Own milliseconds of `package` per update."""
        return self.seconds.get(package, 0.0) / self.updates * 1000 if self.updates else 0.0

    @property
    def total_ms(self) -> float:
        """All own time per update but the idle event loop's, the harness's included."""
        busy = sum(s for p, s in self.seconds.items() if p not in IDLE)
        return busy / self.updates * 1000 if self.updates else 0.0


async def profiled(name: str, run: Callable[[], Awaitable[updates.Result]]) -> Profile:
    """Run one bot's benchmark, its timed people (not start-up or calibration) under
    cProfile."""
    gc.collect()
    profiler = cProfile.Profile()

    def timed(starting: bool) -> None:
        if starting:
            profiler.enable()
        else:
            profiler.disable()

    updates.TIMED_HOOKS.append(timed)
    try:
        result = await run()
    finally:
        profiler.disable()
        updates.TIMED_HOOKS.remove(timed)
    profile = Profile(name)
    profile.add(pstats.Stats(profiler))
    profile.updates = result.updates
    return profile


# Waiting for the next event, not work: left out of every row.
IDLE = {"selectors", "select"}


def table(profiles: list[Profile], top: int) -> str:
    """Own milliseconds per update by package, the full form's largest first."""
    form = profiles[0]
    packages = sorted(
        {p for profile in profiles for p in profile.seconds} - IDLE,
        key=lambda p: -form.ms_per_update(p),
    )
    header = "| package | " + " | ".join(f"{p.name} ms/upd" for p in profiles) + " |"
    lines = [header, "| --- |" + " --- |" * len(profiles)]
    shown, rest = packages[:top], packages[top:]
    for package in shown:
        cells = " | ".join(f"{p.ms_per_update(package):.3f}" for p in profiles)
        lines.append(f"| {package} | {cells} |")
    if rest:
        cells = " | ".join(f"{sum(p.ms_per_update(r) for r in rest):.3f}" for p in profiles)
        lines.append(f"| {len(rest)} others | {cells} |")
    busy = " | ".join(f"{p.total_ms:.3f}" for p in profiles)
    lines.append(f"| **all but the idle loop** | {busy} |")
    calls = " | ".join(f"{p.calls / p.updates:,.0f}" for p in profiles)
    lines.append(f"| function calls per update | {calls} |")
    return "\n".join(lines)


async def main(users: int, top: int) -> None:
    """Profile the three bots one after the other and print the table."""
    first_id = int(time.time()) * 1000
    form = await profiled(
        "full form", lambda: updates.bench_full_form(users, None, first_id + 2 * (users + 1))
    )
    peer = await profiled("peer", lambda: updates.bench_peer(users, first_id + users + 1))
    echo = await profiled("echo", lambda: updates.bench_echo(users, first_id))
    print(f"own processor time per update under cProfile, {users} people without pause")
    print(table([form, peer, echo], top))
    ours = sum(form.ms_per_update(p) for p in OURS)
    shared = form.ms_per_update("harness (people, Bot API)")
    print(
        f"SUMMARY full form {form.total_ms:.2f} ms/upd profiled ({ours:.2f} in our own code, "
        f"{shared:.2f} harness); peer {peer.total_ms:.2f}; echo {echo.total_ms:.2f}; "
        f"function calls per update {form.calls / form.updates:,.0f} / "
        f"{peer.calls / peer.updates:,.0f} / {echo.calls / echo.updates:,.0f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100, help="people writing at once")
    parser.add_argument("--top", type=int, default=15, help="packages shown, the rest summed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(args.users, args.top))
