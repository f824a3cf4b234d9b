"""Runs the bot on Zalo: long polling (or the webhook), ordered per chat, plain-text replies."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from bot import http_pool
from bot.app import GuongSang
from bot.channels.ordering import ChatLocks
from bot.channels.parts import Part, send_parts
from bot.channels.zalo.client import MAX_TEXT, ZaloClient, ZaloError
from bot.channels.zalo.convert import CHANNEL, to_event
from bot.channels.zalo.photos import PhotoFetcher
from bot.channels.zalo.render import reply_text, split_text
from bot.delivery import RetryLater, Undeliverable
from bot.web.media import file_url
from handlers.types import Event, Reply, Response
from templates import chat_texts

log = logging.getLogger(__name__)
T = TypeVar("T")

# Polling backs off from 1 s to this many seconds while Zalo or the network is failing.
MAX_BACKOFF = 30.0
# A direct answer is tried this many times on network errors and 5xx before it is given up.
ATTEMPTS = 3


async def send_reply(
    client: ZaloClient, chat_id: str, reply: Reply, photo_url: Callable[[Path], str]
) -> list[str]:
    """Send one reply as an answer, each message retried on its own; returns the ids."""
    return await send_parts(reply_calls(client, chat_id, reply, photo_url), _with_retry)


def reply_calls(
    client: ZaloClient, chat_id: str, reply: Reply, photo_url: Callable[[Path], str]
) -> list[Part]:
    """The Bot API calls that send one reply: photos by signed URL, then the text in pieces
    Zalo accepts; one photo with a text that fits goes as a single captioned photo (a
    broadcast post). The numbered choices come last.

    Zalo fetches each photo from its URL. When it cannot (the web app not reachable from the
    internet, say), the photo is left out with a warning and the text still goes: the text
    is what the person acts on.
    """
    text = reply_text(reply)
    if len(reply.photos) == 1 and len(text) <= MAX_TEXT:
        path = reply.photos[0]

        async def captioned() -> str | None:
            try:
                return await client.send_photo(chat_id, photo_url(path), caption=text)
            except ZaloError as exc:
                if not _photo_refused(exc):
                    raise
                log.warning("zalo could not take photo %s (%s): text sent alone", path.name, exc)
                return await client.send_message(chat_id, text)

        return [captioned]
    calls: list[Part] = []
    for path in reply.photos:

        async def photo(path: Path = path) -> str | None:
            try:
                return await client.send_photo(chat_id, photo_url(path))
            except ZaloError as exc:
                if not _photo_refused(exc):
                    raise
                log.warning("zalo could not take photo %s (%s): left out", path.name, exc)
                return None

        calls.append(photo)
    for piece in split_text(text):

        async def message(piece: str = piece) -> str | None:
            return await client.send_message(chat_id, piece)

        calls.append(message)
    return calls


def reachable_from_internet(url: str) -> bool:
    """Whether `url` is https on a host that is not this machine or a private network."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith(".local"):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return "." in host  # a name; whether it resolves is for the operator to know


def _photo_refused(exc: ZaloError) -> bool:
    # A 4xx about the photo itself; not a pause (429), trouble (5xx) or a blocked bot (403).
    return not exc.transient and exc.error_code != 403 and exc.http_status != 429


class ZaloSender:
    """Delivers outbox rows through the Bot API; the outbox worker decides about retries."""

    has_buttons = False
    # Zalo cannot edit a sent message: an "edit" (a decided card) arrives as a new message.
    can_edit = False

    def __init__(self, client: ZaloClient, photo_url: Callable[[Path], str]) -> None:
        self.client = client
        self.photo_url = photo_url

    def parts(self, chat_id: str, reply: Reply) -> list[Part]:
        """The reply's Bot API calls, Zalo's refusals turned into the worker's terms."""
        return [_outbox_part(call) for call in self._calls(chat_id, reply)]

    def _calls(self, chat_id: str, reply: Reply) -> list[Part]:
        return reply_calls(self.client, chat_id, reply, self.photo_url)

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Send the new text as a new message, without the old message's choices."""
        for call in self._calls(chat_id, Reply(reply.text)):
            with _as_outbox_errors():
                await call()

    def is_group(self, chat_id: str) -> bool:
        """Zalo's group chats are not used for deliveries (they are in beta)."""
        return False


def standalone_zalo_sender(
    app: GuongSang, token: str, api_root: str
) -> tuple[ZaloClient, ZaloSender]:
    """A client and its sender, without polling (the CLI delivering broadcasts)."""
    client = ZaloClient(token, api_root)

    def photo_url(path: Path) -> str:
        return file_url(app.settings, path.name, app.services.now())

    return client, ZaloSender(client, photo_url)


def _outbox_part(call: Part) -> Part:
    async def part() -> str | None:
        with _as_outbox_errors():
            return await call()

    return part


@contextlib.contextmanager
def _as_outbox_errors() -> Iterator[None]:
    try:
        yield
    except ZaloError as exc:
        if exc.error_code == 429 or exc.http_status == 429:
            # Zalo documents no waiting time; pause the channel briefly and try again.
            raise RetryLater(1.0) from exc
        if exc.transient:
            raise
        # 403: the person blocked the bot or left; other 4xx: a request that will never pass.
        raise Undeliverable(exc.description, blocked=exc.error_code == 403) from exc


