"""A fake Zalo Bot API server for end-to-end tests.

It listens on a real TCP port on 127.0.0.1, so the bot under test talks to it through its normal
HTTP client: every method is ``POST {api_root}/bot{token}/{method}`` with a JSON body, answered
with ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...}``.

What it mimics (see /work/shared/zalo-bot-api.md):

* ``getUpdates`` long-polls for up to ``timeout`` seconds (a string, capped at 60); an empty poll
  ends with error 408 "Request timeout" (HTTP 408, or 200 via ``empty_poll_http_status``); there
  is no offset, so each update is handed out exactly once; it fails while a webhook is set;
* ``sendMessage`` takes 1 to 2,000 characters; ``sendPhoto`` takes a URL that the server fetches
  itself (``host_file`` serves bytes at such a URL, a stand-in for a signed CDN link);
* there are no ``update_id``s, ids are strings and ``date`` is in milliseconds.

Update payloads are built from the recorded shapes in ``tests/fixtures/zalo/``.
"""

# Waiting helpers take a timeout argument on purpose: tests read better with one call than
# with an asyncio.timeout block around every wait.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import functools
import ipaddress
import json
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.fakes.settling import Probe, until_settled

T = TypeVar("T")
JSONDict = dict[str, Any]

DEFAULT_TOKEN = "1459232241454765289:fake-zalo-secret"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zalo"

_TEXT_LIMIT = 2000
_MAX_POLL_SECONDS = 60.0
_CHUNK = 64 * 1024
_RATE_LIMITED = frozenset({"sendMessage", "sendPhoto"})


@functools.cache
def _load_fixture(name: str) -> JSONDict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture(name: str) -> JSONDict:
    """A fresh deep copy of ``tests/fixtures/zalo/<name>``."""
    return copy.deepcopy(_load_fixture(name))


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_id() -> str:
    """A Zalo-style id: 20 lowercase hex characters."""
    return secrets.token_hex(10)


@dataclass
class Call:
    """One request to the fake API, recorded on arrival; ``http_status`` is set when answered."""

    method: str
    params: JSONDict
    at: float
    http_status: int | None = None


@dataclass
class ZaloSent:
    """A message the bot sent; ``text`` is the text or the photo caption."""

    message_id: str
    chat_id: str
    kind: str  # "text" | "photo" | "sticker"
    text: str | None
    photo_url: str | None
    photo_bytes: bytes | None
    date: int
    at: float
    sticker: str | None = None


