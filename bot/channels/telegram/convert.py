"""Telegram updates → the core's Event."""

from __future__ import annotations

from typing import Any

from telegram import Bot, Message, Update, User

from bot.channels.chat_ids import MalformedUpdate
from handlers.types import Event, IncomingFile

CHANNEL = "telegram"
# Message attributes we cannot use, in the order Telegram documents them.
_UNSUPPORTED = (
    "sticker", "voice", "audio", "video", "video_note", "animation", "location", "venue",
    "poll", "dice", "game", "story",
)  # fmt: skip


def to_event(update: Update, bot: Bot) -> Event | None:
    """The Event for an update, or None for updates the bot does not take.

    Messages are taken in private chats only; button presses also in groups, where review
    cards are posted. Raises MalformedUpdate for an update whose fields are not of the types
    Telegram documents (see `check`).
    """
    check(update)
    query = update.callback_query
    if query is not None:
        message = query.message
        if message is None:
            return None
        return Event(
            channel=CHANNEL,
            chat_id=str(message.chat.id),
            user_id=str(query.from_user.id),
            user_name=query.from_user.full_name,
            update_key=str(update.update_id),
            kind="button",
            button=query.data or "",
        )
    message = update.message or update.edited_message
    if message is None or message.chat.type != "private" or message.from_user is None:
        return None
    event = Event(
        channel=CHANNEL,
        chat_id=str(message.chat.id),
        user_id=str(message.from_user.id),
        user_name=message.from_user.full_name,
        update_key=str(update.update_id),
        kind="unsupported",
    )
    if update.edited_message is not None:
        event.unsupported = "edited"
        return event
    _fill(event, message, bot)
    return event


def _fill(event: Event, message: Message, bot: Bot) -> None:
    if message.text is not None:
        text = message.text
        entity = message.entities[0] if message.entities else None
        if entity is not None and entity.type == "bot_command" and entity.offset == 0:
            command = text[1 : entity.length].split("@", 1)[0].lower()
            event.kind, event.command = "command", command
            event.args = text[entity.length :].strip()
        else:
            event.kind = "text"
        event.text = text
        return
    if message.photo:
        largest = message.photo[-1]
        event.kind = "photo"
        event.text = message.caption or ""
        event.files = [_incoming("photo", largest.file_id, largest.file_size, None, None, bot)]
        return
    if message.document is not None:
        doc = message.document
        event.kind = "document"
        event.text = message.caption or ""
        event.files = [
            _incoming("document", doc.file_id, doc.file_size, doc.file_name, doc.mime_type, bot)
        ]
        return
    if message.contact is not None:
        contact = message.contact
        event.kind = "contact"
        event.contact_phone = contact.phone_number
        event.contact_is_own = contact.user_id == message.from_user.id  # type: ignore[union-attr]
        return
    event.unsupported = next(
        (name for name in _UNSUPPORTED if getattr(message, name, None)), "other"
    )


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


def check(update: Update) -> None:
    """Raise MalformedUpdate unless every field the bot reads has the type Telegram documents.

    python-telegram-bot builds its objects from whatever JSON arrives: a chat id "abc", a
    message without a chat or a text that is a number all become objects that fail later,
    after the update was acknowledged and perhaps half handled. Checked here, at the edge,
    such an update is refused (webhook: 400) or skipped with a warning (polling) instead.
    """
    query = update.callback_query
    if query is not None:
        _string(query.id, "callback_query.id")
        _user(query.from_user, "callback_query.from")
        _string(query.data, "callback_query.data", optional=True)
        if query.message is not None:
            _chat(query.message, "callback_query.message")
        return
    message = update.message or update.edited_message
    if message is None:
        return
    _chat(message, "message")
    if message.from_user is not None:
        _user(message.from_user, "message.from")
    elif message.chat.type == "private":
        raise MalformedUpdate("message.from missing in a private chat")
    for name in ("text", "caption", "media_group_id"):
        _string(getattr(message, name), f"message.{name}", optional=True)
    for entity in message.entities or ():
        _integer(entity.offset, "message.entities.offset")
        _integer(entity.length, "message.entities.length")
    for size in message.photo or ():
        _file(size.file_id, size.file_size, "message.photo")
    doc = message.document
    if doc is not None:
        _file(doc.file_id, doc.file_size, "message.document")
        _string(doc.file_name, "message.document.file_name", optional=True)
        _string(doc.mime_type, "message.document.mime_type", optional=True)
    contact = message.contact
    if contact is not None:
        _string(contact.phone_number, "message.contact.phone_number")
        if contact.user_id is not None:
            _integer(contact.user_id, "message.contact.user_id")


def _chat(message: Any, where: str) -> None:
    chat = getattr(message, "chat", None)
    if chat is None:
        raise MalformedUpdate(f"{where}.chat missing")
    _integer(chat.id, f"{where}.chat.id")
    _string(chat.type, f"{where}.chat.type")


def _user(user: User | None, where: str) -> None:
    if user is None:
        raise MalformedUpdate(f"{where} missing")
    _integer(user.id, f"{where}.id")
    _string(user.first_name, f"{where}.first_name")
    _string(user.last_name, f"{where}.last_name", optional=True)


def _file(file_id: object, size: object, where: str) -> None:
    _string(file_id, f"{where}.file_id")
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
