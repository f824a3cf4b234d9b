"""The core's Reply → Telegram messages: HTML text, inline buttons, reply keyboards, photos."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.warnings import PTBUserWarning

from bot.channels.parts import Part
from bot.channels.telegram.photos import PhotoIds, photo_calls, send_photo
from handlers.types import OutgoingFile, Reply
from templates import to_plain

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_TEXT = 4096
MAX_CAPTION = 1024
ATTEMPTS = 4


def folded(replies: list[Reply]) -> list[Reply]:
    """The replies with each text-only one joined to the reply after it, where one message
    shows both as well: the greeting and the first question of /start go as one message,
    one Bot API call instead of two.

    Joined only when no photo is involved, the joined text fits one message, and at most one
    of the two carries buttons or a keyboard (a message has one markup), which the joined one
    keeps, under both texts.
    """
    out: list[Reply] = []
    for reply in replies:
        before = out[-1] if out else None
        if before is not None and _foldable(before, reply):
            marked = before if _has_markup(before) else reply
            text = f"{before.text}\n\n{reply.text}"
            out[-1] = dataclasses.replace(
                reply,
                text=text,
                choices=marked.choices,
                columns=marked.columns,
                menu=marked.menu,
                ask_contact=marked.ask_contact,
                typed_hint="",
            )
            continue
        out.append(reply)
    return out


def _has_markup(reply: Reply) -> bool:
    return bool(reply.choices or reply.menu is not None or reply.ask_contact or _web_app(reply))


def _foldable(first: Reply, second: Reply) -> bool:
    if first.photos or second.photos or first.link is not None:
        return False
    if first.file is not None or second.file is not None:
        return False  # a file's caption stays the message just before its document
    if _has_markup(first) and _has_markup(second):
        return False
    return len(_text(first)) + len(_text(second)) + 2 <= MAX_TEXT


def reply_calls(
    bot: Bot, chat_id: int, reply: Reply, photo_ids: PhotoIds | None = None
) -> list[Part]:
    """The Bot API calls that send one reply: its photos first, then its text with buttons
    or keyboard, in pieces Telegram takes.

    One photo with a short text goes as a single captioned photo (a broadcast post). Each
    call returns the id of the message it sent, or None for photos without text; the last
    one carries the buttons. `photo_ids` holds Telegram's file id for the photos it has
    carried, so a photo goes up once (`photos`).
    """
    serialized = markup_json(reply)
    reply_text = _text(reply)
    if len(reply.photos) == 1 and len(reply_text) <= MAX_CAPTION:
        path = reply.photos[0]

        async def captioned() -> str | None:
            # Looked up when sent: another send of the same post may have uploaded it since.
            sent = await send_photo(
                bot,
                chat_id,
                path,
                photo_ids,
                caption=reply_text,
                parse_mode=ParseMode.HTML,
                reply_markup=serialized,
            )
            return str(sent.message_id)

        return [captioned]
    calls = photo_calls(bot, chat_id, reply.photos, photo_ids)
    chunks = split_text(reply_text)
    for i, chunk in enumerate(chunks):
        last = i == len(chunks) - 1

        async def text(chunk: str = chunk, last: bool = last) -> str | None:
            return await send_text(bot, chat_id, chunk, serialized if last else None)

        calls.append(text)
    if reply.file is not None:
        calls.append(_document_call(bot, chat_id, reply.file))
    return calls


def _document_call(bot: Bot, chat_id: int, sent: OutgoingFile) -> Part:
    """sendDocument for a file the bot made (an export) or keeps (an evidence document)."""

    async def send() -> str | None:
        # Read when sent: the outbox may send it long after it was made (still under its
        # two days: the tick deletes older exports).
        message = await bot.send_document(
            chat_id,
            await asyncio.to_thread(sent.path.read_bytes),  # an export may be megabytes
            filename=sent.name,
            caption=sent.caption[:MAX_CAPTION] or None,
            parse_mode=ParseMode.HTML if sent.caption else None,
        )
        return str(message.message_id)

    return send


# `Bot.do_api_request` warns when a named method exists; here it is used on purpose, so the
# answer (all that is kept of it is the message id) is not turned into a `Message`.
_QUIET = re.compile(r"Please use 'Bot\.(send_message|edit_message_reply_markup|get_updates)'", re.I)


def raw_call_unwarned() -> None:
    """Ignore the warning about the deliberate raw calls; checked on each call because a
    `warnings.catch_warnings` block (pytest wraps imports in one) restores the filters."""
    if not any(f[0] == "ignore" and f[1] == _QUIET for f in warnings.filters):
        warnings.filterwarnings("ignore", message=_QUIET.pattern, category=PTBUserWarning)


async def send_text(
    bot: Bot,
    chat_id: int,
    text: str,
    markup: str | None = None,
) -> str:
    """sendMessage with HTML text and `markup` (`markup_json`); returns the sent message's
    id.

    Through `Bot.do_api_request`: the same request and the same errors (BadRequest,
    Forbidden, RetryAfter, …) as `Bot.send_message`, without parsing the returned message
    into a `Message` (its chat, sender, entities, keyboard), which cost more processor time
    than the rest of the call and of which only the id is used.
    """
    arguments: dict[str, object] = {"chat_id": chat_id, "text": text, "parse_mode": ParseMode.HTML}
    if markup is not None:
        arguments["reply_markup"] = markup
    raw_call_unwarned()
    sent = await bot.do_api_request("send_message", api_kwargs=arguments)
    return str(sent["message_id"])


async def remove_buttons(bot: Bot, chat_id: int | str, message_id: int) -> None:
    """editMessageReplyMarkup without markup: the message's inline buttons go. The answer
    (the edited message) is not parsed; errors are raised as `Bot`'s own methods raise them."""
    arguments = {"chat_id": chat_id, "message_id": message_id}
    raw_call_unwarned()
    await bot.do_api_request("edit_message_reply_markup", api_kwargs=arguments)


