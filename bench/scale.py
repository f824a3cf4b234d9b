"""Throughput on PostgreSQL with 1, 2 and 4 worker processes (`guongsang serve --workers N`).

Simulated teachers post Telegram webhook updates (registration and the story form up to the
story text, twelve updates each) and wait for each answer before the next, as people do.
The bot answers through a fake Bot API server in this process. Every run gets a fresh
database.

Beside the rates it prints where the machine's CPU went during the timed window, as shares
of all cores: the bot's worker processes, PostgreSQL's server processes, this process (the
simulated teachers and the fake Bot API) and idle. Workers can only add throughput while
there is idle CPU left for them.

    python -m bench.scale [--workers 1,2,4] [--users 60] [--core-per-worker 0.4] [--pg URL]

With `--core-per-worker`, each bot process may use at most that share of a core (a Linux
control group each, `bench.cpu_budget`; needs root): whether a worker adds throughput when
it has processor time of its own, as on a machine with a core per worker, rather than
whether two cores shared with the teachers, the fake Bot API and PostgreSQL have any left.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.cpu_budget import CpuBudgets
from tests.apps import listening_socket
from tests.fakes.telegram_server import FakeTelegram

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SECRET = "bench_webhook_secret"
_ids = itertools.count(1)


def message(chat: int, **content: Any) -> dict[str, Any]:
    person = {"id": chat, "is_bot": False, "first_name": "Hoa"}
    return {
        "message_id": next(_ids),
        "date": int(time.time()),
        "chat": {"id": chat, "type": "private", "first_name": "Hoa"},
        "from": person,
        **content,
    }


def text(chat: int, words: str) -> dict[str, Any]:
    content: dict[str, Any] = {"text": words}
    if words.startswith("/"):
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(words)}]
    return {"update_id": next(_ids), "message": message(chat, **content)}


def press(telegram: FakeTelegram, chat: int, label: str) -> dict[str, Any]:
    shown = [m for m in telegram.sent(chat) if m.buttons()]
    if not shown or not any(label in b for b in shown[-1].buttons()):
        said = [m.plain_text for m in telegram.sent(chat)][-3:]
        raise RuntimeError(f"no button {label!r} in chat {chat}; last messages: {said}")
    sent = shown[-1]
    data = next(d for text, d in sent.button_data().items() if label in text)
    query = {
        # An id the fake server issued, so the bot's answer to the press is accepted.
        "id": telegram.new_callback_query_id(),
        "from": {"id": chat, "is_bot": False, "first_name": "Hoa"},
        "message": telegram._message_dict(sent),
        "chat_instance": str(chat),
        "data": data,
    }
    return {"update_id": next(_ids), "callback_query": query}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_of(pid: int) -> float:
    """CPU seconds used so far by one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in tasks.read_text().split():
            found.extend(_descendants(int(child)))
    return found


def _postgres_pids() -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" ", 2)[1] == "(postgres)":
                pids.append(int(stat.parent.name))
        except OSError:
            continue
    return pids


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the bot's processes, PostgreSQL's, this process, and the
    machine's idle time (Linux /proc; empty elsewhere)."""
    if not Path("/proc/stat").exists():
        return {}
    idle = int(Path("/proc/stat").read_text().split()[4]) / CLOCK_TICKS
    return {
        "bot": sum(_cpu_of(pid) for pid in _descendants(server_pid)),
        **{f"pid {pid}": _cpu_of(pid) for pid in _descendants(server_pid)},
        "postgres": sum(_cpu_of(pid) for pid in _postgres_pids()),
        "bench": time.process_time(),
        "idle": idle,
        "wall": time.monotonic(),
    }


