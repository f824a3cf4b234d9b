"""A minimal Telegram Bot API living in the same process as the bot, for benchmarks.

`BotApi` holds what Telegram's servers would: the queue of updates, the messages the bot sent
to each chat and the files. `InProcessRequest` is a python-telegram-bot `BaseRequest` that
answers the bot's calls from a `BotApi` instead of the network, with the same JSON bodies
Telegram sends, so PTB parses real answers and the bot under test runs unchanged:

    ApplicationBuilder().token(api.token).base_url(f"{api.root}/bot")
        .base_file_url(f"{api.root}/file/bot")
        .request(InProcessRequest(api)).get_updates_request(InProcessRequest(api))

How PTB v22 hands a call to `do_request` (telegram/request/_requestdata.py and
_requestparameter.py): the URL is `{base_url}{token}/{method}` (a file download is a GET of
`{base_file_url}{token}/{file_path}`); `request_data.parameters` maps names to plain Python
values (strings stay strings, markups are dicts unless the bot serialized one itself, None
values are dropped); a file sent
as a parameter (`sendPhoto(photo=bytes)`) has no value there and appears in
`request_data.multipart_data` under the parameter's name, while files inside `media` are
referenced as `attach://NAME` and appear under NAME. Each part is (filename, content, mime).

Timing: every update queued records `time.monotonic()`; the bot's first sendMessage,
sendPhoto or sendMediaGroup to that chat afterwards closes it, and the difference is kept in
`latencies`.
"""

# Waiting helpers take a timeout argument on purpose, like the test fakes do.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import itertools
import json
import re
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.request import BaseRequest, RequestData

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456:BENCH-token"
# Only used to build URLs; nothing ever connects to it.
DEFAULT_ROOT = "http://telegram.inprocess"
_TAG_RE = re.compile(r"<[^<>]+>")
# Methods that answer a chat with a message: the first of them after an update ends its wait.
_ANSWERS = frozenset({"sendMessage", "sendPhoto", "sendMediaGroup", "sendDocument"})


class ApiError(Exception):
    """A refusal, answered the way Telegram answers it (status and description)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class Upload:
    """A file part of a request, as the bot uploaded it."""

    filename: str | None
    mime_type: str | None
    data: bytes


@dataclass
class FileRecord:
    """A file known to the API (sent by a user or uploaded by the bot)."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    photo_sizes: list[JSONDict] | None = None


@dataclass
class SentMessage:
    """A message the bot sent; edits change it in place."""

    message_id: int
    chat_id: int
    kind: str
    text: str | None
    reply_markup: JSONDict | None
    at: float
    photo: list[JSONDict] | None = None
    media_group_id: str | None = None

    @property
    def plain_text(self) -> str:
        """The text or caption as the person reads it (HTML tags removed, entities unescaped)."""
        return html.unescape(_TAG_RE.sub("", self.text or ""))

    def button_data(self) -> dict[str, str]:
        """Inline button label → callback_data, for the buttons still on the message."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return {b["text"]: b["callback_data"] for row in rows for b in row if "callback_data" in b}


@dataclass
class User:
    """A simulated person in a private chat with the bot (chat id == user id)."""

    user_id: int
    first_name: str

    def as_dict(self) -> JSONDict:
        """Telegram's User object."""
        return {"id": self.user_id, "is_bot": False, "first_name": self.first_name}

    def as_chat(self) -> JSONDict:
        """Telegram's Chat object for the private chat."""
        return {"id": self.user_id, "type": "private", "first_name": self.first_name}


@dataclass
class _ChatState:
    sent: list[SentMessage] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    # Monotonic time of the oldest update still waiting for the bot's first answer.
    waiting_since: float | None = None
    # What the person is doing now (the benchmark's step), to group latencies by it.
    doing: str = ""