async def edit_reply(bot: Bot, chat_id: int, message_id: int, reply: Reply) -> None:
    """Replace a message's text and inline buttons (none when the reply has no choices)."""
    markup = markup_json(reply) if reply.choices or _web_app(reply) else None
    try:
        await call_with_retry(
            lambda: bot.edit_message_text(
                split_text(_text(reply))[0],
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,  # type: ignore[arg-type]
            )
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at line breaks (then spaces) so each piece fits Telegram's limit."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            pieces, current = _flush(pieces, current), ""
            pieces.append(line[:cut])
            line = line[cut:].lstrip()
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces, current = _flush(pieces, current), line
        else:
            current = candidate
    return _flush(pieces, current) or [""]


def _flush(pieces: list[str], current: str) -> list[str]:
    return [*pieces, current] if current.strip() else pieces


def _web_app(reply: Reply) -> dict[str, object] | None:
    """The reply's link as a Mini App button (the Bot API's JSON); Telegram opens only https
    pages that way."""
    link = reply.link
    if link is None or not link.url.startswith("https://"):
        return None
    # The page loads Telegram's script (its theme, closing the app) only when asked to.
    url = link.url + ("&" if "?" in link.url else "?") + "tg=1"
    return {"text": to_plain(link.label), "web_app": {"url": url}}


def _text(reply: Reply) -> str:
    """The reply's text, with its link written out when it cannot be a Mini App button."""
    if reply.link is None or _web_app(reply) is not None:
        return reply.text
    label, url = html.escape(to_plain(reply.link.label)), html.escape(reply.link.url)
    return f"{reply.text}\n\n{label}: {url}"


def _markup(reply: Reply) -> dict[str, object] | None:
    """The reply's inline buttons or reply keyboard as the Bot API's JSON object (built as
    plain dicts: python-telegram-bot's button objects cost more than the send), or None."""
    # Labels are in the texts' HTML subset like everything rendered, but Telegram shows a
    # button's text as it is: "&amp;" would be seen as such.
    web_app = _web_app(reply)
    if reply.choices or web_app:
        rows: list[list[dict[str, object]]] = [
            [{"text": to_plain(c.label), "callback_data": c.payload} for c in reply.choices[i:j]]
            for i, j in _row_bounds(len(reply.choices), reply.columns)
        ]
        return {"inline_keyboard": [[web_app], *rows] if web_app else rows}
    if reply.ask_contact:
        button = {"text": to_plain(reply.ask_contact), "request_contact": True}
        return {"keyboard": [[button]], "resize_keyboard": True, "one_time_keyboard": True}
    if reply.menu:
        # The menu's labels are fixed texts with nothing to unescape: the person's tap sends
        # the label back, and it is matched as rendered.
        keyboard = [[{"text": label} for label in row] for row in reply.menu]
        return {"keyboard": keyboard, "resize_keyboard": True, "is_persistent": True}
    return None


# Serialized keyboards by what they are made of: most messages offer the same few (a field's
# choices, the main menu, the share-my-phone button), so each is built and serialized once.
# Bounded: emptied when full.
_SERIALIZED: dict[tuple[object, ...], str | None] = {}
SERIALIZED_KEEP = 2048


def markup_json(reply: Reply) -> str | None:
    """The reply's buttons or keyboard as the Bot API's JSON text, or None when it has none:
    python-telegram-bot sends a `reply_markup` given as text as it is."""
    link = reply.link
    key = (
        tuple(reply.choices),
        reply.columns,
        tuple(map(tuple, reply.menu)) if reply.menu is not None else None,
        reply.ask_contact,
        (link.label, link.url) if link is not None else None,
    )
    if key in _SERIALIZED:
        return _SERIALIZED[key]
    markup = _markup(reply)
    serialized = json.dumps(markup) if markup is not None else None
    if len(_SERIALIZED) >= SERIALIZED_KEEP:
        _SERIALIZED.clear()
    _SERIALIZED[key] = serialized
    return serialized


def _row_bounds(count: int, columns: int) -> list[tuple[int, int]]:
    # Long labels (campaign titles, focus areas) need a row each; short ones share rows.
    step = max(1, columns)
    return [(i, min(i + step, count)) for i in range(0, count, step)]


async def call_with_retry(call: Callable[[], Awaitable[T]]) -> T:
    """Run a Bot API call, waiting out 429s and retrying network faults; raises what
    failed the last time (refusals at once)."""
    delay = 1.0
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as exc:
            if attempt == ATTEMPTS:
                raise
            wait = exc.retry_after
            seconds = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
            await asyncio.sleep(seconds)
        except (Forbidden, BadRequest):
            raise
        except (TimedOut, NetworkError) as exc:
            if attempt == ATTEMPTS:
                raise
            log.warning("telegram call failed (%s), retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
