"""`guongsang serve --workers 2` on PostgreSQL: two processes take Telegram's webhook
updates for one bot; every update is answered once and the outbox is shared."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.settings import Settings
from tests.apps import FIXTURES, REPO, Clock, listening_socket, start_app
from tests.arrivals import max_in_window
from tests.backends import postgresql_only
from tests.connections import connections_by_worker, still_running, worker_pids
from tests.factories import add_audience, honour_and_send, story
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_webhook import SECRET, text_update


@dataclass
class Served:
    """A running `guongsang serve --workers 2`."""

    base: str
    port: int
    process: asyncio.subprocess.Process


def serve_environment(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `guongsang serve` on the test's database (none of ours inherited)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")},
        "GUONGSANG_DATA_DIR": str(tmp_path / "data"),
        "GUONGSANG_DATABASE_URL": settings.resolved_database_url,
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
        **extra,
    }


async def start_serve(env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    """`guongsang serve --workers 2` on 127.0.0.1:`port`, its output in one pipe."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--workers", "2", "--port", str(port),
        env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def connections_after_connecting(served: Served, count: int) -> Counter[int]:
    """Open `count` kept-alive connections at once (as Telegram opens its webhook's), one
    request each; how many each worker holds."""
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(base_url=served.base, limits=one) for _ in range(count)]
    try:
        answers = await asyncio.gather(*(c.get("/healthz") for c in clients))
        assert {a.status_code for a in answers} == {200}
        return connections_by_worker(served.process.pid, served.port)
    finally:
        for client in clients:
            await client.aclose()


