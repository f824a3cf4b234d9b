"""Zalo updates → the core's Event.

An update is `{"event_name": …, "message": {…}}`; ids are strings and there is no update id,
so an update is known by its event name and message id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from bot.channels.chat_ids import MalformedUpdate, check_arriving_id
from handlers.types import Event, IncomingFile

CHANNEL = "zalo"
# No buttons, no command menu, and no files but photos on Zalo's Bot API; a Zalo message holds
# at most 2,000 characters (zalo-bot-api.md: sendMessage).
CAPABILITIES: dict[str, bool | int] = {
    "has_buttons": False,
    "has_menu": False,
    "takes_documents": False,
    # Nor can it send any: exports and evidence documents go as download links.
    "sends_files": False,
    "message_chars": 2000,
}
TEXT, IMAGE, STICKER, UNSUPPORTED = (
    "message.text.received",
    "message.image.received",
    "message.sticker.received",
    "message.unsupported.received",
)

PhotoFetcher = Callable[[str], Awaitable[bytes]]

# processed_updates.update_key holds 100 characters; longer keys are shortened by a digest,
# since cutting them could make two messages one.
_KEY_LENGTH = 100


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
    chat_id, user_id = _id(chat.get("id"), "chat.id"), _id(sender.get("id"), "from.id")
    message_id = _id(message.get("message_id"), "message_id")
    if sender.get("is_bot"):
        return None
    in_group = str(chat.get("chat_type", "PRIVATE")).upper() != "PRIVATE"
    name = _event_name(update, message)
    # What the event name promises must be there: a text that is a number is no message.
    if name == TEXT and not isinstance(message.get("text"), str):
        raise MalformedUpdate("text is not a string")
    if name == IMAGE and not isinstance(message.get("photo"), str):
        raise MalformedUpdate("photo is not a URL")
    event = Event(
        channel=CHANNEL,
        chat_id=chat_id,
        user_id=user_id,
        user_name=_name(sender),
        update_key=_update_key(name, message_id),
        kind="unsupported",
        in_group=in_group,
        **CAPABILITIES,  # type: ignore[arg-type]
    )
    text = message.get("text")
    if name == TEXT and isinstance(text, str):
        _fill_text(event, text)
    elif name == IMAGE and isinstance(message.get("photo"), str):
        url = message["photo"]
        event.kind = "photo"
        caption = message.get("caption")
        event.text = caption if isinstance(caption, str) else ""
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


def _id(value: Any, where: str) -> str:
    """An id as Zalo sends it (a string; a number taken too), or MalformedUpdate: a missing,
    overlong or control-character id would be stored, and answered, under a false name."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedUpdate(f"{where} missing")
    return check_arriving_id(str(value), where)


def _name(sender: dict[str, Any]) -> str:
    names = (sender.get("display_name"), sender.get("first_name"))
    return next((n for n in names if isinstance(n, str) and n), "")


def _update_key(name: str, message_id: str) -> str:
    key = f"{name}:{message_id}"
    if len(key) <= _KEY_LENGTH:
        return key
    return f"{name[:40]}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _incoming(url: str, message_id: str, fetch_photo: PhotoFetcher) -> IncomingFile:
    async def fetch() -> bytes:
        return await fetch_photo(url)

    # The URL itself is Zalo's only handle on the photo; keep it where it fits.
    file_id = url if len(url) <= 300 else f"zalo-message:{message_id}"
    return IncomingFile(kind="photo", file_id=file_id, fetch=fetch)
