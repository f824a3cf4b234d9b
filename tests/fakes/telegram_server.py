"""A fake Telegram Bot API server for end-to-end tests.

It listens on a real TCP port on 127.0.0.1 so the bot under test talks to it through its normal
HTTP stack (python-telegram-bot's ``HTTPXRequest``).  Point the bot at it with::

    Bot(token, base_url=f"{fake.api_root}/bot", base_file_url=f"{fake.api_root}/file/bot")

or the equivalent ``ApplicationBuilder().base_url(...).base_file_url(...)``.

How PTB v22 talks to the Bot API (verified against ``telegram/request`` in the installed PTB):

* every API method is a ``POST {base_url}{token}/{method}``; file downloads are a
  ``GET {base_file_url}{token}/{file_path}``;
* without uploads the body is ``application/x-www-form-urlencoded``; string values are sent
  verbatim and every other value (ints, bools, lists, dicts such as ``reply_markup``) is a
  JSON-encoded string, so ``chat_id=42`` and ``text=42`` look identical on the wire;
* with uploads the same fields become ``multipart/form-data`` parts and each file is a part with
  a filename; a file passed directly (``sendPhoto(photo=bytes)``) uses the parameter name as the
  part name, while files inside ``media`` are referenced as ``attach://<random name>``;
* error handling keys off the HTTP status (401/404 -> InvalidToken, 400 -> BadRequest,
  403 -> Forbidden, 409 -> Conflict) and ``parameters.retry_after`` -> RetryAfter regardless of
  the status;
* ``getFile`` results have ``base_file_url + token`` prepended to ``file_path`` by PTB itself.
"""

# Waiting helpers take a timeout argument on purpose: tests read better with one call than
# with an asyncio.timeout block around every wait.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from aiohttp import web

from tests.fakes.settling import Probe, until_settled

T = TypeVar("T")

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-token"

# Wire values of these parameters are plain strings; JSON-decoding them would turn a message text
# such as "42" or "true" into a number or bool.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "url",
        "inline_message_id",
        "language_code",
        "action",
        "secret_token",
        "business_connection_id",
        "message_effect_id",
        "emoji",
        "title",
        "description",
        "short_description",
        "name",
        "query",
        "ip_address",
        "photo",
        "document",
        "video",
        "audio",
        "voice",
        "animation",
        "sticker",
        "thumbnail",
        "video_note",
        "certificate",
    }
)

_TEXT_LIMIT = 4096
_CAPTION_LIMIT = 1024
_CALLBACK_DATA_LIMIT = 64

# Tags Telegram accepts in parse_mode=HTML; anything else is rejected with 400.
_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    }
)
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")


@dataclass
class UploadedFile:
    """A file part of a multipart request, as the bot uploaded it."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Call:
    """One request to the fake API, recorded on arrival; ``status`` is None until answered.

    ``params`` merges query string and body; JSON-encoded values are decoded and uploaded file
    parts appear as ``UploadedFile``.
    """

    method: str
    params: JSONDict
    at: float
    http_method: str = "POST"
    content_type: str = ""
    status: int | None = None


@dataclass
class FileRecord:
    """A file known to the fake server (sent by a user or uploaded by the bot)."""

    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[JSONDict] | None = None


@dataclass
class Edit:
    """The state of a message before one edit was applied to it."""

    method: str
    params: JSONDict
    at: float
    old_text: str | None
    old_reply_markup: JSONDict | None


@dataclass
class SentMessage:
    """A message the bot sent; edits mutate it in place and are listed in ``edits``."""

    message_id: int
    chat_id: int
    text: str | None
    reply_markup: JSONDict | None
    kind: str
    date: int
    chat: JSONDict
    parse_mode: str | None = None
    photo: list[JSONDict] | None = None
    document: JSONDict | None = None
    file_data: bytes | None = None
    media_group_id: str | None = None
    params: JSONDict = field(default_factory=dict)
    edits: list[Edit] = field(default_factory=list)
    edit_date: int | None = None
    deleted: bool = False

    @property
    def caption(self) -> str | None:
        """The caption of a photo/document message (``text`` holds it as well)."""
        return self.text if self.kind != "text" else None

    @property
    def plain_text(self) -> str | None:
        """The text as the user sees it for parse_mode=HTML (tags removed, entities unescaped).

        Markdown modes are not rendered; their text is returned unchanged.
        """
        if self.text is None or (self.parse_mode or "").upper() != "HTML":
            return self.text
        return html.unescape(_TAG_RE.sub("", self.text))

    @property
    def file_id(self) -> str | None:
        """The file_id of the largest photo size or of the document, if any."""
        if self.photo:
            return self.photo[-1]["file_id"]
        if self.document:
            return self.document["file_id"]
        return None

    def buttons(self) -> list[str]:
        """Texts of the inline buttons currently attached to the message, row by row."""
        return [b["text"] for row in _inline_rows(self.reply_markup) for b in row]

    def button_data(self) -> dict[str, str | None]:
        """Map of inline button text to its callback_data (None for URL buttons etc.)."""
        return {
            b["text"]: b.get("callback_data")
            for row in _inline_rows(self.reply_markup)
            for b in row
        }


class ApiError(Exception):
    """Makes a handler answer with a Telegram error body."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


