"""A broadcast to N recipients (default 10,000) against a local Bot API server that enforces
30 messages a second (HTTP 429 beyond), through the real outbox and the real Telegram sender.

Prints the achieved rate as a share of the configured limit, duplicates and losses.

    python -m bench.broadcast [--recipients 10000] [--limit 30] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.channels.telegram.channel import standalone_sender
from bot.settings import Settings
from handlers import broadcast as broadcasting
from storage.models import Broadcast
from tests.apps import Clock, start_app
from tests.factories import honour_and_send, story

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
TOKEN = "123456:BENCH-token"


class LimitedBotApi:
    """Answers sendPhoto/sendMessage like Telegram, but only `limit` a second overall."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.window: collections.deque[float] = collections.deque()
        self.delivered: collections.Counter[str] = collections.Counter()
        self.refused = 0
        self.ids = itertools.count(1)
        self.runner: web.AppRunner | None = None
        self.root = ""

    async def start(self) -> None:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.root = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "getMe":
            return _ok({"id": 123456, "is_bot": True, "first_name": "Bench", "username": "b"})
        form = await request.post()
        chat = str(form.get("chat_id", ""))
        now = time.monotonic()
        while self.window and now - self.window[0] >= 1.0:
            self.window.popleft()
        if len(self.window) >= self.limit:
            self.refused += 1
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
                status=429,
            )
        self.window.append(now)
        self.delivered[chat] += 1
        message: dict[str, Any] = {
            "message_id": next(self.ids),
            "date": int(time.time()),
            "chat": {"id": int(chat), "type": "private"},
        }
        if method == "sendPhoto":
            message["photo"] = [
                {"file_id": "bench-photo", "file_unique_id": "u", "width": 1, "height": 1}
            ]
            message["caption"] = str(form.get("caption", ""))
        else:
            message["text"] = str(form.get("text", ""))
        return _ok(message)


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def main(recipients: int, limit: int, database_url: str | None) -> None:
    api = LimitedBotApi(limit)
    await api.start()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            database_url=database_url,
            config=FIXTURES / "campaigns.toml",
            broadcast_rate=limit,
        )
        app = await start_app(settings, Clock(datetime(2024, 1, 10, 3, 0, tzinfo=UTC)))
        async with app.db.transaction() as session:
            for n in range(recipients):
                await broadcasting.set_subscription(
                    session, app.services, "telegram", str(1_000_000 + n), None, True
                )
        sub = await story(app, code="GS-2024-0001")
        await honour_and_send(app, sub.code or "")
        bot, sender = await standalone_sender(TOKEN, api.root)
        app.delivery.register("telegram", sender)
        started = time.monotonic()
        await app.delivery.drain()
        seconds = time.monotonic() - started
        async with app.db.transaction() as session:
            finished = await session.scalar(select(Broadcast.finished_at))
        await bot.shutdown()
        await app.close()
    await api.stop()
    wanted = {str(1_000_000 + n) for n in range(recipients)}
    got = set(api.delivered) & wanted
    duplicates = sum(count - 1 for chat, count in api.delivered.items() if count > 1)
    losses = len(wanted - got)
    rate = sum(api.delivered[c] for c in got) / seconds
    print(f"{'recipients':>10} {'seconds':>8} {'rate/s':>7} {'limit':>5} {'share':>6} "
          f"{'429s':>5} {'dupes':>5} {'lost':>5}")  # fmt: skip
    print(
        f"{recipients:>10} {seconds:>8.1f} {rate:>7.2f} {limit:>5} {rate / limit:>6.1%} "
        f"{api.refused:>5} {duplicates:>5} {losses:>5}"
    )
    print(
        f"broadcast: {recipients} recipients at {rate:.2f}/s = {rate / limit:.1%} of the "
        f"{limit}/s limit (target >= 95%), {duplicates} duplicates, {losses} lost, "
        f"{api.refused} answered 429, finished={'yes' if finished else 'no'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.recipients, args.limit, args.database_url))
