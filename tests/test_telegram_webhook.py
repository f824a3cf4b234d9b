"""Webhook mode on Telegram: updates POSTed to /webhook/telegram are handled like polled
ones, after the secret header is checked; bad bodies get a 4xx, repeats are ignored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.web import webhooks
from tests.apps import FIXTURES, run_cli_beside, serving
from tests.drivers import jpeg
from tests.fakes.telegram_server import FakeTelegram

SECRET = "telegram_webhook-secret_123"


def text_update(update_id: int, chat_id: int, text: str) -> dict[str, object]:
    """A private text message as Telegram POSTs it."""
    person = {"id": chat_id, "is_bot": False, "first_name": "Hoa"}
    message: dict[str, object] = {
        "message_id": update_id,
        "date": 1704855600,
        "chat": {"id": chat_id, "type": "private", "first_name": "Hoa"},
        "from": person,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
    return {"update_id": update_id, "message": message}


@pytest.fixture
async def hooked(app: GuongSang, telegram: FakeTelegram) -> AsyncIterator[httpx.AsyncClient]:
    """The Telegram channel without polling, its webhook served by the real web app."""
    channel = TelegramChannel(app, telegram.token, telegram.api_root)
    await channel.start(polling=False)
    # Updates come by webhook, never through the fake's queue: the probe alone says settled.
    telegram.settled = app.settled
    route = webhooks.webhook_route(
        "telegram", webhooks.TELEGRAM_PATH, SECRET, webhooks.TELEGRAM_HEADER, channel.process
    )
    try:
        async with serving(app, webhooks=[route]) as client:
            yield client
    finally:
        await asyncio.wait_for(channel.stop(), 15)


async def test_webhook_updates_are_checked_then_handled_once(
    hooked: httpx.AsyncClient, telegram: FakeTelegram
) -> None:
    async def post(body: str | bytes, secret: str | None = SECRET) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return await hooked.post("/webhook/telegram", content=body, headers=headers)

    start = json.dumps(text_update(7001, 101, "/start"))
    assert (await post(start, secret=None)).status_code == 403
    assert (await post(start, secret=SECRET + "x")).status_code == 403
    assert (await post("{oops")).status_code == 400
    assert (await post(json.dumps({"update_id": "7001"}))).status_code == 400
    assert (await post(json.dumps({"update_id": 7002, "message": "oops"}))).status_code == 400
    far_off = text_update(7004, 101, "hi")
    far_off["message"]["date"] = 1e30  # type: ignore[index]
    assert (await post(json.dumps(far_off))).status_code == 400
    assert (await post("[" * 100_000)).status_code == 400
    assert (await post(b"[" + b"1," * (5 * 1024 * 1024) + b"1]")).status_code == 413
    assert telegram.sent(101) == []

    assert (await post(start)).status_code == 200
    first = len(telegram.sent(101))
    assert first >= 1 and "Gương Sáng" in (telegram.sent(101)[0].plain_text or "")
    assert (await post(start)).status_code == 200, "a repeat is acknowledged"
    await telegram.until_settled()
    assert len(telegram.sent(101)) == first, "and not handled again"
    # The conversation goes on through the webhook: the next step takes the name.
    assert (await post(json.dumps(text_update(7003, 101, "Nguyễn Thị Hoa")))).status_code == 200
    assert "đơn vị" in (telegram.sent(101)[-1].plain_text or "")


async def test_an_albums_updates_are_answered_only_once_the_album_is_handled(
    hooked: httpx.AsyncClient, telegram: FakeTelegram
) -> None:
    def photo_update(update_id: int, seed: int) -> dict[str, object]:
        update = text_update(update_id, 102, "")
        message = update["message"]
        assert isinstance(message, dict)
        del message["text"]
        message["photo"] = telegram.register_photo(jpeg(seed)).photo_sizes
        message["media_group_id"] = "album-1"
        return update

    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    answers = await asyncio.gather(
        *(
            hooked.post("/webhook/telegram", json=photo_update(7101 + n, n), headers=headers)
            for n in range(3)
        )
    )
    assert [a.status_code for a in answers] == [200, 200, 200]
    # Telegram forgets an update once it has its 200: by then the photos were handled (one
    # answer for the album: a newcomer's welcome, once), not left waiting in memory for the
    # album's other parts.
    welcomes = [m for m in telegram.sent(102) if "Xin chào" in (m.plain_text or "")]
    assert len(welcomes) == 1


async def test_webhook_command_registers_telegram(telegram: FakeTelegram, tmp_path: Path) -> None:
    env = {
        "GUONGSANG_DATA_DIR": str(tmp_path),
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
        "GUONGSANG_TELEGRAM_TOKEN": telegram.token,
        "GUONGSANG_TELEGRAM_API_URL": telegram.api_root,
        "GUONGSANG_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "GUONGSANG_PUBLIC_URL": "https://guongsang.example.vn",
    }
    done = await run_cli_beside(env, "webhook", "set")
    assert done.returncode == 0, done.stderr
    assert telegram.webhook_url == "https://guongsang.example.vn/webhook/telegram"
    call = telegram.calls_to("setWebhook")[-1]
    assert call.params["secret_token"] == SECRET
    info = await run_cli_beside(env, "webhook", "info")
    assert "https://guongsang.example.vn/webhook/telegram" in info.stdout
    assert (await run_cli_beside(env, "webhook", "delete")).returncode == 0
    assert telegram.webhook_url is None
    bad = await run_cli_beside(
        {**env, "GUONGSANG_TELEGRAM_WEBHOOK_SECRET": "has spaces"}, "webhook", "set"
    )
    assert bad.returncode == 2 and "telegram_webhook_secret" in bad.stderr