@asynccontextmanager
async def serving(
    settings: Settings,
    telegram: FakeTelegram,
    tmp_path: Path,
    check_stop: bool = True,
    **extra: str,
) -> AsyncIterator[Served]:
    """`guongsang serve --workers 2` on the test's database, up and answering; stops it and
    checks both workers stopped cleanly (unless the test stopped it otherwise)."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = serve_environment(
        settings,
        tmp_path,
        GUONGSANG_TELEGRAM_TOKEN=telegram.token,
        GUONGSANG_TELEGRAM_API_URL=telegram.api_root,
        GUONGSANG_TELEGRAM_WEBHOOK_SECRET=SECRET,
        **extra,
    )
    process = await start_serve(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(400):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        yield Served(base, port, process)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        if check_stop:
            output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    if check_stop:
        assert process.returncode == 0, output
        assert output.count("web app stopped") == 2, output


@postgresql_only()
async def test_two_worker_processes_answer_every_update_once(
    settings: Settings, telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with serving(settings, telegram, tmp_path) as served:
        async with httpx.AsyncClient(base_url=served.base, timeout=30) as client:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            chats = list(range(8001, 8041))
            updates = [text_update(9000 + n, chat, "/start") for n, chat in enumerate(chats)]
            # Every update twice, all at once: both workers see some of each.
            answers = await asyncio.gather(
                *(client.post("/webhook/telegram", json=u, headers=headers) for u in updates * 2)
            )
            assert {a.status_code for a in answers} == {200}
        await telegram.wait_for(lambda _: all(telegram.sent(c) for c in chats), timeout=30)
        await asyncio.sleep(0.5)
        # /start answers a newcomer with a welcome and the first question, folded on Telegram
        # into one message (one Bot API call), sent once.
        texts = [[m.plain_text or "" for m in telegram.sent(c)] for c in chats]
        assert all(len(t) == 1 and "Gương Sáng" in t[0] and "Họ và tên" in t[0] for t in texts), (
            texts[:3]
        )


@postgresql_only()
async def test_two_workers_broadcasting_share_the_platforms_limit(
    settings: Settings, clock: Clock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    # A broadcast decided (and its deliveries queued) before the workers start.
    settings = settings.model_copy(update={"data_dir": tmp_path / "data"})
    app = await start_app(settings, clock)
    # Enough that each worker claims a share (a worker claims up to 32 at once).
    audience = list(range(8101, 8161))
    try:
        sub = await story(app, code="GS-2024-0041")
        await add_audience(app, audience)
        await honour_and_send(app, sub.code or "")
    finally:
        await app.close()
    # Eight a second for the bot: two workers must not make it sixteen.
    async with serving(settings, telegram, tmp_path, GUONGSANG_BROADCAST_RATE="8"):
        await telegram.wait_for(lambda _: all(telegram.sent(c) for c in audience), timeout=60)
    sends = [at for at, method, chat in telegram.arrivals if chat in audience]
    assert len(sends) == len(audience)
    assert max_in_window(sends, 1.0) <= 8


@postgresql_only()
async def test_connections_opened_together_reach_both_workers(
    settings: Settings, telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with serving(settings, telegram, tmp_path) as served:
        # `serving` returns once one worker answers; on a loaded machine the other may still
        # be starting, and connections opened meanwhile all go to the first. Balance is a
        # matter for two running workers: rounds are tried until both hold connections.
        for _ in range(40):
            held = await connections_after_connecting(served, 40)
            if len(held) == 2:
                break
            await asyncio.sleep(0.25)
    # Each worker holds its share of them: a worker with a few would sit idle while the
    # other one answers the updates arriving on all the rest.
    assert len(held) == 2, held
    assert min(held.values()) >= 0.25 * sum(held.values()), held


@postgresql_only()
async def test_a_worker_killed_is_replaced(
    settings: Settings, telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with serving(settings, telegram, tmp_path) as served:
        killed = next(iter(await connections_after_connecting(served, 20)))
        os.kill(killed, signal.SIGKILL)
        for _ in range(100):
            held = await connections_after_connecting(served, 20)
            if len(held) == 2 and killed not in held:
                break
            await asyncio.sleep(0.1)
        assert len(held) == 2 and killed not in held, held
        # The newcomer answers updates like the others.
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with httpx.AsyncClient(base_url=served.base, timeout=30) as client:
            chats = list(range(8201, 8221))
            updates = [text_update(9500 + n, chat, "/start") for n, chat in enumerate(chats)]
            answers = await asyncio.gather(
                *(client.post("/webhook/telegram", json=u, headers=headers) for u in updates)
            )
        assert {a.status_code for a in answers} == {200}
        await telegram.wait_for(lambda _: all(telegram.sent(c) for c in chats), timeout=30)


@postgresql_only()
async def test_a_port_taken_by_another_program_stops_serve_with_an_error(
    settings: Settings, tmp_path: Path
) -> None:
    taken = listening_socket()
    taken.listen()
    port = taken.getsockname()[1]
    try:
        process = await start_serve(serve_environment(settings, tmp_path), port)
        output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
    finally:
        taken.close()
    assert process.returncode == 1, output
    assert f"cannot listen on 127.0.0.1:{port}" in output, output


@postgresql_only()
async def test_workers_of_a_supervisor_killed_outright_stop_and_free_the_port(
    settings: Settings, telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with serving(settings, telegram, tmp_path, check_stop=False) as served:
        async with httpx.AsyncClient(base_url=served.base) as client:
            assert (await client.get("/healthz")).status_code == 200
        workers = worker_pids(served.process.pid)
        assert len(workers) == 2, workers
        served.process.kill()
        try:
            # Not process.wait(): it waits for the output pipe too, which the workers hold.
            # Generous: each worker shuts its app down, which a loaded machine makes slow.
            for _ in range(600):
                if not still_running(workers):
                    break
                await asyncio.sleep(0.1)
            assert not still_running(workers), "workers left running"
        finally:
            for pid in still_running(workers):
                os.kill(pid, signal.SIGKILL)
        # Nothing holds the port any more: a plain socket (no SO_REUSEPORT) can take it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", served.port))
        sock.close()
