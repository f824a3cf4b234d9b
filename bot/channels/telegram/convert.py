"""Telegram updates → the core's Event, read from the update's JSON as Telegram sends it.

python-telegram-bot's `Update.de_json` builds an object for every part of an update (the
message, its chat, sender, entities, the keyboard it answers) and an attribute at a time
through the frozen objects' `__setattr__`: 0.1 ms an update, more than the rest of taking it
in, for the handful of fields the bot reads. So the bot reads those fields from the JSON
here, checking the type of each (`check`), and python-telegram-bot is used to call the Bot API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telegram import Bot

from bot.channels.chat_ids import MalformedUpdate
from handlers.types import Event, IncomingFile

CHANNEL = "telegram"
# Message attributes we cannot use, in the order Telegram documents them.
_UNSUPPORTED = (
    "sticker", "voice", "audio", "video", "video_note", "animation", "location", "venue",
    "poll", "dice", "game", "story",
)  # fmt: skip

JSON = Mapping[str, Any]


class RawUpdate:
    """An update as Telegram's JSON, with its id: what the channel takes from polling and
    from its webhook, and hands to python-telegram-bot's application to dispatch."""

    __slots__ = ("data", "update_id")

    def __init__(self, data: JSON) -> None:
        update_id = data.get("update_id")
        if isinstance(update_id, bool) or not isinstance(update_id, int):
            raise MalformedUpdate("update_id is not an integer")
        self.update_id = update_id
        self.data = data

    @property
    def callback_query(self) -> JSON | None:
        """The press, if the update is one and shaped as a dict."""
        query = self.data.get("callback_query")
        return query if isinstance(query, Mapping) else None

    @property
    def message(self) -> JSON | None:
        """The new message (not an edited one), if the update is one shaped as a dict."""
        message = self.data.get("message")
        return message if isinstance(message, Mapping) else None

    def __repr__(self) -> str:
        # The update's content may hold a phone number: logs show what it is, not what it says.
        kinds = [key for key in self.data if key != "update_id"]
        return f"RawUpdate({self.update_id}, {'/'.join(kinds) or 'empty'})"


def to_event(update: RawUpdate, bot: Bot) -> Event | None:
    """The Event for an update, or None for updates the bot does not take.

    Messages are taken in private chats only; button presses also in groups, where review
    cards are posted. Raises MalformedUpdate for an update whose fields are not of the types
    Telegram documents (see `check`).
    """
    data = update.data
    check(data)
    query = data.get("callback_query")
    if query is not None:
        message = query.get("message")
        if message is None:
            return None
        return Event(
            channel=CHANNEL,
            chat_id=str(message["chat"]["id"]),
            user_id=str(query["from"]["id"]),
            user_name=full_name(query["from"]),
            update_key=str(update.update_id),
            kind="button",
            button=query.get("data") or "",
        )
    edited = data.get("message") is None and data.get("edited_message") is not None
    message = data.get("message") or data.get("edited_message")
    if message is None or message["chat"]["type"] != "private" or message.get("from") is None:
        return None
    sender = message["from"]
    event = Event(
        channel=CHANNEL,
        chat_id=str(message["chat"]["id"]),
        user_id=str(sender["id"]),
        user_name=full_name(sender),
        update_key=str(update.update_id),
        kind="unsupported",
    )
    if edited:
        event.unsupported = "edited"
        return event
    _fill(event, message, bot)
    return event


def full_name(user: JSON) -> str:
    """First and last name, as Telegram's apps show a person."""
    last = user.get("last_name")
    return f"{user['first_name']} {last}" if last else str(user["first_name"])


def _fill(event: Event, message: JSON, bot: Bot) -> None:
    text = message.get("text")
    if text is not None:
        entities = message.get("entities")
        entity = entities[0] if entities else None
        if entity is not None and entity.get("type") == "bot_command" and entity["offset"] == 0:
            length = entity["length"]
            command = text[1:length].split("@", 1)[0].lower()
            event.kind, event.command = "command", command
            event.args = text[length:].strip()
        else:
            event.kind = "text"
        event.text = text
        return
    photo = message.get("photo")
    if photo:
        largest = photo[-1]
        event.kind = "photo"
        event.text = message.get("caption") or ""
        event.files = [
            _incoming("photo", largest["file_id"], largest.get("file_size"), None, None, bot)
        ]
        return
    doc = message.get("document")
    if doc is not None:
        event.kind = "document"
        event.text = message.get("caption") or ""
        event.files = [
            _incoming(
                "document",
                doc["file_id"],
                doc.get("file_size"),
                doc.get("file_name"),
                doc.get("mime_type"),
                bot,
            )
        ]
        return
    contact = message.get("contact")
    if contact is not None:
        event.kind = "contact"
        event.contact_phone = contact["phone_number"]
        event.contact_is_own = contact.get("user_id") == message["from"]["id"]
        return
    event.unsupported = next((name for name in _UNSUPPORTED if message.get(name)), "other")


