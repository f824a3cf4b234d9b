"""Photos sent by Telegram's file id where the bot has one, uploaded only the first time.

Telegram keeps every photo it has carried: a file id the bot received (a teacher's photo of
their exemplar) or got back from an upload (a broadcast post) sends the same photo again
without its bytes. So a draft's preview, its review cards and a post to thousands upload a
photo once, or never when it came from Telegram in the first place. The ids are kept in
memory, per process: each attachment's id is in the database too (`platform_file_id`), but a
reply names its photos by path, and a restart costs one upload a photo.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telegram import Bot, InputMediaPhoto, Message
from telegram.error import BadRequest

from bot.channels.parts import Part

MAX_ALBUM = 10


class PhotoIds:
    """Telegram's file id of each photo file (by its path in the media folder) the bot has
    sent or been sent. Bounded: emptied when full, after which photos go up once again."""

    KEEP = 4096

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def get(self, path: Path) -> str | None:
        """The file id to send `path` by, if there is one."""
        return self._ids.get(str(path))

    def remember(self, path: Path, file_id: str) -> None:
        """Send `path` by `file_id` from now on."""
        if len(self._ids) >= self.KEEP:
            self._ids.clear()
        self._ids[str(path)] = file_id

    def __contains__(self, path: object) -> bool:
        return str(path) in self._ids


async def send_photo(
    bot: Bot, chat_id: int, path: Path, photo_ids: PhotoIds | None, **kwargs: Any
) -> Message:
    """sendPhoto of the file at `path`: by its file id if known, else its bytes (and its new
    id remembered). A file id Telegram no longer takes is replaced by a new upload's id."""
    cached = photo_ids.get(path) if photo_ids is not None else None
    if cached is not None:
        try:
            return await bot.send_photo(chat_id, cached, **kwargs)
        except BadRequest as exc:
            if not _refuses_file_id(exc):
                raise  # the chat, the caption, the rights: uploading would not help
    sent = await bot.send_photo(chat_id, await _read(path), **kwargs)
    if photo_ids is not None and sent.photo:
        photo_ids.remember(path, sent.photo[-1].file_id)
    return sent


def photo_calls(
    bot: Bot, chat_id: int, photos: Sequence[Path], photo_ids: PhotoIds | None
) -> list[Part]:
    """The calls sending `photos` without text: one photo, or albums of up to ten."""
    calls: list[Part] = []
    for start in range(0, len(photos), MAX_ALBUM):
        batch = list(photos[start : start + MAX_ALBUM])

        async def send(batch: list[Path] = batch) -> str | None:
            if len(batch) == 1:
                await send_photo(bot, chat_id, batch[0], photo_ids)
            else:
                await _send_album(bot, chat_id, batch, photo_ids)
            return None

        calls.append(send)
    return calls


async def _send_album(
    bot: Bot, chat_id: int, batch: list[Path], photo_ids: PhotoIds | None
) -> None:
    known = [photo_ids.get(p) if photo_ids is not None else None for p in batch]
    sent: tuple[Message, ...] | None = None
    if photo_ids is not None and any(known):
        media = [InputMediaPhoto(k or await _read(p)) for k, p in zip(known, batch, strict=True)]
        try:
            sent = await bot.send_media_group(chat_id, media)
        except BadRequest as exc:
            if not _refuses_file_id(exc):
                raise
    if sent is None:
        media = [InputMediaPhoto(await _read(p)) for p in batch]
        sent = await bot.send_media_group(chat_id, media)
    if photo_ids is not None:
        for path, message in zip(batch, sent, strict=False):
            if message.photo:
                photo_ids.remember(path, message.photo[-1].file_id)


# How Telegram says it no longer takes a file id (it may forget one, or it was another bot's).
_STALE_ID = ("file identifier", "file reference", "type of file", "file_id")


def _refuses_file_id(exc: BadRequest) -> bool:
    return any(words in exc.message.lower() for words in _STALE_ID)


async def _read(path: Path) -> bytes:
    # A photo may be megabytes: read off the event loop.
    return await asyncio.to_thread(path.read_bytes)