class BotApi:
    """The server side: updates waiting for getUpdates, chats, files and timings."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        root: str = DEFAULT_ROOT,
        bot_username: str = "guongsang_bench_bot",
        bot_first_name: str = "Gương Sáng",
    ) -> None:
        self.token = token
        self.root = root
        self.bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.users: dict[int, User] = {}
        self.files: dict[str, FileRecord] = {}
        self.files_by_path: dict[str, FileRecord] = {}
        self.calls: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.latencies_by_step: defaultdict[str, list[float]] = defaultdict(list)
        self.updates_queued = 0
        self._chats: defaultdict[int, _ChatState] = defaultdict(_ChatState)
        self._pending: list[JSONDict] = []
        self._updates_changed = asyncio.Condition()
        # Unlike Telegram's, these ids start afresh with each run; from the clock, a run on a
        # database an earlier run used (PostgreSQL's scratch database) is not taken for the
        # earlier run's updates redelivered, and ignored.
        self._update_ids = itertools.count(time.time_ns() // 1000)
        self._message_ids: defaultdict[int, int] = defaultdict(int)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._group_ids = itertools.count(1)
        self._stopping = False
        self._methods: dict[str, Callable[[JSONDict], Any]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setmycommands": self._true,
            "deletewebhook": self._delete_webhook,
            "sendchataction": self._true,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "sendmediagroup": self._send_media_group,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._true,
            "getfile": self._get_file,
            "close": self._true,
            "logout": self._true,
        }

    # ------------------------------------------------------------------ the users' side

    def user(self, user_id: int, first_name: str = "Lan") -> User:
        """The simulated person with this id, created on first use."""
        if user_id not in self.users:
            self.users[user_id] = User(user_id, first_name)
        return self.users[user_id]

    async def send_text(self, user: User, text: str) -> JSONDict:
        """A text message; a leading /command gets its bot_command entity as Telegram adds."""
        extra: JSONDict = {}
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return await self._user_message(user, text=text, **extra)

    async def send_contact(self, user: User, phone_number: str) -> JSONDict:
        """The person shares their own phone number (the contact button)."""
        contact = {
            "phone_number": phone_number,
            "first_name": user.first_name,
            "user_id": user.user_id,
        }
        return await self._user_message(user, contact=contact)

    async def send_photo(self, user: User, data: bytes) -> JSONDict:
        """A single photo (no album), stored so the bot can download it with getFile."""
        record = self.register_photo(data)
        return await self._user_message(user, photo=record.photo_sizes)

    async def press(self, user: User, message: SentMessage, label: str) -> JSONDict:
        """Press the inline button labelled `label` (or, failing that, containing it) on a
        message the bot sent to `user`."""
        buttons = message.button_data()
        found = _match(buttons, label)
        if found is None:
            raise LookupError(f"no button {label!r} on message {message.message_id}: {buttons}")
        return await self.press_data(user, message, buttons[found])

    async def press_data(self, user: User, message: SentMessage, data: str) -> JSONDict:
        """A callback_query carrying `data`, as if pressed on `message`."""
        query = {
            "id": str(4_000_000_000 + next(self._callback_ids)),
            "from": user.as_dict(),
            "message": self._message_dict(message),
            "chat_instance": str(user.user_id * 7919),
            "data": data,
        }
        return await self.enqueue(user.user_id, {"callback_query": query})

    async def _user_message(self, user: User, **content: Any) -> JSONDict:
        message = {
            "message_id": self._next_message_id(user.user_id),
            "date": int(time.time()),
            "chat": user.as_chat(),
            "from": user.as_dict(),
            **content,
        }
        return await self.enqueue(user.user_id, {"message": message})

    async def enqueue(self, chat_id: int, content: JSONDict) -> JSONDict:
        """Queue an update for getUpdates and start its latency clock for `chat_id`."""
        update = {"update_id": next(self._update_ids), **content}
        chat = self._chats[chat_id]
        if chat.waiting_since is None:
            chat.waiting_since = time.monotonic()
        self._pending.append(update)
        self.updates_queued += 1
        async with self._updates_changed:
            self._updates_changed.notify_all()
        return update

    def doing(self, chat_id: int, step: str) -> None:
        """Label the latencies of `chat_id`'s next updates with `step`."""
        self._chats[chat_id].doing = step

    def sent(self, chat_id: int) -> list[SentMessage]:
        """The messages the bot sent to a chat, oldest first (the live list; do not change)."""
        return self._chats[chat_id].sent

    def with_button(self, chat_id: int, label: str) -> SentMessage:
        """The newest message in the chat that still has a button labelled (or containing)
        `label`."""
        for message in reversed(self.sent(chat_id)):
            if _match(message.button_data(), label) is not None:
                return message
        raise LookupError(f"no message in chat {chat_id} has a button {label!r}")

    async def wait_for_count(self, chat_id: int, count: int, timeout: float) -> None:
        """Wait until the bot has sent at least `count` messages to the chat in all."""
        chat = self._chats[chat_id]
        async with asyncio.timeout(timeout), chat.changed:
            await chat.changed.wait_for(lambda: len(chat.sent) >= count)

    def register_photo(self, data: bytes) -> FileRecord:
        """Store a photo as Telegram does: a thumbnail and a full size, downloadable."""
        width, height = _image_size(data)
        thumb, full = self._register_file(data, "photos"), self._register_file(data, "photos")
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

    def _register_file(self, data: bytes, folder: str) -> FileRecord:
        n = next(self._file_ids)
        record = FileRecord(
            file_id=f"AgACAgUAAxkBAAI{n:07d}",
            file_unique_id=f"AQAD{n:07d}",
            file_path=f"{folder}/file_{n}.jpg",
            data=data,
        )
        self.files[record.file_id] = record
        self.files_by_path[record.file_path] = record
        return record

    async def close(self) -> None:
        """Release long polls at once (getUpdates answers an empty list from now on)."""
        self._stopping = True
        async with self._updates_changed:
            self._updates_changed.notify_all()

    # ------------------------------------------------------------------ the bot's side

    async def call(self, method: str, params: JSONDict) -> tuple[int, bytes]:
        """Answer one Bot API call: the HTTP status and the JSON body Telegram would send."""
        self.calls[method] += 1
        handler = self._methods.get(method.lower())
        try:
            if handler is None:
                raise _bad_request(f"method {method} is not served by the in-process API")
            result = await handler(params)
        except ApiError as err:
            body: JSONDict = {
                "ok": False,
                "error_code": err.status,
                "description": err.description,
            }
            return err.status, _dumps(body)
        return 200, _dumps({"ok": True, "result": result})

    def download(self, url: str) -> tuple[int, bytes]:
        """A GET of `{root}/file/bot{token}/{file_path}` (PTB percent-encodes the path)."""
        url = urllib.parse.unquote(url)
        prefix = f"{self.root}/file/bot{self.token}/"
        record = (
            self.files_by_path.get(url.removeprefix(prefix)) if url.startswith(prefix) else None
        )
        if record is None:
            return 404, _dumps({"ok": False, "error_code": 404, "description": "Not Found"})
        return 200, record.data

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

    async def _delete_webhook(self, params: JSONDict) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = _as_int(params.get("offset"))
        limit = max(1, min(_as_int(params.get("limit")) or 100, 100))
        timeout = float(params.get("timeout") or 0)
        if offset is not None:
            # A positive offset confirms every update before it; a negative one keeps the last.
            if offset < 0:
                self._pending = self._pending[offset:]
            else:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]
        if timeout > 0 and not self._pending and not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout), self._updates_changed:
                    await self._updates_changed.wait_for(
                        lambda: bool(self._pending) or self._stopping
                    )
        return [] if self._stopping else self._pending[:limit]

    async def _send_message(self, params: JSONDict) -> JSONDict:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        message = await self._store(params, "text", text)
        return self._message_dict(message)

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        record = self._resolve_photo(params.get("photo"), params)
        message = await self._store(params, "photo", params.get("caption"), photo=record)
        return self._message_dict(message)

    async def _send_media_group(self, params: JSONDict) -> list[JSONDict]:
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad_request("wrong number of media in the media group; must be 2-10")
        records = [self._resolve_photo(item.get("media"), params) for item in media]
        group_id = str(13_000_000_000_000_000 + next(self._group_ids))
        messages = []
        for item, record in zip(media, records, strict=True):
            message = await self._store(
                {"chat_id": params.get("chat_id")},
                "photo",
                item.get("caption"),
                photo=record,
                media_group_id=group_id,
            )
            messages.append(self._message_dict(message))
        return messages

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        message = self._find(params)
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request("message text is empty")
        return await self._edit(message, text, _inline(params.get("reply_markup")))

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        message = self._find(params)
        return await self._edit(message, message.text, _inline(params.get("reply_markup")))

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

    # ------------------------------------------------------------------ helpers

    def _chat_id(self, params: JSONDict) -> int:
        chat_id = _as_int(params.get("chat_id"))
        if chat_id is None:
            raise _bad_request("chat not found")
        return chat_id

    def _chat_dict(self, chat_id: int) -> JSONDict:
        user = self.users.get(chat_id)
        if user is not None:
            return user.as_chat()
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        return {"id": chat_id, "type": "supergroup", "title": f"Group {chat_id}"}

    def _next_message_id(self, chat_id: int) -> int:
        # Private chats share one message-id sequence between the person and the bot.
        self._message_ids[chat_id] += 1
        return self._message_ids[chat_id]

    async def _store(
        self,
        params: JSONDict,
        kind: str,
        text: str | None,
        photo: FileRecord | None = None,
        media_group_id: str | None = None,
    ) -> SentMessage:
        chat_id = self._chat_id(params)
        now = time.monotonic()
        message = SentMessage(
            message_id=self._next_message_id(chat_id),
            chat_id=chat_id,
            kind=kind,
            text=text,
            reply_markup=_inline(params.get("reply_markup")),
            at=now,
            photo=photo.photo_sizes if photo is not None else None,
            media_group_id=media_group_id,
        )
        chat = self._chats[chat_id]
        if chat.waiting_since is not None:
            self.latencies.append(now - chat.waiting_since)
            self.latencies_by_step[chat.doing].append(now - chat.waiting_since)
            chat.waiting_since = None
        chat.sent.append(message)
        async with chat.changed:
            chat.changed.notify_all()
        return message

    def _find(self, params: JSONDict) -> SentMessage:
        chat_id = self._chat_id(params)
        message_id = _as_int(params.get("message_id"))
        for message in reversed(self._chats[chat_id].sent):
            if message.message_id == message_id:
                return message
        raise _bad_request("message to edit not found")

    async def _edit(
        self, message: SentMessage, text: str | None, markup: JSONDict | None
    ) -> JSONDict:
        if text == message.text and markup == message.reply_markup:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        message.text, message.reply_markup = text, markup
        chat = self._chats[message.chat_id]
        async with chat.changed:
            chat.changed.notify_all()
        return {**self._message_dict(message), "edit_date": int(time.time())}

    def _resolve_photo(self, value: Any, params: JSONDict) -> FileRecord:
        if isinstance(value, str) and value.startswith("attach://"):
            value = params.get(value.removeprefix("attach://"))
        if isinstance(value, Upload):
            return self.register_photo(value.data)
        if isinstance(value, str) and value in self.files:
            return self.files[value]
        raise _bad_request("wrong file identifier/HTTP URL specified")

    def _message_dict(self, message: SentMessage) -> JSONDict:
        out: JSONDict = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": self._chat_dict(message.chat_id),
            "from": self.bot_user,
        }
        if message.kind == "text":
            out["text"] = message.plain_text
        elif message.text is not None:
            out["caption"] = message.plain_text
        if message.photo:
            out["photo"] = message.photo
        if message.media_group_id:
            out["media_group_id"] = message.media_group_id
        # Telegram echoes inline keyboards only; reply keyboards are not part of a Message.
        if message.reply_markup:
            out["reply_markup"] = message.reply_markup
        return out


