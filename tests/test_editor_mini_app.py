"""The editor as a Telegram Mini App: the page trades Telegram's signed initData for the
editor of the person's current draft; forged or stale initData gets nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from bot.web import create_web_app
from bot.web.links import verify_editor
from bot.web.telegram_init import sign_init_data
from tests.apps import Clock, start_app
from tests.drivers import Chat, fill_until_story, register
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture
async def tg_app(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> AsyncIterator[GuongSang]:
    """The application with the bot's token set, as `serve` runs it for Telegram."""
    application = await start_app(
        settings.model_copy(update={"telegram_token": telegram.token}), clock
    )
    yield application
    await application.close()


@pytest.fixture
async def tg_chat(tg_app: GuongSang, telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(tg_app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = tg_app.settled  # answers are read until the app settles
    yield channel
    await channel.stop()


@pytest.fixture
async def web(tg_app: GuongSang) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web_app(tg_app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def init_data(app: GuongSang, user_id: int, token: str, age: timedelta = timedelta()) -> str:
    """initData as Telegram hands it to a Mini App opened `age` ago."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": "Hoa", "language_code": "vi"}),
        "auth_date": str(int((app.services.now() - age).timestamp())),
    }
    return urlencode({**fields, "hash": sign_init_data(fields, token)})


async def test_genuine_init_data_opens_the_persons_draft(
    tg_app: GuongSang,
    telegram: FakeTelegram,
    tg_chat: TelegramChannel,
    web: httpx.AsyncClient,
) -> None:
    chat = Chat(telegram.user(101, "Hoa"))
    await register(chat)
    await fill_until_story(chat)

    entry = await web.get("/editor/telegram")
    assert entry.status_code == 200 and 'id="tg-entry"' in entry.text
    assert "https://telegram.org/js/telegram-web-app.js" in entry.text

    answer = await web.post(
        "/editor/telegram/session", content=init_data(tg_app, 101, telegram.token)
    )
    assert answer.status_code == 200, answer.text
    url = answer.json()["url"]
    assert url.startswith("/editor/") and url.endswith("?tg=1")
    grant = verify_editor(
        url.removeprefix("/editor/").removesuffix("?tg=1"),
        tg_app.settings.secret_key,
        tg_app.services.now(),
    )
    assert grant is not None
    page = await web.get(url)
    assert page.status_code == 200
    assert 'value="Cô giáo của những buổi chiều thứ Bảy"' in page.text
    # Telegram's colours: its script sets the --tg-theme-* variables the page's CSS uses.
    assert "https://telegram.org/js/telegram-web-app.js" in page.text
    assert "var(--tg-theme-bg-color" in page.text and "var(--tg-theme-button-color" in page.text
    # Opened from a Zalo link (no ?tg=1), the page loads nothing from elsewhere.
    plain = await web.get(url.removesuffix("?tg=1"))
    assert "telegram.org" not in plain.text.split("<style>")[0]


async def test_forged_or_stale_init_data_opens_nothing(
    tg_app: GuongSang,
    telegram: FakeTelegram,
    tg_chat: TelegramChannel,
    web: httpx.AsyncClient,
) -> None:
    chat = Chat(telegram.user(101, "Hoa"))
    await register(chat)
    await fill_until_story(chat)
    genuine = init_data(tg_app, 101, telegram.token)
    assert "%22id%22%3A+101" in genuine
    refused = [
        init_data(tg_app, 101, "999:another-bot"),  # signed with someone else's token
        init_data(tg_app, 101, telegram.token, age=timedelta(hours=2)),  # replayed
        genuine.replace("%22id%22%3A+101", "%22id%22%3A+102"),  # another user, same hash
        genuine.replace("hash=", "hash=0"),
        "",
    ]
    for body in refused:
        answer = await web.post("/editor/telegram/session", content=body)
        assert answer.status_code == 403, body
        assert "url" not in answer.json()
        assert "Không xác minh được" in answer.json()["message"]


async def test_a_telegram_user_without_a_draft_is_told_how_to_start(
    tg_app: GuongSang,
    telegram: FakeTelegram,
    tg_chat: TelegramChannel,
    web: httpx.AsyncClient,
) -> None:
    chat = Chat(telegram.user(105, "Mai"))
    await register(chat, "Lê Thị Mai")
    for user_id in (105, 777):  # registered without a draft; never wrote to the bot
        answer = await web.post(
            "/editor/telegram/session", content=init_data(tg_app, user_id, telegram.token)
        )
        assert answer.status_code == 404
        assert "/new" in answer.json()["message"]


async def test_without_a_bot_token_init_data_is_not_taken(app: GuongSang) -> None:
    # Nothing to check a signature against: refused, not trusted.
    transport = httpx.ASGITransport(app=create_web_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
        answer = await web.post("/editor/telegram/session", content=init_data(app, 1, "1:x"))
    assert answer.status_code == 403
