"""Telegram updates → the core's Event."""

from __future__ import annotations

from telegram import Bot, Message, Update

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
    cards are posted.
    """
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