def cpu_shares(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Each part's share of all cores' time between two snapshots, in percent."""
    if not before:
        return {}
    capacity = (after["wall"] - before["wall"]) * (os.cpu_count() or 1)
    return {
        part: 100 * (after[part] - before[part]) / capacity
        for part in ("bot", "postgres", "bench", "idle")
    }


async def teacher(
    client: httpx.AsyncClient, telegram: FakeTelegram, chat: int, latencies: list[float]
) -> None:
    contact = {"phone_number": "+84912345678", "first_name": "Hoa", "user_id": chat}
    steps: list[Any] = [
        # The unit search's one match is taken without a press.
        text(chat, "/start"), text(chat, "Nguyễn Thị Hoa"), text(chat, "thcs le quy don"),
        {"update_id": next(_ids), "message": message(chat, contact=contact)},
        text(chat, "/new"), text(chat, "Nguyễn Thị Lan"), text(chat, "Trường Tiểu học Kim Giang"),
        lambda: press(telegram, chat, "An toàn trường học"),
        text(chat, "Cô giáo của những buổi chiều thứ Bảy"),
        text(chat, "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn."),
        lambda: press(telegram, chat, "Xong phần bài viết"),
    ]  # fmt: skip
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    for step in steps:
        update = step() if callable(step) else step
        started = time.perf_counter()
        try:
            answer = await client.post("/webhook/telegram", json=update, headers=headers)
        except httpx.TransportError:
            # A kept-alive connection the server closed just as it was reused: send the update
            # again, as Telegram does (the bot handles an update id once).
            answer = await client.post("/webhook/telegram", json=update, headers=headers)
        latencies.append(time.perf_counter() - started)
        answer.raise_for_status()


# Teachers who walk the form before the timed run, so that every worker process has compiled
# its statements and templates: with 720 timed updates, each process's first ones would count.
WARM_UP_TEACHERS = 16


async def warm_up(base: str, telegram: FakeTelegram, first_chat: int, teachers: int) -> None:
    """Walk the form with `teachers` teachers, each update on a new connection, so that the
    connections, accepted by whichever worker is free, reach every worker."""
    fresh = httpx.Limits(max_connections=1, max_keepalive_connections=0)
    clients = [httpx.AsyncClient(base_url=base, timeout=60, limits=fresh) for _ in range(teachers)]
    try:
        await asyncio.gather(
            *(teacher(client, telegram, first_chat + n, []) for n, client in enumerate(clients))
        )
    finally:
        for client in clients:
            await client.aclose()


async def run_once(
    workers: int,
    users: int,
    pg: str,
    telegram: FakeTelegram,
    keepalive: bool = True,
    core_per_worker: float | None = None,
) -> dict[str, Any]:
    name = f"gs_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    database_url = (
        pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name
    )
    sock = listening_socket()
    port = sock.getsockname()[1]
    sock.close()
    with tempfile.TemporaryDirectory() as tmp:
        # The workers run on the real clock: the letter-001 campaign, open today.
        config = Path(tmp) / "campaigns.toml"
        campaigns = (FIXTURES / "campaigns.toml").read_text(encoding="utf-8")
        config.write_text(
            campaigns.replace("opens = 2023-09-20", "opens = 2020-01-01").replace(
                "closes = 2024-04-03", "closes = 2099-12-31"
            ),
            encoding="utf-8",
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")},
            "GUONGSANG_DATA_DIR": tmp,
            "GUONGSANG_DATABASE_URL": database_url,
            "GUONGSANG_CONFIG": str(config),
            "GUONGSANG_TELEGRAM_TOKEN": telegram.token,
            "GUONGSANG_TELEGRAM_API_URL": telegram.api_root,
            "GUONGSANG_TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        units = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "units", "import", str(FIXTURES / "units-thanh-xuan.csv"),
            env=env, cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await units.wait()
        server = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "serve", "--workers", str(workers), "--port", str(port),
            env=env, cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        latencies: list[float] = []
        base = f"http://127.0.0.1:{port}"
        # One client, with one connection, per teacher: httpcore's pool scans all of its
        # connections for every request, and a shared pool of sixty took more of this
        # process's time than the fake Bot API did, time the workers needed.
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1 if keepalive else 0)
        clients = [httpx.AsyncClient(base_url=base, timeout=60, limits=one) for _ in range(users)]
        budgets = CpuBudgets(core_per_worker) if core_per_worker else None
        try:
            for _ in range(600):
                try:
                    if (await clients[0].get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # every worker past its startup
            if budgets:
                # The supervisor of several workers gets a budget too; it uses none of it.
                for pid in _descendants(server.pid):
                    budgets.limit(pid)
            await warm_up(base, telegram, 700_000 + workers * 10_000 + users, WARM_UP_TEACHERS)
            started = time.perf_counter()
            before = cpu_snapshot(server.pid)
            chats = [700_000 + workers * 10_000 + n for n in range(users)]
            await asyncio.gather(
                *(
                    teacher(client, telegram, chat, latencies)
                    for client, chat in zip(clients, chats, strict=True)
                )
            )
            after = cpu_snapshot(server.pid)
            shares = cpu_shares(before, after)
            bot_seconds = after["bot"] - before["bot"] if before else math.nan
            # Each process's share of one core: how evenly the workers got the work.
            window = after["wall"] - before["wall"] if before else math.nan
            per_process = sorted(
                (
                    100 * (after[key] - before.get(key, 0.0)) / window
                    for key in after
                    if key.startswith("pid ")
                ),
                reverse=True,
            )
            seconds = time.perf_counter() - started
        finally:
            for client in clients:
                await client.aclose()
            server.send_signal(signal.SIGINT)
            await server.wait()
            if budgets:
                budgets.close()
    admin = await asyncpg.connect(pg)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
    latencies.sort()
    return {
        "updates": len(latencies),
        "seconds": seconds,
        "rate": len(latencies) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        # Processor time the bot's processes spent per update: steadier than the rate.
        "bot_ms": bot_seconds / len(latencies) * 1000,
        "split": "/".join(f"{share:.0f}" for share in per_process),
        **{f"cpu_{part}": share for part, share in shares.items()},
    }


async def main(
    workers: list[int],
    users: int,
    pg: str,
    keepalive: bool = True,
    core_per_worker: float | None = None,
) -> None:
    results: dict[int, dict[str, Any]] = {}
    async with FakeTelegram() as telegram:
        for n in workers:
            results[n] = await run_once(n, users, pg, telegram, keepalive, core_per_worker)
    print(f"{'workers':>7} {'users':>6} {'updates':>8} {'seconds':>8} {'upd/s':>7} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'vs 1':>5} {'bot cpu ms/upd':>14}   "
          f"CPU %: {'bot':>4} {'pg':>4} {'bench':>5} {'idle':>4}")  # fmt: skip
    base = results[workers[0]]["rate"]
    for n, r in results.items():
        print(
            f"{n:>7} {users:>6} {r['updates']:>8.0f} {r['seconds']:>8.1f} {r['rate']:>7.1f} "
            f"{r['p50']:>7.1f} {r['p99']:>7.1f} {r['rate'] / base:>5.2f} "
            f"{r['bot_ms']:>14.2f}          "
            f"{r.get('cpu_bot', 0):>4.0f} {r.get('cpu_postgres', 0):>4.0f} "
            f"{r.get('cpu_bench', 0):>5.0f} {r.get('cpu_idle', 0):>4.0f}"
        )
    for n, r in results.items():
        print(f"{n} worker(s): % of a core used by each bot process, busiest first: {r['split']}")
    two = results.get(2, {}).get("rate", 0) / base if 2 in results else 0.0
    print(
        "scale: PostgreSQL, "
        + ", ".join(f"{n} worker(s) {r['rate']:.0f} upd/s" for n, r in results.items())
        + f"; 2 workers = {two:.2f}x of 1 (target >= 1.6x) on {os.cpu_count()} CPU cores"
        + (f", each worker at most {core_per_worker:g} of a core" if core_per_worker else "")
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument(
        "--new-connections",
        action="store_true",
        help="a new connection for every update (as nginx proxies by default), not kept alive",
    )
    parser.add_argument(
        "--core-per-worker",
        type=float,
        help="the most of a core each bot process may use (Linux control groups; root)",
    )
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    asyncio.run(main(counts, args.users, args.pg, not args.new_connections, args.core_per_worker))