class InProcessRequest(BaseRequest):
    """PTB's transport, answered by a `BotApi` in the same event loop instead of HTTP."""

    __slots__ = ("_api", "_read_timeout")

    def __init__(self, api: BotApi, read_timeout: float | None = 5.0) -> None:
        self._api = api
        self._read_timeout = read_timeout

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout; PTB adds getUpdates' long-poll timeout to it."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to connect."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Route a POST to the API method named by the URL's last part; a GET is a download."""
        if method == "GET":
            return self._api.download(url)
        params: JSONDict = {}
        if request_data is not None:
            params.update(request_data.parameters)
            markup = params.get("reply_markup")
            if isinstance(markup, str):
                # Sent already serialized: on the wire both are the same JSON text.
                params["reply_markup"] = json.loads(markup)
            if request_data.contains_files:
                for name, (filename, content, mime) in request_data.multipart_data.items():
                    data = content if isinstance(content, bytes) else content.read()
                    params[name] = Upload(filename, mime, bytes(data))
        return await self._api.call(url.rsplit("/", 1)[-1], params)


def _dumps(body: JSONDict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    return None


def _match(buttons: dict[str, str], label: str) -> str | None:
    """The button labelled `label`, else the first whose label contains it, else None."""
    if label in buttons:
        return label
    return next((text for text in buttons if label in text), None)


def _inline(markup: Any) -> JSONDict | None:
    """The markup if it is an inline keyboard (the only kind a Message carries), else None."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _image_size(data: bytes) -> tuple[int, int]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return 1280, 960