def _bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _inline_rows(markup: JSONDict | None) -> list[list[JSONDict]]:
    if not markup:
        return []
    return markup.get("inline_keyboard") or []


def _default_description(status: int, retry_after: int | None) -> str:
    if status == 429:
        return f"Too Many Requests: retry after {retry_after or 1}"
    if status == 403:
        return "Forbidden: bot was blocked by the user"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _check_html(text: str) -> None:
    """Reject HTML the way Telegram does, so template escaping bugs surface in tests.

    Only tags are checked: an unescaped "<" (e.g. from user input) or an unknown/unbalanced tag
    is a 400 "can't parse entities" on the real API.  Offsets are characters, not bytes.
    """
    stack: list[str] = []
    pos = 0
    while (lt := text.find("<", pos)) != -1:
        m = _TAG_RE.match(text, lt)
        if not m:
            raise _bad_request(
                f'can\'t parse entities: Unsupported start tag "" at byte offset {lt}'
            )
        closing, tag = m.group(1) == "/", m.group(2).lower()
        if tag not in _HTML_TAGS:
            raise _bad_request(
                f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset {lt}'
            )
        if closing:
            if not stack or stack[-1] != tag:
                raise _bad_request(f"can't parse entities: Unexpected end tag at byte offset {lt}")
            stack.pop()
        else:
            stack.append(tag)
        pos = m.end()
    if stack:
        raise _bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )


