"""`guongsang serve --workers 2` on PostgreSQL: two processes take Telegram's webhook
updates for one bot; every update is answered once and the outbox is shared."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from bot.settings import Settings
from tests.apps import FIXTURES, REPO, Clock, listening_socket, start_app
from tests.arrivals import max_in_window
from tests.backends import postgresql_only
from tests.factories import add_audience, honour_and_send, story
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_webhook import SECRET, text_update


@asynccontextmanager
async def serving(
    settings: Settings, telegram: FakeTelegram, tmp_path: Path, **extra: str
) -> AsyncIterator[str]:
    """`guongsang serve --workers 2` on the test's database; yields its base URL, and checks
    both workers stopped cleanly."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")},
        "GUONGSANG_DATA_DIR": str(tmp_path / "data"),
        "GUONGSANG_DATABASE_URL": settings.resolved_database_url,
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
        "GUONGSANG_TELEGRAM_TOKEN": telegram.token,
        "GUONGSANG_TELEGRAM_API_URL": telegram.api_root,
        "GUONGSANG_TELEGRAM_WEBHOOK_SECRET": SECRET,
        **extra,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--workers", "2", "--port", str(port),
        env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
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
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    assert process.returncode == 0, output
    assert output.count("web app stopped") == 2, output


@postgresql_only()
async def test_two_worker_processes_answer_every_update_once(
    settings: Settings, telegram: FakeTelegram, tmp_path: Path
) -> None:
    async with serving(settings, telegram, tmp_path) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
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
        # /start answers a newcomer with a welcome and the first question: two messages, once.
        texts = [[m.plain_text for m in telegram.sent(c)] for c in chats]
        assert all(len(t) == 2 and "Gương Sáng" in (t[0] or "") for t in texts), texts[:3]


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