class ApiError(Exception):
    """Makes a handler answer with a Zalo error body."""

    def __init__(self, error_code: int, description: str, http_status: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        if http_status is None:
            http_status = error_code if 400 <= error_code <= 599 else 200
        self.http_status = http_status


class _Dropped(Exception):
    """The connection was closed without an answer."""


class ZaloUser:
    """A Zalo user chatting with the bot in a private chat (chat id == user id)."""

    def __init__(self, server: FakeZalo, user_id: str, display_name: str) -> None:
        self.server = server
        self.id = user_id
        self.display_name = display_name
        self.blocked = False
        self._cursor = 0

    @property
    def chat_id(self) -> str:
        """The private chat id, equal to the user id."""
        return self.id

    async def _send(self, fixture_name: str, **content: Any) -> JSONDict:
        update = fixture(fixture_name)
        message = update["message"]
        message["message_id"] = _new_id()
        message["date"] = _now_ms()
        message["chat"]["id"] = self.chat_id
        message["from"]["id"] = self.id
        message["from"]["display_name"] = self.display_name
        for key, value in content.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        await self.server.enqueue(update)
        return update

    async def send_text(self, text: str) -> JSONDict:
        """Queue a ``message.text.received`` update; returns it."""
        return await self._send("update-text.json", text=text)

    async def send_photo(self, url: str, caption: str | None = None) -> JSONDict:
        """Queue a ``message.image.received`` update with a photo URL; returns it."""
        return await self._send("update-image.json", photo=url, caption=caption)

    async def send_sticker(self, sticker: str = "0e078a2fb66a5f34067b") -> JSONDict:
        """Queue a ``message.sticker.received`` update; returns it."""
        template = _load_fixture("update-sticker.json")["message"]
        url = template["url"].replace(template["sticker"], sticker)
        return await self._send("update-sticker.json", sticker=sticker, url=url)

    async def send_unsupported(self) -> JSONDict:
        """Queue a ``message.unsupported.received`` update (voice, file, ...); returns it."""
        return await self._send("update-unsupported.json")

    def messages(self) -> list[ZaloSent]:
        """Everything the bot sent to this chat."""
        return self.server.sent(self.chat_id)

    def skip_existing(self) -> None:
        """Mark all messages sent so far as read for ``messages_until_idle``."""
        self._cursor = len(self.server.sent(self.chat_id))

    async def messages_until_idle(
        self, idle: float = 0.25, timeout: float = 15, min_count: int = 1
    ) -> list[ZaloSent]:
        """Unread messages, once ``min_count`` arrived and the bot has settled, when the app
        has given the server its probe (``FakeZalo.settled``); without a probe, once nothing
        new came for ``idle`` seconds.

        The returned messages are marked read.  Raises AssertionError when fewer than
        ``min_count`` arrive within ``timeout``; with a probe, TimeoutError if the bot never
        settles; without one, if the bot never goes quiet, what arrived by the deadline is
        returned.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        sent = self.server._sent[self.chat_id]

        def arrived(count: int) -> Callable[[], bool]:
            return lambda: len(sent) - self._cursor >= count

        try:
            await self.server._wait(arrived(min_count), timeout)
        except TimeoutError:
            raise AssertionError(
                f"Expected {min_count} new message(s) to chat {self.chat_id} within {timeout}s, "
                f"got {len(sent) - self._cursor}: {[m.text for m in sent[self._cursor :]]!r}; "
                f"recent calls: {self.server.describe_calls()}"
            ) from None
        if self.server.settled is not None:
            await self.server.until_settled(max(deadline - loop.time(), 0.001))
        while self.server.settled is None and (remaining := deadline - loop.time()) > 0:
            try:
                await self.server._wait(arrived(len(sent) - self._cursor + 1), min(idle, remaining))
            except TimeoutError:
                if remaining > idle:
                    break
        new = sent[self._cursor :]
        self._cursor = len(sent)
        return new

    def block(self) -> None:
        """Block the bot: sends to this chat fail with error 403."""
        self.blocked = True

    def unblock(self) -> None:
        """Undo ``block``."""
        self.blocked = False


class FakeZalo:
    """In-process fake of the Zalo Bot API, served over HTTP on 127.0.0.1."""

    def __init__(self, token: str = DEFAULT_TOKEN, bot_name: str = "bot.guongsang") -> None:
        self._token = token
        self.bot_name: str = bot_name
        self.calls: list[Call] = []
        self.updates_as_list: bool = False
        self.empty_poll_http_status: int = 408
        self.max_per_second: float | None = None
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.users: dict[str, ZaloUser] = {}
        self._webhook_updated_at = _now_ms()
        self._pending: deque[JSONDict] = deque()
        self._sent: defaultdict[str, list[ZaloSent]] = defaultdict(list)
        self._send_times: deque[float] = deque()
        self._fails: defaultdict[str, deque[ApiError]] = defaultdict(deque)
        self._drops: defaultdict[str, int] = defaultdict(int)
        self._delays: defaultdict[str, deque[float]] = defaultdict(deque)
        self._files: dict[str, tuple[bytes, str, float]] = {}
        self._changed = asyncio.Condition()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Updates the last getUpdates answer handed out: the bot has them in hand only once
        # it polls again (its poller queues their handling first).
        self._handed_out = 0
        # The app's "settled" probe, set by the fixture that runs the app in this process
        # (see tests/fakes/settling.py); None keeps the quiet-spell wait.
        self.settled: Probe | None = None
        self._handlers: dict[str, Callable[[JSONDict], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "deleteWebhook": self._delete_webhook,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendSticker": self._send_sticker,
            "sendChatAction": self._send_chat_action,
        }

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start listening on an OS-chosen port on 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/cdn/{name}", self._handle_cdn)
        # A short shutdown_timeout: open long polls must not hold up stop().
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]
        self._stopping = False

    async def stop(self) -> None:
        """Release pending long polls (they answer 408) and stop the HTTP server."""
        self._stopping = True
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeZalo:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_root(self) -> str:
        """``http://127.0.0.1:PORT``; the bot calls ``POST {api_root}/bot{token}/{method}``."""
        if self._port is None:
            raise RuntimeError("FakeZalo is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def token(self) -> str:
        """The only token the server accepts."""
        return self._token

    # ----------------------------------------------------------------- users, updates, files

    def user(self, user_id: str, display_name: str = "Lan") -> ZaloUser:
        """The simulated user with this id, created on first use."""
        if user_id not in self.users:
            self.users[user_id] = ZaloUser(self, user_id, display_name)
        return self.users[user_id]

    async def enqueue(self, update: JSONDict) -> None:
        """Queue a raw update for getUpdates."""
        self._pending.append(update)
        await self._notify()

    def host_file(
        self, data: bytes, content_type: str = "image/jpeg", *, delay: float = 0.0
    ) -> str:
        """Serve ``data`` at ``GET {api_root}/cdn/<random>.jpg`` and return that URL.

        ``delay`` seconds pass before the answer starts; the body is streamed in 64 KiB chunks.
        """
        name = f"{secrets.token_hex(8)}.jpg"
        self._files[name] = (data, content_type, delay)
        return f"{self.api_root}/cdn/{name}"

    # ----------------------------------------------------------------- inspection

    def sent(self, chat_id: str) -> list[ZaloSent]:
        """Messages the bot sent to ``chat_id``, in order."""
        return list(self._sent.get(chat_id, []))

    def all_sent(self) -> list[ZaloSent]:
        """Messages the bot sent to any chat, in order of sending."""
        return sorted((m for msgs in self._sent.values() for m in msgs), key=lambda m: m.at)

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method."""
        return [c for c in self.calls if c.method == method]

    def describe_calls(self, last: int = 15) -> str:
        """A short human-readable tail of the call log for assertion messages."""
        return "; ".join(
            f"{c.method}({json.dumps(c.params, ensure_ascii=False)[:80]}) -> {c.http_status}"
            for c in self.calls[-last:]
        )

    # ----------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 500,
        description: str | None = None,
        http_status: int | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with an error body, without acting.

        ``http_status`` defaults to ``error_code`` when that is 400..599, else 200.
        """
        for _ in range(count):
            self._fails[method].append(
                ApiError(error_code, description or _phrase(error_code), http_status)
            )

    def drop_next(self, method: str, count: int = 1) -> None:
        """Close the connection of the next ``count`` calls of ``method`` without any answer.

        The request is lost before the fake acts on it (nothing is sent or handed out).
        """
        self._drops[method] += count

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` wait ``seconds`` before being handled.

        The call is still carried out, as on the real API: a client that timed out and retries
        may deliver the message twice.
        """
        for _ in range(count):
            self._delays[method].append(seconds)

    # ----------------------------------------------------------------- waiting

    async def until_settled(self, timeout: float = 15) -> None:
        """Wait until the bot has taken in every queued update (polled again after the answer
        that handed it out) and the app's probe says it has settled. Needs the probe."""
        assert self.settled is not None, "no probe: the app is not running in this process"
        await until_settled(
            self.settled,
            lambda: not self._pending and not self._handed_out,
            timeout,
            lambda: (
                f"{len(self._pending)} update(s) queued, {self._handed_out} handed out; "
                f"calls: {self.describe_calls()}"
            ),
        )

    async def wait_for(self, predicate: Callable[[list[Call]], T], timeout: float = 10) -> T:
        """Wait until ``predicate(calls)`` is truthy and return its value."""
        try:
            return await self._wait(lambda: predicate(self.calls), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"Condition not met within {timeout}s; recent calls: {self.describe_calls()}"
            ) from None

    async def wait_for_call(self, method: str, start: int = 0, timeout: float = 10) -> Call:
        """Wait for the first call of ``method`` at index >= ``start`` in ``calls``."""
        return await self.wait_for(
            lambda calls: next((c for c in calls[start:] if c.method == method), None), timeout
        )

    async def _wait(self, check: Callable[[], T], timeout: float) -> T:
        async with self._changed:
            async with asyncio.timeout(timeout):
                while not (result := check()):
                    await self._changed.wait()
            return result

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ----------------------------------------------------------------- HTTP layer

    @staticmethod
    def _json(body: Any, status: int = 200) -> web.Response:
        return web.json_response(
            body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        raw = await request.read()
        try:
            params = json.loads(raw) if raw.strip() else {}
        except ValueError:
            params = None
        call = Call(method, params if isinstance(params, dict) else {}, time.monotonic())
        self.calls.append(call)
        if method == "getUpdates":
            # Polling again: whatever the last answer handed out is in the bot's hands.
            self._handed_out = 0
        # Wake waiters now, so wait_for can see a call still in progress (e.g. a long poll).
        await self._notify()
        delay = self._delays[method].popleft() if self._delays.get(method) else 0.0
        drop = self._drops.get(method, 0) > 0
        if drop:
            self._drops[method] -= 1
        fail = self._fails[method].popleft() if self._fails.get(method) else None
        try:
            if request.match_info["token"] != self._token:
                raise ApiError(401, "Unauthorized")
            if request.method != "POST":
                raise ApiError(405, "Method Not Allowed: use POST")
            handler = self._handlers.get(method)
            if handler is None:
                raise ApiError(404, f"Not Found: unknown method {method}")
            if not isinstance(params, dict):
                raise ApiError(400, "Bad Request: body must be a JSON object")
            if delay:
                await asyncio.sleep(delay)
            if drop:
                raise _Dropped
            if fail is not None:
                raise fail
            result = await handler(params)
        except _Dropped:
            if request.transport is not None:
                request.transport.abort()
            await self._notify()
            return web.Response()  # never written: the connection is gone
        except ApiError as err:
            call.http_status = err.http_status
            body = {"ok": False, "error_code": err.error_code, "description": err.description}
            response = self._json(body, err.http_status)
        else:
            call.http_status = 200
            response = self._json({"ok": True, "result": result})
        await self._notify()
        return response

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        entry = self._files.get(request.match_info["name"])
        if entry is None:
            return web.Response(status=404, text="Not Found")
        data, content_type, delay = entry
        if delay:
            await asyncio.sleep(delay)
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.content_length = len(data)
        await response.prepare(request)
        for i in range(0, len(data), _CHUNK):
            await response.write(data[i : i + _CHUNK])
        await response.write_eof()
        return response

    # ----------------------------------------------------------------- method handlers

    async def _get_me(self, params: JSONDict) -> JSONDict:
        result = fixture("getme.json")["result"]
        result["id"] = self._token.split(":", 1)[0]
        result["account_name"] = self.bot_name
        return result

    async def _get_updates(self, params: JSONDict) -> Any:
        if self.webhook_url:
            raise ApiError(400, "Webhook is active, use deleteWebhook to use getUpdates")
        raw_timeout = params.get("timeout", 0)
        try:
            if isinstance(raw_timeout, bool):
                raise ValueError
            timeout = min(max(float(raw_timeout), 0.0), _MAX_POLL_SECONDS)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: timeout must be a number of seconds") from None

        def take() -> tuple[Any] | None:
            if self._stopping:
                return (None,)
            if not self._pending:
                return None
            if self.updates_as_list:
                updates = list(self._pending)
                self._pending.clear()
                self._handed_out = len(updates)
                return (updates,)
            self._handed_out = 1
            return (self._pending.popleft(),)

        try:
            (result,) = await self._wait(take, timeout)
        except TimeoutError:
            result = None
        if result is None:
            timeout_body = fixture("getupdates-timeout.json")
            raise ApiError(
                timeout_body["error_code"], timeout_body["description"], self.empty_poll_http_status
            )
        return result

    async def _set_webhook(self, params: JSONDict) -> JSONDict:
        url, secret = params.get("url"), params.get("secret_token")
        if not isinstance(url, str) or not _is_public_https(url):
            raise ApiError(400, "Bad Request: url must be a public https URL")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            raise ApiError(400, "Bad Request: secret_token must be 8 to 256 characters")
        self.webhook_url, self.webhook_secret = url, secret
        self._webhook_updated_at = _now_ms()
        return {"url": url, "updated_at": self._webhook_updated_at}

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return {"url": self.webhook_url or "", "updated_at": self._webhook_updated_at}

    async def _delete_webhook(self, params: JSONDict) -> JSONDict:
        self.webhook_url = self.webhook_secret = None
        self._webhook_updated_at = _now_ms()
        return {"url": "", "updated_at": self._webhook_updated_at}

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._check_send("sendMessage", params)
        text = _check_text(params.get("text"), "text", required=True)
        return self._record(chat_id, "text", text=text)

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        chat_id = self._check_send("sendPhoto", params)
        photo = params.get("photo")
        if not isinstance(photo, str) or urlsplit(photo).scheme not in ("http", "https"):
            raise ApiError(400, "Bad Request: photo must be an http(s) URL")
        caption = _check_text(params.get("caption"), "caption", required=False)
        data = await _fetch_image(photo)
        return self._record(chat_id, "photo", text=caption, photo_url=photo, photo_bytes=data)

    async def _send_sticker(self, params: JSONDict) -> JSONDict:
        chat_id = self._check_send("sendSticker", params)
        sticker = params.get("sticker")
        if not isinstance(sticker, str) or not sticker:
            raise ApiError(400, "Bad Request: sticker is required")
        return self._record(chat_id, "sticker", sticker=sticker)

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._check_send("sendChatAction", params)
        if params.get("action") not in ("typing", "upload_photo"):
            raise ApiError(400, "Bad Request: action must be typing or upload_photo")
        return True

    # ----------------------------------------------------------------- helpers for handlers

    def _check_send(self, method: str, params: JSONDict) -> str:
        """Validate chat_id, refuse blocked users and apply ``max_per_second``."""
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise ApiError(400, "Bad Request: chat_id must be a non-empty string")
        user = self.users.get(chat_id)
        if user is not None and user.blocked:
            raise ApiError(403, "The user has blocked the bot")
        if method in _RATE_LIMITED and self.max_per_second is not None:
            now = time.monotonic()
            while self._send_times and now - self._send_times[0] >= 1.0:
                self._send_times.popleft()
            if len(self._send_times) >= self.max_per_second:
                raise ApiError(429, "Too many requests")
            self._send_times.append(now)
        return chat_id

    def _record(self, chat_id: str, kind: str, **fields: Any) -> JSONDict:
        result = fixture("sendmessage.json")["result"]
        result["message_id"], result["date"] = _new_id(), _now_ms()
        sent = ZaloSent(
            message_id=result["message_id"],
            chat_id=chat_id,
            kind=kind,
            text=fields.get("text"),
            photo_url=fields.get("photo_url"),
            photo_bytes=fields.get("photo_bytes"),
            date=result["date"],
            at=time.monotonic(),
            sticker=fields.get("sticker"),
        )
        self._sent[chat_id].append(sent)
        return result


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def _check_text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= _TEXT_LIMIT:
        raise ApiError(400, f"Bad Request: {name} must be 1 to {_TEXT_LIMIT} characters")
    return value


def _is_public_https(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return address.is_global


async def _fetch_image(url: str) -> bytes:
    """GET the photo like Zalo's servers do; anything but an image answer is a 400."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(url) as resp,
        ):
            if resp.status == 200 and resp.content_type.startswith("image/"):
                return await resp.read()
    except (aiohttp.ClientError, TimeoutError):
        pass
    raise ApiError(400, "Photo could not be fetched")
