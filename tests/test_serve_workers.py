"""`guongsang serve --workers 2` on PostgreSQL: two processes take Telegram's webhook
updates for one bot; every update is answered once and the outbox is shared."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from bot.settings import Settings
from tests.apps import FIXTURES, REPO, listening_socket
from tests.backends import postgresql_only
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_webhook import SECRET, text_update


@postgresql_only()
async def test_two_worker_processes_answer_every_update_once(
    settings: Settings, telegram: FakeTelegram, tmp_path: Path
) -> None:
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
    finally:
        process.send_signal(signal.SIGINT)
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    assert process.returncode == 0, output
    assert output.count("web app stopped") == 2, output