def _decode_form_value(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    return None


def _image_size(data: bytes) -> tuple[int, int]:
    # Pillow is a runtime dependency of the bot; fall back to a plausible size for fake bytes.
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except Exception:
        return 1280, 960


class FakeUser:
    """A Telegram user chatting with the bot in a private chat (chat id == user id)."""

    def __init__(
        self, server: FakeTelegram, user_id: int, first_name: str, username: str | None
    ) -> None:
        self.server = server
        self.user_id = user_id
        self.first_name = first_name
        self.username = username
        self.blocked = False
        self.last_file_id: str | None = None
        self._cursor = 0

    @property
    def chat_id(self) -> int:
        """The private chat id, equal to the user id."""
        return self.user_id

    def as_user_dict(self) -> JSONDict:
        """The ``User`` object Telegram puts in ``from`` fields."""
        user: JSONDict = {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": "vi",
        }
        if self.username:
            user["username"] = self.username
        return user

    def as_chat_dict(self) -> JSONDict:
        """The private ``Chat`` object for this user."""
        chat: JSONDict = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    def _message(self, **content: Any) -> JSONDict:
        return {
            "message_id": self.server._next_message_id(self.chat_id),
            "date": int(time.time()),
            "chat": self.as_chat_dict(),
            "from": self.as_user_dict(),
            **content,
        }

    async def _send(self, **content: Any) -> JSONDict:
        return await self.server.enqueue_update({"message": self._message(**content)})

    async def send_text(self, text: str) -> JSONDict:
        """Send a plain text message; returns the queued Update dict."""
        return await self._send(text=text)

    async def send_command(self, cmd: str) -> JSONDict:
        """Send ``/cmd [args]`` with a ``bot_command`` entity, as Telegram clients do."""
        text = cmd if cmd.startswith("/") else f"/{cmd}"
        command = text.split(maxsplit=1)[0]
        entity = {"type": "bot_command", "offset": 0, "length": len(command)}
        return await self._send(text=text, entities=[entity])

    async def send_photo(
        self, data: bytes, caption: str | None = None, media_group_id: str | None = None
    ) -> JSONDict:
        """Send a photo; the largest size's file_id downloads exactly ``data``.

        The file_id is also stored in ``last_file_id``.
        """
        record = self.server.register_photo(data)
        sizes = record.photo_sizes or []
        self.last_file_id = record.file_id
        content: JSONDict = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return await self._send(**content)

    async def send_document(
        self, data: bytes, file_name: str = "file.bin", mime_type: str = "application/octet-stream"
    ) -> JSONDict:
        """Send a document; its file_id is stored in ``last_file_id``."""
        record = self.server.register_file(
            data, folder="documents", file_name=file_name, mime_type=mime_type
        )
        self.last_file_id = record.file_id
        document = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return await self._send(document=document)

    async def send_sticker(self, emoji: str = "👍") -> JSONDict:
        """Send a regular static sticker."""
        record = self.server.register_file(b"RIFF\x00\x00\x00\x00WEBP", folder="stickers")
        sticker = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(record.data),
        }
        return await self._send(sticker=sticker)

    async def send_voice(self, data: bytes = b"OggS\x00fake-voice", duration: int = 3) -> JSONDict:
        """Send a voice note."""
        record = self.server.register_file(data, folder="voice", mime_type="audio/ogg")
        self.last_file_id = record.file_id
        voice = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return await self._send(voice=voice)

    async def send_location(self, lat: float, lon: float) -> JSONDict:
        """Share a location."""
        return await self._send(location={"latitude": lat, "longitude": lon})

    async def send_contact(
        self,
        phone_number: str,
        user_id: int | None = None,
        first_name: str | None = None,
        *,
        omit_user_id: bool = False,
    ) -> JSONDict:
        """Share a contact; by default the user's own (``contact.user_id == user_id``).

        ``omit_user_id=True`` mimics a phone-book contact without a Telegram account.
        """
        contact: JSONDict = {
            "phone_number": phone_number,
            "first_name": first_name or self.first_name,
        }
        if not omit_user_id:
            contact["user_id"] = self.user_id if user_id is None else user_id
        return await self._send(contact=contact)

    async def press(self, message: SentMessage, button_text: str) -> JSONDict:
        """Press the inline button labelled (or containing) ``button_text`` on ``message``."""
        buttons = [b for row in _inline_rows(message.reply_markup) for b in row]
        button = next((b for b in buttons if b.get("text") == button_text), None)
        if button is None:
            button = next((b for b in buttons if button_text in b.get("text", "")), None)
        if button is None:
            raise AssertionError(
                f"No inline button {button_text!r} on message {message.message_id} "
                f"(text {message.text!r}); buttons: {[b.get('text') for b in buttons]}"
            )
        if "callback_data" not in button:
            raise AssertionError(f"Button {button['text']!r} has no callback_data: {button}")
        return await self.press_data(
            message.message_id, button["callback_data"], chat_id=message.chat_id
        )

    async def press_data(self, message_id: int, data: str, chat_id: int | None = None) -> JSONDict:
        """Send a callback_query with arbitrary (possibly forged) data for ``message_id``.

        ``chat_id`` names the chat the message is in (a review group); default the private chat.
        """
        stored = self.server.get_message(chat_id or self.chat_id, message_id)
        if stored is not None:
            message = self.server._message_dict(stored)
        else:
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self.as_chat_dict(),
                "from": self.server.bot_user,
                "text": "",
            }
        query = {
            "id": self.server.new_callback_query_id(),
            "from": self.as_user_dict(),
            "message": message,
            "chat_instance": str(-(self.user_id * 7919 % 10**12)),
            "data": data,
        }
        return await self.server.enqueue_update({"callback_query": query})

    def block(self) -> None:
        """Block the bot: later sends to this chat fail with 403 Forbidden."""
        self.blocked = True

    def unblock(self) -> None:
        """Undo ``block``."""
        self.blocked = False

    def messages(self) -> list[SentMessage]:
        """All messages the bot sent to this chat."""
        return self.server.sent(self.chat_id)

    def last_message(self) -> SentMessage | None:
        """The most recent message the bot sent to this chat, if any."""
        msgs = self.server.sent(self.chat_id)
        return msgs[-1] if msgs else None

    def reply_keyboard(self) -> list[str] | None:
        """Button texts of the reply keyboard currently shown in this chat.

        Returns None when none was sent or a ReplyKeyboardRemove came after it.
        """
        for msg in reversed(self.server.sent(self.chat_id)):
            markup = msg.params.get("reply_markup")
            if not isinstance(markup, dict):
                continue
            if markup.get("remove_keyboard"):
                return None
            if "keyboard" in markup:
                return [
                    b if isinstance(b, str) else b.get("text", "")
                    for row in markup["keyboard"]
                    for b in row
                ]
        return None

    def skip_existing(self) -> None:
        """Move the ``next_message`` cursor past everything already sent to this chat."""
        self._cursor = len(self.server.sent(self.chat_id))

    async def next_message(self, timeout: float = 10) -> SentMessage:
        """Wait for the next message to this chat after the last one returned here."""
        cursor = self._cursor

        def check() -> SentMessage | None:
            msgs = self.server._sent[self.chat_id]
            return msgs[cursor] if len(msgs) > cursor else None

        try:
            msg = await self.server._wait(check, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"No new message to chat {self.chat_id} within {timeout}s; "
                f"recent calls: {self.server.describe_calls()}"
            ) from None
        self._cursor = cursor + 1
        return msg

    async def messages_until_idle(
        self, idle: float = 0.3, timeout: float = 10, min_count: int = 0
    ) -> list[SentMessage]:
        """Collect the bot's new messages: ``min_count`` of them, then, when the app has given
        the server its probe (``FakeTelegram.settled``), all that came until the bot settled;
        without a probe, until none arrive for ``idle`` seconds.

        Waits up to ``timeout`` overall (TimeoutError if fewer than ``min_count`` came, or,
        with a probe, if the bot never settled).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        collected: list[SentMessage] = []
        if self.server.settled is not None:
            while len(collected) < min_count:
                remaining = deadline - loop.time()
                try:
                    collected.append(await self.next_message(timeout=max(remaining, 0.001)))
                except TimeoutError:
                    raise TimeoutError(
                        f"Only {len(collected)} of {min_count} messages within {timeout}s"
                    ) from None
            await self.server.until_settled(max(deadline - loop.time(), 0.001))
            rest = self.server._sent[self.chat_id][self._cursor :]
            self._cursor += len(rest)
            return collected + rest
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if len(collected) < min_count:
                    raise TimeoutError(
                        f"Only {len(collected)} of {min_count} messages within {timeout}s"
                    )
                return collected
            wait = remaining if len(collected) < min_count else min(idle, remaining)
            try:
                collected.append(await self.next_message(timeout=wait))
            except TimeoutError:
                if len(collected) >= min_count:
                    return collected


class FakeTelegram:
    """In-process fake of the Telegram Bot API, served over HTTP on 127.0.0.1."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "guongsang_test_bot",
        bot_first_name: str = "Gương Sáng",
    ) -> None:
        self._token = token
        self._bot_username = bot_username
        self._bot_first_name = bot_first_name
        self.calls: list[Call] = []
        self.arrivals: list[tuple[float, str, int | str | None]] = []
        self.files: dict[str, FileRecord] = {}
        self.commands: dict[str, list[JSONDict]] = {}
        # The default chat menu button, as setChatMenuButton left it (None: Telegram's own).
        self.menu_button: JSONDict | None = None
        self.callback_answers: dict[str, JSONDict] = {}
        self.webhook_url: str | None = None
        self.users: dict[int, FakeUser] = {}
        self._sent: defaultdict[int, list[SentMessage]] = defaultdict(list)
        self._pending: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._file_counter = itertools.count(1)
        self._callback_counter = itertools.count(1)
        self._media_group_counter = itertools.count(1)
        self._message_ids: defaultdict[int, int] = defaultdict(int)
        self._issued_callback_ids: set[str] = set()
        self._faults: defaultdict[str, deque[tuple[int, str, int | None]]] = defaultdict(deque)
        self._delays: defaultdict[str, deque[float]] = defaultdict(deque)
        # method → (how many calls must wait together, how many wait now, the gate's opening)
        self._gates: dict[str, tuple[int, list[int], asyncio.Event]] = {}
        self._changed = asyncio.Condition()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # The app's "settled" probe, set by the fixture that runs the app in this process
        # (see tests/fakes/settling.py); None keeps the quiet-spell wait.
        self.settled: Probe | None = None
        self._handlers: dict[str, tuple[str, Callable[[JSONDict], Any]]] = {
            name.lower(): (name, fn)
            for name, fn in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageCaption": self._edit_message_caption,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "sendPhoto": self._send_photo,
                "sendMediaGroup": self._send_media_group,
                "sendDocument": self._send_document,
                "getFile": self._get_file,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "setChatMenuButton": self._set_chat_menu_button,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendChatAction": self._true,
                "close": self._true,
                "logOut": self._true,
            }.items()
        }

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start listening on an OS-chosen port on 127.0.0.1."""
        # Telegram accepts uploads up to 50 MB; aiohttp's default body limit is 1 MB.
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        # A short shutdown_timeout because open long polls would otherwise delay stop().
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._stopping = False

    async def stop(self) -> None:
        """Release pending long polls and stop the HTTP server."""
        self._stopping = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- properties

    @property
    def api_root(self) -> str:
        """``http://127.0.0.1:PORT``; the bot calls ``{api_root}/bot{token}/{method}``."""
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """Value for ``Bot(base_url=...)`` / ``ApplicationBuilder().base_url(...)``."""
        return f"{self.api_root}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``Bot(base_file_url=...)`` / ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.api_root}/file/bot"

    @property
    def token(self) -> str:
        """The only token the server accepts."""
        return self._token

    @property
    def bot_id(self) -> int:
        """The bot's user id; like real Telegram it is the token's numeric prefix."""
        return int(self._token.split(":", 1)[0])

    @property
    def bot_username(self) -> str:
        """The bot's @username without the ``@``."""
        return self._bot_username

    @property
    def bot_user(self) -> JSONDict:
        """The bot's ``User`` object as returned by getMe and used in ``from``."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self._bot_first_name,
            "username": self._bot_username,
        }

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed by a higher getUpdates offset."""
        return list(self._pending)

    # ----------------------------------------------------------------- users & updates

    def user(self, user_id: int, first_name: str = "Lan", username: str | None = None) -> FakeUser:
        """Return the simulated user with this id, creating it on first use."""
        existing = self.users.get(user_id)
        if existing is not None:
            return existing
        fake_user = FakeUser(self, user_id, first_name, username)
        self.users[user_id] = fake_user
        return fake_user

    async def enqueue_update(self, content: JSONDict) -> JSONDict:
        """Queue an update (``{"message": ...}`` etc.); assigns and returns it with update_id."""
        update = {"update_id": next(self._update_ids), **content}
        query = update.get("callback_query")
        if query:
            self._issued_callback_ids.add(query["id"])
        self._pending.append(update)
        await self._notify()
        return update

    def register_file(
        self,
        data: bytes,
        folder: str = "documents",
        file_name: str | None = None,
        mime_type: str | None = None,
    ) -> FileRecord:
        """Store bytes under a fresh file_id, downloadable via getFile."""
        n = next(self._file_counter)
        ext = ""
        if file_name and "." in file_name:
            ext = file_name.rsplit(".", 1)[1]
        elif folder == "photos":
            ext = "jpg"
        record = FileRecord(
            file_id=f"BQACAgUAAxkBAAI{n:06d}Z{folder[:3]}",
            file_unique_id=f"AgAD{n:06d}",
            data=data,
            file_path=f"{folder}/file_{n}{'.' + ext if ext else ''}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[record.file_id] = record
        return record

    def register_photo(self, data: bytes) -> FileRecord:
        """Store a photo with a thumbnail and a full size; the full size is the returned record.

        Both sizes download the same bytes; only the largest matters for bots in practice.
        """
        width, height = _image_size(data)
        thumb = self.register_file(data, folder="photos")
        full = self.register_file(data, folder="photos")
        scale = 90 / max(width, height, 1)
        sizes = [
            {
                "file_id": thumb.file_id,
                "file_unique_id": thumb.file_unique_id,
                "file_size": len(data),
                "width": max(1, int(width * scale)),
                "height": max(1, int(height * scale)),
            },
            {
                "file_id": full.file_id,
                "file_unique_id": full.file_unique_id,
                "file_size": len(data),
                "width": width,
                "height": height,
            },
        ]
        thumb.photo_sizes = full.photo_sizes = sizes
        return full

    def file_bytes(self, file_id: str) -> bytes:
        """The bytes behind a file_id."""
        return self.files[file_id].data

    # ----------------------------------------------------------------- inspection

    def sent(self, chat_id: int) -> list[SentMessage]:
        """Messages the bot sent to ``chat_id`` in order (deleted ones have ``deleted=True``)."""
        return list(self._sent.get(chat_id, []))

    def get_message(self, chat_id: int, message_id: int) -> SentMessage | None:
        """A bot message by chat and id."""
        return next((m for m in self._sent.get(chat_id, []) if m.message_id == message_id), None)

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method (case-insensitive)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def describe_calls(self, last: int = 15) -> str:
        """A short human-readable tail of the call log for assertion messages."""
        parts = []
        for c in self.calls[-last:]:
            brief = {k: v for k, v in c.params.items() if k in ("chat_id", "text", "caption")}
            parts.append(f"{c.method}{brief}->{c.status}")
        return "; ".join(parts) or "(none)"

    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail with this status and error body.

        ``retry_after`` adds ``parameters: {retry_after}``, which PTB turns into RetryAfter.
        """
        desc = description or _default_description(status, retry_after)
        for _ in range(count):
            self._faults[method.lower()].append((status, desc, retry_after))

    def gate(self, method: str, together: int) -> None:
        """Hold calls of ``method`` until ``together`` of them are waiting at once, then let
        them and every later one through: proof that a client overlaps its calls, whatever
        the machine's pace (calls made one after another never open it)."""
        self._gates[method.lower()] = (together, [0], asyncio.Event())

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` answer only after ``seconds``.

        The call is still carried out, as on the real API: a client that timed out and retries
        may deliver the message twice.
        """
        for _ in range(count):
            self._delays[method.lower()].append(seconds)

    async def until_settled(self, timeout: float = 15) -> None:
        """Wait until the bot has taken in every queued update (confirmed it by a higher
        getUpdates offset, which python-telegram-bot sends once it has queued them) and the
        app's probe says it has settled. Needs the probe."""
        assert self.settled is not None, "no probe: the app is not running in this process"
        await until_settled(
            self.settled,
            lambda: not self._pending,
            timeout,
            lambda: f"{len(self._pending)} update(s) not taken; calls: {self.describe_calls()}",
        )

    async def wait_for(self, predicate: Callable[[list[Call]], T], timeout: float = 10) -> T:
        """Wait until ``predicate(calls)`` is truthy and return its value."""
        try:
            return await self._wait(lambda: predicate(self.calls), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"Condition not met within {timeout}s; recent calls: {self.describe_calls()}"
            ) from None

    async def wait_for_call(
        self,
        method: str,
        match: Callable[[JSONDict], bool] | None = None,
        *,
        start: int = 0,
        timeout: float = 10,
    ) -> Call:
        """Wait for a call of ``method`` (index >= ``start`` in ``calls``) whose params match."""

        def find(calls: list[Call]) -> Call | None:
            for c in calls[start:]:
                if c.method.lower() == method.lower() and (match is None or match(c.params)):
                    return c
            return None

        return await self.wait_for(find, timeout)

    async def _wait(self, check: Callable[[], T], timeout: float) -> T:
        async with self._changed:
            result = check()
            if result:
                return result
            async with asyncio.timeout(timeout):
                while not result:
                    await self._changed.wait()
                    result = check()
            return result

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------- HTTP layer

    async def _parse_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {k: _decode_form_value(k, v) for k, v in request.query.items()}
        if request.method not in ("POST", "PUT"):
            return params
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.json() if request.can_read_body else {}
            for k, v in (body or {}).items():
                if isinstance(v, str) and k not in _STRING_PARAMS and v[:1] in "[{":
                    v = _decode_form_value(k, v)
                params[k] = v
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for k, v in form.items():
                if isinstance(v, web.FileField):
                    params[k] = UploadedFile(v.filename, v.content_type, v.file.read())
                else:
                    params[k] = _decode_form_value(k, v)
        return params

    def _json(self, status: int, body: JSONDict) -> web.Response:
        return web.json_response(
            body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    def _error(self, err: ApiError) -> web.Response:
        body: JSONDict = {"ok": False, "error_code": err.status, "description": err.description}
        if err.parameters:
            body["parameters"] = err.parameters
        return self._json(err.status, body)

    async def _handle_api(self, request: web.Request) -> web.Response:
        raw_method = request.match_info["method"]
        entry = self._handlers.get(raw_method.lower())
        method = entry[0] if entry else raw_method
        try:
            params = await self._parse_params(request)
        except (ValueError, UnicodeDecodeError):
            params = {}
        call = Call(
            method=method,
            params=params,
            at=time.monotonic(),
            http_method=request.method,
            content_type=request.content_type,
        )
        self.calls.append(call)
        chat_id = params.get("chat_id")
        as_int = _as_int(chat_id)
        self.arrivals.append((call.at, method, as_int if as_int is not None else chat_id))
        # Wake waiters now too, so wait_for can observe a call that is still in progress
        # (e.g. a long poll).
        await self._notify()
        try:
            if request.match_info["token"] != self._token:
                raise ApiError(401, "Unauthorized")
            if entry is None:
                raise ApiError(404, "Not Found: method not found")
            gate = self._gates.get(method.lower())
            if gate is not None and not gate[2].is_set():
                together, waiting, opened = gate
                waiting[0] += 1
                if waiting[0] >= together:
                    opened.set()
                await opened.wait()
            delays = self._delays.get(method.lower())
            if delays:
                await asyncio.sleep(delays.popleft())
            faults = self._faults.get(method.lower())
            if faults:
                status, desc, retry_after = faults.popleft()
                raise ApiError(
                    status, desc, {"retry_after": retry_after} if retry_after is not None else None
                )
            result = await entry[1](params)
        except ApiError as err:
            call.status = err.status
            response = self._error(err)
        else:
            call.status = 200
            response = self._json(200, {"ok": True, "result": result})
        await self._notify()
        return response

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self._token:
            return self._error(ApiError(401, "Unauthorized"))
        path = request.match_info["file_path"]
        record = next((r for r in self.files.values() if r.file_path == path), None)
        if record is None:
            return self._error(ApiError(404, "Not Found"))
        return web.Response(
            body=record.data, content_type=record.mime_type or "application/octet-stream"
        )

    # ----------------------------------------------------------------- helpers for handlers

    def _next_message_id(self, chat_id: int) -> int:
        # Private chats share one message-id sequence between the user and the bot.
        self._message_ids[chat_id] += 1
        return self._message_ids[chat_id]

    def new_callback_query_id(self) -> str:
        """A fresh callback query id, recorded as issued so the bot may answer it (a webhook
        update built outside the server needs one too)."""
        query_id = f"{4_000_000_000 + next(self._callback_counter)}"
        self._issued_callback_ids.add(query_id)
        return query_id

    def _chat_for(self, params: JSONDict) -> JSONDict:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad_request("chat_id is empty")
        chat_id = _as_int(raw)
        if chat_id is None:
            raise _bad_request("chat not found")
        user = self.users.get(chat_id)
        if user is not None:
            return user.as_chat_dict()
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}

    def _check_can_send(self, chat_id: int) -> None:
        user = self.users.get(chat_id)
        if user is not None and user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")

    @staticmethod
    def _check_markup(markup: Any) -> JSONDict | None:
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        for row in _inline_rows(markup):
            for button in row:
                if not button.get("text"):
                    raise _bad_request("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > _CALLBACK_DATA_LIMIT:
                    raise _bad_request("BUTTON_DATA_INVALID")
                web_app = button.get("web_app")
                if web_app is not None and not str(web_app.get("url", "")).startswith("https://"):
                    raise _bad_request("inline keyboard button Web App URL is invalid: Only HTTPS")
        return markup

    @staticmethod
    def _check_text(text: Any, parse_mode: Any, *, caption: bool) -> str | None:
        if text is None:
            if caption:
                return None
            raise _bad_request("message text is empty")
        text = str(text)
        if not caption and not text.strip():
            raise _bad_request("message text is empty")
        if isinstance(parse_mode, str) and parse_mode.upper() == "HTML":
            _check_html(text)
            visible = html.unescape(_TAG_RE.sub("", text))
        else:
            visible = text
        limit = _CAPTION_LIMIT if caption else _TEXT_LIMIT
        if len(visible) > limit:
            raise _bad_request("message caption is too long" if caption else "message is too long")
        return text

    def _message_dict(self, msg: SentMessage) -> JSONDict:
        out: JSONDict = {
            "message_id": msg.message_id,
            "date": msg.date,
            "chat": msg.chat,
            "from": self.bot_user,
        }
        if msg.kind == "text":
            out["text"] = msg.plain_text or ""
        elif msg.text is not None:
            out["caption"] = msg.plain_text
        if msg.photo:
            out["photo"] = msg.photo
        if msg.document:
            out["document"] = msg.document
        if msg.media_group_id:
            out["media_group_id"] = msg.media_group_id
        if msg.edit_date:
            out["edit_date"] = msg.edit_date
        # Telegram only echoes inline keyboards; PTB would fail to parse a reply keyboard here.
        if msg.reply_markup and "inline_keyboard" in msg.reply_markup:
            out["reply_markup"] = msg.reply_markup
        return out

    def _store(self, chat: JSONDict, **fields: Any) -> SentMessage:
        msg = SentMessage(
            message_id=self._next_message_id(chat["id"]),
            chat_id=chat["id"],
            date=int(time.time()),
            chat=chat,
            **fields,
        )
        self._sent[chat["id"]].append(msg)
        return msg

    def _resolve_file(
        self, value: Any, params: JSONDict, *, folder: str, default_mime: str | None = None
    ) -> FileRecord:
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
            if value is None:
                raise _bad_request("wrong file identifier/HTTP URL specified")
        if isinstance(value, UploadedFile):
            if folder == "photos":
                return self.register_photo(value.data)
            return self.register_file(
                value.data,
                folder=folder,
                file_name=value.filename,
                mime_type=value.content_type or default_mime,
            )
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1] or None
            if folder == "photos":
                return self.register_photo(b"")
            return self.register_file(b"", folder=folder, file_name=name, mime_type=default_mime)
        raise _bad_request("wrong file identifier/HTTP URL specified")

    def _find_for_edit(self, params: JSONDict) -> SentMessage:
        chat = self._chat_for(params)
        message_id = _as_int(params.get("message_id"))
        msg = self.get_message(chat["id"], message_id) if message_id is not None else None
        if msg is None or msg.deleted:
            raise _bad_request("message to edit not found")
        return msg

    def _apply_edit(
        self,
        msg: SentMessage,
        method: str,
        params: JSONDict,
        text: str | None,
        markup: JSONDict | None,
    ) -> JSONDict:
        if text == msg.text and markup == msg.reply_markup:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        msg.edits.append(Edit(method, params, time.monotonic(), msg.text, msg.reply_markup))
        msg.text = text
        msg.reply_markup = markup
        if "parse_mode" in params:
            msg.parse_mode = params.get("parse_mode")
        msg.edit_date = int(time.time())
        return self._message_dict(msg)

    # ----------------------------------------------------------------- method handlers

    async def _true(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _as_int(params.get("offset"))
        limit = _as_int(params.get("limit")) or 100
        limit = max(1, min(limit, 100))
        timeout = float(params.get("timeout") or 0)
        if offset is not None:
            if offset < 0:
                # Negative offset keeps the last -offset updates and forgets the rest.
                self._pending = self._pending[offset:]
            else:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]

        def ready() -> list[JSONDict] | bool:
            if self._stopping:
                return True
            return self._pending[:limit]

        if timeout > 0:
            with contextlib.suppress(TimeoutError):
                await self._wait(ready, timeout)
        return [] if self._stopping else self._pending[:limit]

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params)
        self._check_can_send(chat["id"])
        text = self._check_text(params.get("text"), params.get("parse_mode"), caption=False)
        markup = self._check_markup(params.get("reply_markup"))
        msg = self._store(
            chat,
            text=text,
            reply_markup=markup,
            kind="text",
            parse_mode=params.get("parse_mode"),
            params=params,
        )
        return self._message_dict(msg)

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params)
        self._check_can_send(chat["id"])
        if params.get("photo") is None:
            raise _bad_request("there is no photo in the request")
        caption = self._check_text(params.get("caption"), params.get("parse_mode"), caption=True)
        markup = self._check_markup(params.get("reply_markup"))
        record = self._resolve_file(params["photo"], params, folder="photos")
        msg = self._store(
            chat,
            text=caption,
            reply_markup=markup,
            kind="photo",
            parse_mode=params.get("parse_mode"),
            photo=record.photo_sizes,
            file_data=record.data,
            params=params,
        )
        return self._message_dict(msg)

    async def _send_document(self, params: JSONDict) -> JSONDict:
        chat = self._chat_for(params)
        self._check_can_send(chat["id"])
        if params.get("document") is None:
            raise _bad_request("there is no document in the request")
        caption = self._check_text(params.get("caption"), params.get("parse_mode"), caption=True)
        markup = self._check_markup(params.get("reply_markup"))
        record = self._resolve_file(params["document"], params, folder="documents")
        document = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_name": record.file_name or "file",
            "mime_type": record.mime_type or "application/octet-stream",
            "file_size": len(record.data),
        }
        msg = self._store(
            chat,
            text=caption,
            reply_markup=markup,
            kind="document",
            parse_mode=params.get("parse_mode"),
            document=document,
            file_data=record.data,
            params=params,
        )
        return self._message_dict(msg)

    async def _send_media_group(self, params: JSONDict) -> list[JSONDict]:
        chat = self._chat_for(params)
        self._check_can_send(chat["id"])
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad_request("wrong number of media in the media group; must be 2-10")
        group_id = f"{13_000_000_000_000_000 + next(self._media_group_counter)}"
        prepared = []
        for item in media:
            kind = item.get("type")
            if kind not in ("photo", "document"):
                raise _bad_request(f"unsupported media type {kind!r} in this fake")
            caption = self._check_text(item.get("caption"), item.get("parse_mode"), caption=True)
            folder = "photos" if kind == "photo" else "documents"
            prepared.append(
                (item, kind, caption, self._resolve_file(item.get("media"), params, folder=folder))
            )
        results = []
        for item, kind, caption, record in prepared:
            document = None
            if kind == "document":
                document = {
                    "file_id": record.file_id,
                    "file_unique_id": record.file_unique_id,
                    "file_name": record.file_name or "file",
                    "mime_type": record.mime_type or "application/octet-stream",
                    "file_size": len(record.data),
                }
            msg = self._store(
                chat,
                text=caption,
                reply_markup=None,
                kind=kind,
                parse_mode=item.get("parse_mode"),
                photo=record.photo_sizes if kind == "photo" else None,
                document=document,
                file_data=record.data,
                media_group_id=group_id,
                params={**params, "media": item},
            )
            results.append(self._message_dict(msg))
        return results

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        msg = self._find_for_edit(params)
        if msg.kind != "text":
            raise _bad_request("there is no text in the message to edit")
        text = self._check_text(params.get("text"), params.get("parse_mode"), caption=False)
        # Like Telegram, omitting reply_markup on an edit removes the inline keyboard.
        markup = self._check_markup(params.get("reply_markup"))
        return self._apply_edit(msg, "editMessageText", params, text, markup)

    async def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        msg = self._find_for_edit(params)
        if msg.kind == "text":
            raise _bad_request("there is no caption in the message to edit")
        caption = self._check_text(params.get("caption"), params.get("parse_mode"), caption=True)
        markup = self._check_markup(params.get("reply_markup"))
        return self._apply_edit(msg, "editMessageCaption", params, caption, markup)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        msg = self._find_for_edit(params)
        markup = self._check_markup(params.get("reply_markup"))
        return self._apply_edit(msg, "editMessageReplyMarkup", params, msg.text, markup)

    async def _delete_message(self, params: JSONDict) -> bool:
        chat = self._chat_for(params)
        msg = self.get_message(chat["id"], _as_int(params.get("message_id")) or 0)
        if msg is None or msg.deleted:
            raise _bad_request("message to delete not found")
        msg.deleted = True
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._issued_callback_ids:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers[query_id] = params
        return True

    async def _get_file(self, params: JSONDict) -> JSONDict:
        record = self.files.get(str(params.get("file_id") or ""))
        if record is None:
            raise _bad_request("invalid file_id")
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": len(record.data),
            "file_path": record.file_path,
        }

    async def _set_webhook(self, params: JSONDict) -> bool:
        self.webhook_url = params.get("url") or None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook_url = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }

    @staticmethod
    def _commands_key(params: JSONDict) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("commands must be a list")
        self.commands[self._commands_key(params)] = commands
        return True

    async def _set_chat_menu_button(self, params: JSONDict) -> bool:
        button = params.get("menu_button")
        if not isinstance(button, dict) or button.get("type") not in (
            "commands",
            "web_app",
            "default",
        ):
            raise _bad_request("can't parse menu button")
        if button["type"] == "web_app":
            url = str((button.get("web_app") or {}).get("url", ""))
            if not url.startswith("https://"):
                raise _bad_request("menu button Web App URL is invalid: Only HTTPS")
        self.menu_button = button
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True
