"""Long polling through python-telegram-bot's own Updater, with updates handed over as JSON
(`bot.channels.telegram.polling`): a batch is confirmed, each update handled once, and what
Telegram never sends is left out rather than stopping the poll."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel, bot_api_request
from bot.channels.telegram.polling import JsonUpdatesBot
from tests.apps import uvicorn_serving
from tests.fakes.telegram_server import FakeTelegram


async def test_a_batch_is_handled_and_confirmed_by_the_updater(
    app: GuongSang, telegram: FakeTelegram
) -> None:
    people = [telegram.user(6100 + n, f"Người {n}") for n in range(3)]
    # Queued before the channel polls: the first getUpdates brings them as one batch.
    for person in people:
        await person.send_command("/start")
    last = max(u["update_id"] for u in telegram.pending_updates)
    channel = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    try:
        for person in people:
            await telegram.wait_for(lambda _c, p=person: telegram.sent(p.chat_id))
        # The next poll confirms the batch: Telegram forgets what was taken.
        await telegram.wait_for(
            lambda calls: any(
                c.method == "getUpdates" and c.params.get("offset") == last + 1 for c in calls
            )
        )
    finally:
        await channel.stop()
    for person in people:
        assert "Gương Sáng" in (telegram.sent(person.chat_id)[0].plain_text or "")
        assert len(telegram.sent(person.chat_id)) == 1, "each update handled once"
    assert telegram.pending_updates == []


async def test_get_updates_asks_as_telegram_expects_and_leaves_out_what_has_no_id() -> None:
    asked: list[dict[str, Any]] = []
    good = {"update_id": 41, "message": {"text": "x"}}

    async def get_updates(request: Request) -> JSONResponse:
        # Form fields, as python-telegram-bot posts them, each value as JSON.
        fields = parse_qsl((await request.body()).decode())
        asked.append({key: json.loads(value) for key, value in fields})
        batch = [good, {"message": {}}, "text", {"update_id": "42"}, {"update_id": 43}]
        return JSONResponse({"ok": True, "result": batch})

    server = Starlette(routes=[Route("/botTOKEN:1/getUpdates", get_updates, methods=["POST"])])
    async with uvicorn_serving(server) as root:
        bot = JsonUpdatesBot(
            "TOKEN:1",
            base_url=f"{root}/bot",
            base_file_url=f"{root}/file/bot",
            request=bot_api_request(),
            get_updates_request=bot_api_request(),
            poll_read_timeout=5,
        )
        updates = await bot.get_updates(offset=40, timeout=1, allowed_updates=["message"])
        await bot.shutdown()
    assert [u.update_id for u in updates] == [41, 43]
    assert updates[0].data == good
    assert asked == [{"offset": 40, "timeout": 1, "allowed_updates": ["message"]}]
