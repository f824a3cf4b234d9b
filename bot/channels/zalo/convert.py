"""Zalo updates → the core's Event.

An update is `{"event_name": …, "message": {…}}`; ids are strings and there is no update id,
so an update is known by its event name and message id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from handlers.types import Event, IncomingFile

CHANNEL = "zalo"
TEXT, IMAGE, STICKER, UNSUPPORTED = (
    "message.text.received",
    "message.image.received",
    "message.sticker.received",
    "message.unsupported.received",
)

PhotoFetcher = Callable[[str], Awaitable[bytes]]


class MalformedUpdate(ValueError):
    """The body is not an update as Zalo sends them."""


def to_event(update: Any, fetch_photo: PhotoFetcher) -> Event | None:
    """The Event for an update; None for a message from a bot, which the bot does not take.

    A message in a group chat becomes an Event marked `in_group`: the core answers it (the
    bot works in private chats) and a group can be made a broadcast audience. Its photos
    are not fetched: nothing sent in a group is stored.

    Raises MalformedUpdate for anything that is not shaped like an update.
    """
    if not isinstance(update, dict) or not isinstance(update.get("message"), dict):
        raise MalformedUpdate("no message")
    message = update["message"]
    chat, sender = message.get("chat"), message.get("from")
    if not isinstance(chat, dict) or not isinstance(sender, dict):
        raise MalformedUpdate("no chat or sender")
    chat_id, user_id = _id(chat.get("id")), _id(sender.get("id"))
    message_id = _id(message.get("message_id"))
    if not (chat_id and user_id and message_id):
        raise MalformedUpdate("missing ids")
    if sender.get("is_bot"):
        return None
    in_group = str(chat.get("chat_type", "PRIVATE")).upper() != "PRIVATE"
    name = _event_name(update, message)
    event = Event(
        channel=CHANNEL,
        chat_id=chat_id,
        user_id=user_id,
        user_name=str(sender.get("display_name") or sender.get("first_name") or ""),
        update_key=f"{name}:{message_id}"[:100],
        kind="unsupported",
        # No buttons, no command menu, and no files but photos on Zalo's Bot API.
        has_buttons=False,
        has_menu=False,
        takes_documents=False,
        in_group=in_group,
    )
    text = message.get("text")
    if name == TEXT and isinstance(text, str):
        _fill_text(event, text)
    elif name == IMAGE and isinstance(message.get("photo"), str):
        url = message["photo"]
        event.kind = "photo"
        event.text = str(message.get("caption") or "")
        event.files = [_incoming(url, message_id, fetch_photo)]
    else:
        event.unsupported = "sticker" if name == STICKER else "other"
    if in_group:
        event.files = []
    return event


def _fill_text(event: Event, text: str) -> None:
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1 and not stripped[1].isspace():
        # Split at any whitespace: on a phone the reason often follows on a new line.
        command, *rest = stripped[1:].split(None, 1)
        event.kind, event.command = "command", command.lower()
        event.args = rest[0].strip() if rest else ""
    else:
        event.kind = "text"
    event.text = text


def _event_name(update: dict[str, Any], message: dict[str, Any]) -> str:
    name = update.get("event_name")
    if isinstance(name, str) and name:
        return name
    # Some answers of getUpdates carry the message alone; tell the kind from its content.
    if isinstance(message.get("text"), str):
        return TEXT
    if isinstance(message.get("photo"), str):
        return IMAGE
    if message.get("sticker"):
        return STICKER
    return UNSUPPORTED


def _id(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and str(value) else ""


def _incoming(url: str, message_id: str, fetch_photo: PhotoFetcher) -> IncomingFile:
    async def fetch() -> bytes:
        return await fetch_photo(url)

    # The URL itself is Zalo's only handle on the photo; keep it where it fits.
    file_id = url if len(url) <= 300 else f"zalo-message:{message_id}"
    return IncomingFile(kind="photo", file_id=file_id, fetch=fetch)