class ZaloChannel:
    """The Zalo side of one bot: takes updates (polled or posted) and answers them."""

    def __init__(self, app: GuongSang, client: ZaloClient) -> None:
        self.app = app
        self.client = client
        self.locks = ChatLocks()
        self._photo_http = httpx.AsyncClient(verify=http_pool.system_ssl_context())
        self.fetch_photo = PhotoFetcher(self._photo_http, app.settings.max_upload_bytes)
        self.sender = ZaloSender(client, self.photo_url)
        self._poller: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    def photo_url(self, path: Path) -> str:
        """A signed, expiring URL of a stored photo, for Zalo's servers to fetch."""
        return file_url(self.app.settings, path.name, self.app.services.now())

    async def start(self) -> str:
        """Check the token, take on Zalo's outbox rows; returns the bot's account name."""
        public_url = self.app.settings.public_url
        if not reachable_from_internet(public_url):
            log.warning(
                "GUONGSANG_PUBLIC_URL is %s: Zalo fetches the photos the bot sends from there, "
                "and needs a public https address; until then photos are left out on Zalo",
                public_url,
            )
        me = await self.client.get_me()
        name = str(me.get("account_name") or me.get("id") or "")
        self.app.services.bot_usernames[CHANNEL] = name
        self.app.delivery.register(CHANNEL, self.sender)
        self.app.start_workers()
        return name

    def start_polling(self) -> None:
        """Poll getUpdates in the background until `stop`."""
        self._stopping.clear()
        self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def stop(self) -> None:
        """Stop polling, finish the updates being handled, and disconnect."""
        self._stopping.set()
        self.app.delivery.unregister(CHANNEL)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._handling:
            await asyncio.gather(*self._handling, return_exceptions=True)
        await self.client.close()
        await self._photo_http.aclose()

    async def run_polling(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Run until cancelled (Ctrl+C)."""
        name = await self.start()
        if on_ready:
            on_ready(name)
        self.start_polling()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def handle_update(self, update: Any) -> None:
        """Handle one update and answer it; raises MalformedUpdate for a body that is none."""
        with self.app.in_flight.held():
            event = to_event(update, self.fetch_photo)
            if event is None:
                log.info("zalo: a message from a bot is not taken: %.300r", update)
                return
            if event.files:
                # Fetching a photo takes a moment; show that something is happening.
                self._spawn(self._typing(event.chat_id))
            async with self.locks.hold(event.chat_id):
                response = await self._handle(event)
                await self._answer(event, response)

    async def _poll_forever(self) -> None:
        await self._end_webhook()
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                updates = await self.client.get_updates()
            except Exception as exc:
                # Whatever went wrong (an answer of an unexpected shape included), a poller
                # that stops leaves the bot deaf; wait and poll again.
                log.warning("zalo getUpdates failed (%r); again in %.0f s", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                continue
            backoff = 1.0
            for update in updates:
                # Tasks queue on the chat's lock in creation order, so one chat stays in order
                # while different chats are handled at once.
                self._spawn(self._handle_polled(update))

    async def _end_webhook(self) -> None:
        """Polling and a webhook cannot be used together, and Zalo refuses getUpdates while a
        webhook is set: polling removes one left from `webhook set`, and says so, as
        python-telegram-bot does on Telegram. `serve` takes updates at the webhook instead.
        """
        try:
            url = (await self.client.get_webhook_info()).get("url")
            if url:
                log.warning("zalo: removing the webhook at %s to take updates by polling", url)
                await self.client.delete_webhook()
        except Exception as exc:
            log.warning("zalo: could not check for a webhook (%r); polling anyway", exc)

    async def _handle_polled(self, update: Any) -> None:
        try:
            await self.handle_update(update)
        except ValueError as exc:
            log.warning("zalo update ignored: %s: %.300r", exc, update)

    def _spawn(self, work: Awaitable[None]) -> None:
        # In flight from now, not from when the task first runs: the next poll goes out
        # before that, and the update must never look handled in between (`bot.settled`).
        self.app.in_flight.begin()
        task = asyncio.get_running_loop().create_task(work)  # type: ignore[arg-type]
        self._handling.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._handling.discard(task)
        self.app.in_flight.end()

    async def _typing(self, chat_id: str) -> None:
        with contextlib.suppress(ZaloError, httpx.HTTPError):
            await self.client.send_chat_action(chat_id)

    async def _handle(self, event: Event) -> Response:
        try:
            return await self.app.handle(event)
        except Exception:
            # Rolled back: the draft is as it was before this message.
            log.exception("handling %s/%s failed", event.channel, event.update_key)
            return Response(replies=[Reply(chat_texts().render("common.internal_error"))])

    async def _answer(self, event: Event, response: Response) -> None:
        replies = list(response.replies)
        if response.notice and not replies:
            # No button to show a short answer on: it becomes a message.
            replies.append(Reply(response.notice))
        for index, reply in enumerate(replies):
            made = 0
            try:
                for call in reply_calls(self.client, event.chat_id, reply, self.photo_url):
                    await _with_retry(call)
                    made += 1
            except ZaloError as exc:
                if exc.transient:
                    await self._owe(event.chat_id, replies[index:], made, exc)
                    return
                # Refused for good (the person blocked the bot, say): nothing to try again.
                log.warning("reply to zalo:%s refused: %r", event.chat_id, exc)
            except Exception as exc:
                await self._owe(event.chat_id, replies[index:], made, exc)
                return

    async def _owe(self, chat_id: str, replies: list[Reply], made: int, exc: Exception) -> None:
        """Zalo or the network keeps failing: the outbox delivers the rest of the answer."""
        log.warning(
            "reply to zalo:%s not delivered now (%r): queued to be tried again", chat_id, exc
        )
        await self.app.delivery.queue_replies(CHANNEL, chat_id, replies, parts_sent=made)


async def _with_retry(call: Callable[[], Awaitable[T]]) -> T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except (ZaloError, httpx.TransportError) as exc:
            if attempt == ATTEMPTS or (isinstance(exc, ZaloError) and not exc.transient):
                raise
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")
