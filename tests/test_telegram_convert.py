"""Telegram's update JSON, as recorded from the Bot API (tests/fixtures/telegram), read into
the core's Event without python-telegram-bot's objects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.channels.chat_ids import MalformedUpdate
from bot.channels.telegram.channel import bot_api_request
from bot.channels.telegram.convert import RawUpdate, check, to_event
from bot.channels.telegram.polling import JsonUpdatesBot
from handlers.types import Event
from tests.apps import FIXTURES
from tests.fakes.telegram_server import FakeTelegram


def recorded(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "telegram" / f"{name}.json").read_text(encoding="utf-8"))


def event_of(name: str, bot: JsonUpdatesBot) -> Event | None:
    return to_event(RawUpdate(recorded(name)), bot)


@pytest.fixture
def bot(telegram: FakeTelegram) -> JsonUpdatesBot:
    return JsonUpdatesBot(
        telegram.token,
        base_url=telegram.base_url,
        base_file_url=telegram.base_file_url,
        request=bot_api_request(),
        get_updates_request=bot_api_request(),
        poll_read_timeout=10,
    )


def test_a_command_with_the_bots_name_and_words_after_it(bot: JsonUpdatesBot) -> None:
    event = event_of("command", bot)
    assert event is not None
    assert (event.kind, event.command, event.args) == ("command", "new", "Cô Lan")
    assert (event.chat_id, event.user_id) == ("5123456789", "5123456789")
    assert event.user_name == "Lan Nguyễn Thị"
    assert event.update_key == "811700001"


async def test_a_photo_of_an_album_is_its_largest_size_with_the_caption(
    bot: JsonUpdatesBot, telegram: FakeTelegram
) -> None:
    event = event_of("photo_in_album", bot)
    assert event is not None and event.kind == "photo" and event.text == "Lớp học buổi tối"
    [photo] = event.files
    assert (photo.file_id, photo.size) == ("AgACAgUAAxkBAAIBslarge", 108733)
    assert RawUpdate(recorded("photo_in_album")).message["media_group_id"] == "13845123456789012"  # type: ignore[index]
    # The file is fetched through the Bot API only when the handler asks for it.
    stored = telegram.register_photo(b"\xff\xd8\xff\xe0 not really a jpeg")
    fetched = to_event(
        RawUpdate(
            {
                "update_id": 1,
                "message": {
                    **recorded("photo_in_album")["message"],
                    "photo": [{"file_id": stored.file_id, "file_unique_id": "u"}],
                },
            }
        ),
        bot,
    )
    assert fetched is not None
    async with bot:
        assert await fetched.files[0].fetch() == b"\xff\xd8\xff\xe0 not really a jpeg"


def test_a_document_keeps_its_name_type_and_size(bot: JsonUpdatesBot) -> None:
    event = event_of("document", bot)
    assert event is not None and event.kind == "document"
    [doc] = event.files
    assert (doc.file_name, doc.size) == ("Bài viết cô Lan.docx", 15872)
    assert doc.mime_type is not None and doc.mime_type.endswith("wordprocessingml.document")


def test_a_contact_is_known_as_the_senders_own(bot: JsonUpdatesBot) -> None:
    event = event_of("contact", bot)
    assert event is not None and event.kind == "contact"
    assert (event.contact_phone, event.contact_is_own) == ("84912345678", True)
    other = recorded("contact")
    other["message"]["contact"]["user_id"] = 42
    shared = to_event(RawUpdate(other), bot)
    assert shared is not None and shared.contact_is_own is False


def test_a_press_on_a_card_in_a_group(bot: JsonUpdatesBot) -> None:
    event = event_of("press", bot)
    assert event is not None and event.kind == "button"
    assert (event.chat_id, event.button) == ("-1002233445566", "12|approve")
    assert event.user_name == "Lan Nguyễn Thị"


def test_edited_stickers_and_groups(bot: JsonUpdatesBot) -> None:
    edited = event_of("edited", bot)
    assert edited is not None and (edited.kind, edited.unsupported) == ("unsupported", "edited")
    sticker = event_of("sticker", bot)
    assert sticker is not None and sticker.unsupported == "sticker"
    # Messages are taken in private chats only; presses also in groups (review cards).
    assert event_of("group_message", bot) is None


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("message", "oops"),
        ("message.chat", ["x"]),
        ("message.entities", "x"),
        ("message.entities.0", "x"),
        ("message.photo", {"file_id": "x"}),
        ("message.photo.0.file_id", 5),
        ("message.date", 1e30),
        ("message.document", "x"),
        ("message.contact", 5),
        ("message.from", "Lan"),
    ],
)
def test_every_part_read_has_the_shape_telegram_documents(where: str, value: object) -> None:
    update = recorded("photo_in_album")
    update["message"]["entities"] = [{"type": "hashtag", "offset": 0, "length": 3}]
    update["message"]["document"] = recorded("document")["message"]["document"]
    update["message"]["contact"] = {"phone_number": "0912345678", "first_name": "An"}
    check(update)  # as recorded, with every part, it is an update
    *path, last = where.split(".")
    parent: Any = update
    for key in path:
        parent = parent[int(key)] if key.isdigit() else parent[key]
    parent[int(last) if last.isdigit() else last] = value
    with pytest.raises(MalformedUpdate):
        check(update)


def test_an_update_needs_an_integer_id_and_is_logged_without_its_content() -> None:
    for update_id in ("7", True, None, 1.5):
        with pytest.raises(MalformedUpdate):
            RawUpdate({"update_id": update_id})
    shown = repr(RawUpdate(recorded("contact")))
    assert shown == "RawUpdate(811700004, message)" and "849" not in shown
