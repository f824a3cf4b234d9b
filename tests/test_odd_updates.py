"""Updates of the wrong shape are refused at the edge (a webhook answers 400, polling skips
them with a warning) before anything is handled or stored; ids are checked there too, and the
longest the database holds work on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.web import webhooks
from storage.models import (
    PLATFORM_ID_LENGTH,
    Conversation,
    Identity,
    Person,
    ProcessedUpdate,
)
from tests.apps import serving
from tests.drivers import Chat
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo, fixture
from tests.zalo_drivers import ZaloChat, register_on_zalo
from tests.zalo_fixtures import WEBHOOK_SECRET

TELEGRAM_SECRET = "telegram_webhook-secret_123"


def telegram_text(update_id: int, text: Any = "/start") -> dict[str, Any]:
    """A private message as Telegram POSTs it, for the tests to spoil."""
    person = {"id": 4242, "is_bot": False, "first_name": "Hoa"}
    message = {
        "message_id": update_id,
        "date": 1704855600,
        "chat": {"id": 4242, "type": "private", "first_name": "Hoa"},
        "from": person,
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    return {"update_id": update_id, "message": message}


def spoiled_telegram_updates() -> list[tuple[str, dict[str, Any]]]:
    """Updates that parse as JSON but are not what Telegram sends."""
    cases: list[tuple[str, dict[str, Any]]] = []

    def case(name: str, change: Any) -> None:
        update = telegram_text(8000 + len(cases))
        change(update)
        cases.append((name, update))

    case("no chat", lambda u: u["message"].pop("chat"))
    case("chat id abc", lambda u: u["message"]["chat"].update(id="abc"))
    case("chat id true", lambda u: u["message"]["chat"].update(id=True))
    case("chat id beyond 64 bits", lambda u: u["message"]["chat"].update(id=10**30))
    case("text a number", lambda u: u["message"].update(text=5))
    case("no sender", lambda u: u["message"].pop("from"))
    case("sender id text", lambda u: u["message"]["from"].update(id="4242"))
    case("first name a number", lambda u: u["message"]["from"].update(first_name=5))
    case("entity length text", lambda u: u["message"]["entities"][0].update(length="x"))
    case("caption a list", lambda u: u["message"].update(caption=["x"]))
    case(
        "contact user id text",
        lambda u: u["message"].update(
            contact={"phone_number": "0912345678", "first_name": "An", "user_id": "abc"}
        ),
    )
    case(
        "file name a number",
        lambda u: u["message"].update(
            document={"file_id": "d1", "file_unique_id": "u", "file_name": 7}
        ),
    )
    press = {
        "id": "cb1",
        "from": {"id": 4242, "is_bot": False, "first_name": "Hoa"},
        "chat_instance": "1",
        "data": 5,
        "message": {"message_id": 1, "date": 1704855600, "chat": {"id": 4242, "type": "private"}},
    }
    cases.append(("press data a number", {"update_id": 8100, "callback_query": press}))
    other = copy.deepcopy(press)
    other["message"]["chat"]["id"] = "abc"
    other["data"] = "!pd:0"
    cases.append(("press in chat abc", {"update_id": 8101, "callback_query": other}))
    return cases


async def counts(app: GuongSang) -> tuple[int, int, int]:
    """How many people, conversations and claimed updates the database holds."""
    async with app.db.transaction() as session:
        return (
            await session.scalar(select(func.count()).select_from(Person)) or 0,
            await session.scalar(select(func.count()).select_from(Conversation)) or 0,
            await session.scalar(select(func.count()).select_from(ProcessedUpdate)) or 0,
        )


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
async def telegram_hook(app: GuongSang, telegram: FakeTelegram) -> AsyncIterator[httpx.AsyncClient]:
    """The Telegram channel without polling, its webhook served by the real web app."""
    channel = TelegramChannel(app, telegram.token, telegram.api_root)
    await channel.start(polling=False)
    route = webhooks.webhook_route(
        "telegram",
        webhooks.TELEGRAM_PATH,
        TELEGRAM_SECRET,
        webhooks.TELEGRAM_HEADER,
        channel.process,
    )
    try:
        async with serving(app, webhooks=[route]) as client:
            yield client
    finally:
        await asyncio.wait_for(channel.stop(), 15)


async def test_telegram_webhook_refuses_updates_of_the_wrong_shape(
    app: GuongSang,
    telegram: FakeTelegram,
    telegram_hook: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    caplog.set_level(logging.WARNING)
    for name, update in spoiled_telegram_updates():
        answer = await telegram_hook.post("/webhook/telegram", json=update, headers=headers)
        assert answer.status_code == 400, name
    assert await counts(app) == (0, 0, 0), "nothing of a refused update is stored"
    assert telegram.calls_to("sendMessage") == []
    assert errors(caplog) == []
    # A well-formed update still goes through.
    good = telegram_text(9000)
    answer = await telegram_hook.post("/webhook/telegram", json=good, headers=headers)
    assert answer.status_code == 200
    assert "Gương Sáng" in (telegram.sent(4242)[0].plain_text or "")


async def test_telegram_polling_skips_updates_of_the_wrong_shape(
    app: GuongSang,
    telegram: FakeTelegram,
    channel: TelegramChannel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    for _name, update in spoiled_telegram_updates():
        update.pop("update_id")
        await telegram.enqueue_update(update)
    chat = Chat(telegram.user(4343, "Lan"))
    assert "Gương Sáng" in await chat.send("/start"), "polling goes on after them"
    assert (await counts(app))[0] == 1, "only the well-formed message made a person"
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(spoiled_telegram_updates())
    assert errors(caplog) == []
    # A malformed press that can be answered is answered, not left spinning.
    answered = [c.params.get("callback_query_id") for c in telegram.calls_to("answerCallbackQuery")]
    assert "cb1" in answered


def zalo_text(user_id: Any, text: str = "/start") -> dict[str, Any]:
    update = fixture("update-text.json")
    update["message"]["text"] = text
    update["message"]["chat"]["id"] = user_id
    update["message"]["from"]["id"] = user_id
    return update


def spoiled_zalo_updates() -> list[tuple[str, dict[str, Any]]]:
    too_long = "f" * (PLATFORM_ID_LENGTH + 1)
    no_message_id = zalo_text("e4ea2cd5189df1c3a88c")
    no_message_id["message"].pop("message_id")
    other_sender = zalo_text("e4ea2cd5189df1c3a88c")
    other_sender["message"]["from"]["id"] = "e4ea\n2cd5"
    text_a_number = zalo_text("e4ea2cd5189df1c3a88c")
    text_a_number["message"]["text"] = 5
    photo_a_list = fixture("update-image.json")
    photo_a_list["message"]["photo"] = ["https://photo-stal-5.zadn.vn/x.jpg"]
    return [
        ("text a number", text_a_number),
        ("photo a list", photo_a_list),
        ("id longer than the database holds", zalo_text(too_long)),
        ("id with a control character", zalo_text("e4ea2cd5\x00189d")),
        ("id with a space", zalo_text("e4ea 2cd5")),
        ("empty id", zalo_text("")),
        ("id true", zalo_text(True)),
        ("id a list", zalo_text(["e4ea"])),
        ("sender id with a newline", other_sender),
        ("no message id", no_message_id),
    ]


async def test_zalo_webhook_and_polling_refuse_impossible_ids(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    headers = {"X-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    for name, update in spoiled_zalo_updates():
        answer = await zalo_web.post("/webhook/zalo", content=json.dumps(update), headers=headers)
        assert answer.status_code == 400, name
    assert await counts(zalo_app) == (0, 0, 0)
    assert zalo.calls_to("sendMessage") == []
    # Polled, the same updates are skipped with a warning and polling goes on.
    for _name, update in spoiled_zalo_updates():
        await zalo.enqueue(update)
    await zalo.enqueue(["not", "an", "update"])  # type: ignore[arg-type]
    chat = ZaloChat(zalo.user("0a1b2c3d4e5f60718293", "Lan"))
    assert "Gương Sáng" in await chat.send("/start")
    assert (await counts(zalo_app))[0] == 1
    skipped = [r for r in caplog.records if "zalo update ignored" in r.getMessage()]
    assert len(skipped) == len(spoiled_zalo_updates())
    assert any("no update" in r.getMessage() for r in caplog.records), "nor unlogged"
    assert errors(caplog) == []


async def test_the_longest_zalo_ids_work_on_every_backend(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    """Zalo documents no length for its ids: one of 65 characters failed every message on
    PostgreSQL (VARCHAR(64)) and worked on SQLite. Up to what the columns hold, both work."""
    for length in (65, PLATFORM_ID_LENGTH):
        user_id = ("9f" * PLATFORM_ID_LENGTH)[:length]
        chat = ZaloChat(zalo.user(user_id, "Lan"))
        await register_on_zalo(chat)
        async with zalo_app.db.transaction() as session:
            identity = await session.scalar(select(Identity).where(Identity.external_id == user_id))
            assert identity is not None and identity.chat_id == user_id


async def test_long_zalo_message_ids_stay_distinct(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    """Updates are known by event name and message id; two long ids alike in their first
    hundred characters are two messages, not a repeat."""
    user_id = "0a1b2c3d4e5f60718293"
    headers = {"X-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    answered = []
    for text, last in (("/start", "1"), ("/help", "2")):
        update = zalo_text(user_id, text)
        update["message"]["message_id"] = "7" * 199 + last
        answer = await zalo_web.post("/webhook/zalo", content=json.dumps(update), headers=headers)
        assert answer.status_code == 200
        answered.append(len(zalo.sent(user_id)))
    assert answered[1] > answered[0] > 0, "the second message was answered too"
    async with zalo_app.db.transaction() as session:
        keys = list(await session.scalars(select(ProcessedUpdate.update_key)))
    assert len(keys) == 2 and all(len(k) <= 100 for k in keys)