def _incoming(
    kind: str, file_id: str, size: int | None, name: str | None, mime: str | None, bot: Bot
) -> IncomingFile:
    async def fetch() -> bytes:
        file = await bot.get_file(file_id)
        return bytes(await file.download_as_bytearray())

    return IncomingFile(
        kind=kind,  # type: ignore[arg-type]
        file_id=file_id,
        fetch=fetch,
        size=size,
        file_name=name,
        mime_type=mime,
    )


def check(update: JSON) -> None:
    """Raise MalformedUpdate unless every field the bot reads has the type Telegram documents.

    A chat id "abc", a message without a chat, a text that is a number or a message that is
    a list would fail later, after the update was acknowledged and perhaps half handled.
    Checked here, at the edge, such an update is refused (webhook: 400) or skipped with a
    warning (polling) instead.
    """
    query = _optional_object(update, "callback_query", "")
    if query is not None:
        _string(query.get("id"), "callback_query.id")
        _user(query.get("from"), "callback_query.from")
        _string(query.get("data"), "callback_query.data", optional=True)
        message = _optional_object(query, "message", "callback_query.")
        if message is not None:
            _chat(message, "callback_query.message")
            _integer(message.get("message_id"), "callback_query.message.message_id")
        return
    message = _optional_object(update, "message", "")
    edited = _optional_object(update, "edited_message", "")
    message = message if message is not None else edited
    if message is None:
        return
    chat = _chat(message, "message")
    # Not read, but a message without a date Telegram could send is not one of its messages.
    _integer(message.get("date"), "message.date")
    sender = message.get("from")
    if sender is not None:
        _user(sender, "message.from")
    elif chat["type"] == "private":
        raise MalformedUpdate("message.from missing in a private chat")
    for name in ("text", "caption", "media_group_id"):
        _string(message.get(name), f"message.{name}", optional=True)
    for entity in _objects(message, "entities", "message."):
        _string(entity.get("type"), "message.entities.type")
        _integer(entity.get("offset"), "message.entities.offset")
        _integer(entity.get("length"), "message.entities.length")
    for size in _objects(message, "photo", "message."):
        _file(size, "message.photo")
    doc = _optional_object(message, "document", "message.")
    if doc is not None:
        _file(doc, "message.document")
        _string(doc.get("file_name"), "message.document.file_name", optional=True)
        _string(doc.get("mime_type"), "message.document.mime_type", optional=True)
    contact = _optional_object(message, "contact", "message.")
    if contact is not None:
        _string(contact.get("phone_number"), "message.contact.phone_number")
        if contact.get("user_id") is not None:
            _integer(contact["user_id"], "message.contact.user_id")


def _optional_object(parent: JSON, key: str, prefix: str) -> JSON | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MalformedUpdate(f"{prefix}{key} is not an object")
    return value


def _objects(parent: JSON, key: str, prefix: str) -> list[JSON]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise MalformedUpdate(f"{prefix}{key} is not a list of objects")
    return value


def _chat(message: JSON, where: str) -> JSON:
    chat = _optional_object(message, "chat", f"{where}.")
    if chat is None:
        raise MalformedUpdate(f"{where}.chat missing")
    _integer(chat.get("id"), f"{where}.chat.id")
    _string(chat.get("type"), f"{where}.chat.type")
    return chat


def _user(user: object, where: str) -> None:
    if user is None:
        raise MalformedUpdate(f"{where} missing")
    if not isinstance(user, Mapping):
        raise MalformedUpdate(f"{where} is not an object")
    _integer(user.get("id"), f"{where}.id")
    _string(user.get("first_name"), f"{where}.first_name")
    _string(user.get("last_name"), f"{where}.last_name", optional=True)


def _file(file: JSON, where: str) -> None:
    _string(file.get("file_id"), f"{where}.file_id")
    size = file.get("file_size")
    if size is not None:
        _integer(size, f"{where}.file_size")


def _integer(value: object, where: str) -> None:
    # bool is an int to Python, not to JSON; ids are 64-bit at most on Telegram.
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise MalformedUpdate(f"{where} is not an integer: {value!r:.40}")


def _string(value: object, where: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise MalformedUpdate(f"{where} is not a string: {value!r:.40}")
