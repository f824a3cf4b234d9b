"""Runs the bot on Telegram: long polling through python-telegram-bot, one handler for all.

Updates are read from their JSON (`convert`, `polling`); python-telegram-bot polls, dispatches
and calls the Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from telegram import Bot, BotCommand, MenuButtonWebApp, Update, WebAppInfo
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import BaseRequest, HTTPXRequest

from bot import http_pool
from bot.app import GuongSang
from bot.channels.chat_ids import MalformedUpdate
from bot.channels.ordering import ChatLocks
from bot.channels.parts import Part
from bot.channels.telegram.convert import CHANNEL, JSON, RawUpdate, check, to_event
from bot.channels.telegram.photos import PhotoIds
from bot.channels.telegram.polling import JsonUpdatesBot
from bot.channels.telegram.render import (
    call_with_retry,
    edit_reply,
    folded,
    remove_buttons,
    reply_calls,
)
from bot.delivery import RetryLater, Undeliverable
from bot.settled import InFlight
from handlers.types import Event, Reply, Response
from templates import chat_texts, to_plain

log = logging.getLogger(__name__)

# Photos of one album arrive as separate updates; wait this long for the rest of the album.
ALBUM_WAIT = 0.8
# How much longer than its long poll a getUpdates answer may take to arrive, in seconds.
POLL_MARGIN = 10.0
COMMANDS = (
    "new",
    "continue",
    "mine",
    "profile",
    "pending",
    "report",
    "subscribe",
    "thidua",
    "guongthang",
    "dsguongthang",
    "dangweb",
    "gobai",
    "diachiweb",
    "baocao",
    "cancel",
    "help",
)


class TelegramSender:
    """Delivers outbox rows through the Bot API; the outbox worker decides about retries."""

    has_buttons = True
    can_edit = True

    def __init__(self, bot: Bot, photo_ids: PhotoIds | None = None) -> None:
        self.bot = bot
        # Shared with the channel's own answers: a photo goes up once (`photos`).
        self.photo_ids = photo_ids if photo_ids is not None else PhotoIds()
        self._uploading: dict[str, asyncio.Lock] = {}

    def parts(self, chat_id: str, reply: Reply) -> list[Part]:
        """The reply's Bot API calls, Telegram's refusals turned into the worker's terms."""
        with _as_outbox_errors():
            calls = reply_calls(self.bot, int(chat_id), reply, self.photo_ids)
        # Sends of the same post at once wait for one upload of its photo, then reuse its id.
        upload = str(reply.photos[0]) if reply.photos else None
        return [self._part(call, upload if i == 0 else None) for i, call in enumerate(calls)]

    def _part(self, call: Part, upload: str | None) -> Part:
        async def part() -> str | None:
            with _as_outbox_errors():
                if upload is not None and upload not in self.photo_ids:
                    async with self._uploading.setdefault(upload, asyncio.Lock()):
                        return await call()
                return await call()

        return part

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Edit a sent message in place."""
        with _as_outbox_errors():
            await edit_reply(self.bot, int(chat_id), int(message_id), reply)

    def is_group(self, chat_id: str) -> bool:
        """Groups and channels have negative ids on Telegram."""
        return chat_id.startswith("-")


async def standalone_sender(token: str, api_root: str) -> tuple[Bot, TelegramSender]:
    """A connected bot and its sender, without polling (the CLI delivering broadcasts)."""
    bot = Bot(
        token,
        base_url=f"{api_root}/bot",
        base_file_url=f"{api_root}/file/bot",
        # The outbox worker sends several messages at once; PTB's default pool holds one.
        request=bot_api_request(32),
    )
    await bot.initialize()
    return bot, TelegramSender(bot)


def bot_api_request(connections: int = http_pool.DEFAULT_CONNECTIONS) -> HTTPXRequest:
    """PTB's request object for Bot API calls, on a connection pool that stays cheap with
    many connections open (see `bot.http_pool`)."""
    transport = http_pool.Transport(http_pool.limits(connections))
    return HTTPXRequest(connection_pool_size=connections, httpx_kwargs={"transport": transport})


@contextlib.contextmanager
def _as_outbox_errors() -> Iterator[None]:
    try:
        yield
    except ValueError as exc:
        # A chat id that is no number can never be delivered to.
        raise Undeliverable(f"bad chat id: {exc}") from exc
    except RetryAfter as exc:
        wait = exc.retry_after
        raise RetryLater(wait.total_seconds() if hasattr(wait, "total_seconds") else wait) from exc
    except Forbidden as exc:
        raise Undeliverable(exc.message, blocked=True) from exc
    except BadRequest as exc:
        raise Undeliverable(exc.message) from exc


class _CountedQueue(asyncio.Queue[object]):
    """PTB's update queue, counting each update in flight from when the poller queues it
    until PTB has run its handler (PTB marks it done only then), so no moment between the
    long poll's answer and the end of the handling looks idle (`bot.settled`)."""

    def __init__(self, in_flight: InFlight) -> None:
        super().__init__()
        self._in_flight = in_flight

    def put_nowait(self, item: object) -> None:
        """Queue an update (`put` comes here too)."""
        super().put_nowait(item)
        self._in_flight.begin()

    def task_done(self) -> None:
        """PTB is done with an update."""
        super().task_done()
        self._in_flight.end()


@dataclass
class _Album:
    event: Event
    timer: asyncio.TimerHandle | None = None
    keys: list[str] = field(default_factory=list)
    # Set once the album has been handled: each part's update is finished only then.
    handled: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class TelegramChannel:
    """The Telegram side of one bot."""

    def __init__(
        self,
        app: GuongSang,
        token: str,
        api_root: str,
        poll_timeout: int = 30,
        *,
        request: BaseRequest | None = None,
        updates_request: BaseRequest | None = None,
    ) -> None:
        """The channel of bot `token` on the Bot API at `api_root`; `request` and
        `updates_request` (the long poll's) replace the HTTP requests (a benchmark's)."""
        self.app = app
        self.poll_timeout = poll_timeout
        self.locks = ChatLocks()
        self.albums: dict[str, _Album] = {}
        self.photo_ids = PhotoIds()
        bot = JsonUpdatesBot(
            token,
            base_url=f"{api_root}/bot",
            base_file_url=f"{api_root}/file/bot",
            request=request or bot_api_request(),
            get_updates_request=updates_request
            or HTTPXRequest(httpx_kwargs={"verify": http_pool.system_ssl_context()}),
            # The long poll holds its one connection for up to `poll_timeout` seconds, and
            # its answer may take this much longer.
            poll_read_timeout=POLL_MARGIN,
        )
        self.application: Application = (  # type: ignore[type-arg]
            ApplicationBuilder()
            .bot(bot)
            .concurrent_updates(True)
            .update_queue(_CountedQueue(app.in_flight))
            .build()
        )
        self.application.add_handler(TypeHandler(RawUpdate, self._on_update))
        self.application.add_error_handler(self._on_error)

    async def start(self, polling: bool = True) -> str:
        """Connect, publish the command menu and start polling (unless updates come by
        webhook, through `process`); returns the bot's username."""
        await self.application.initialize()
        bot = self.application.bot
        await bot.set_my_commands(
            [BotCommand(c, chat_texts().render(f"commands.{c}")) for c in COMMANDS]
        )
        public_url = self.app.settings.public_url
        if public_url.startswith("https://"):
            # The menu button opens the story editor as a Mini App at any time: the page
            # checks Telegram's initData and opens the person's current draft. Telegram opens
            # only https pages that way; commands stay a "/" away.
            label = to_plain(chat_texts().render("buttons.write_on_web"))
            await bot.set_chat_menu_button(
                menu_button=MenuButtonWebApp(label, WebAppInfo(f"{public_url}/editor/telegram"))
            )
        await self.application.start()
        self.app.services.bot_usernames[CHANNEL] = bot.username
        self.app.delivery.register(CHANNEL, TelegramSender(bot, self.photo_ids))
        self.app.start_workers()
        if polling:
            assert self.application.updater is not None
            await self.application.updater.start_polling(
                timeout=self.poll_timeout, allowed_updates=Update.ALL_TYPES
            )
        return bot.username

    async def process(self, data: object) -> None:
        """Handle one update posted to the webhook; ValueError for a body that is none."""
        if not isinstance(data, dict):
            raise ValueError("not an update")
        # Refused before the 200, so nothing of it is handled (MalformedUpdate is a ValueError).
        update = RawUpdate(data)
        check(data)
        with self.app.in_flight.held():
            await self.application.process_update(update)

    async def stop(self) -> None:
        """Stop polling, finish albums in progress, and disconnect."""
        self.app.delivery.unregister(CHANNEL)
        for chat_key in list(self.albums):
            await self._flush_album(chat_key)
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def run_polling(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Run until cancelled (Ctrl+C)."""
        username = await self.start()
        if on_ready:
            on_ready(username)
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def _on_update(self, update: RawUpdate, _context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            event = to_event(update, self.application.bot)
        except MalformedUpdate as exc:
            # Polled updates are not checked before this; a webhook's were, and got a 400.
            log.warning("telegram update %s skipped: %s", update.update_id, exc)
            await self._answer_malformed(update)
            return
        if event is None:
            query = update.callback_query
            if query is not None:
                await self.application.bot.answer_callback_query(query["id"])
            return
        message = update.message
        album = message.get("media_group_id") if message is not None else None
        if album and event.kind in ("photo", "document"):
            # The update is done only when its album is: a webhook answers 200 (and Telegram
            # forgets the photo) only once the photos are in the draft, never while they wait
            # in memory for the rest of the album.
            await asyncio.shield(self._hold_album(event, album))
            return
        await self._flush_album(event.chat_id)
        async with self.locks.hold(event.chat_id):
            await self._handle_and_deliver(update, event)

    async def _answer_malformed(self, update: RawUpdate) -> None:
        """Stop the spinner of a press whose update was malformed, if it can be answered."""
        query = update.callback_query
        if query is None or not isinstance(query.get("id"), str):
            return
        with contextlib.suppress(TelegramError):
            await self.application.bot.answer_callback_query(
                query["id"], chat_texts().render("review.bad_button")
            )

    def _hold_album(self, event: Event, group_id: str) -> asyncio.Future[None]:
        """Gather an album's photos into one event, so the person gets one answer per album;
        returns what is done when the album has been handled."""
        album = self.albums.get(event.chat_id)
        if album is not None and album.keys[0] != group_id:
            # A different album started before the previous one was flushed.
            asyncio.get_running_loop().create_task(self._flush_album(event.chat_id))
            album = None
        if album is None:
            album = _Album(event=event, keys=[group_id])
            self.albums[event.chat_id] = album
        else:
            album.event.files.extend(event.files)
            album.event.update_key = f"{album.event.update_key}+{event.update_key}"[-100:]
        if album.timer is not None:
            album.timer.cancel()
        loop = asyncio.get_running_loop()
        album.timer = loop.call_later(
            ALBUM_WAIT, lambda: loop.create_task(self._flush_album(event.chat_id))
        )
        return album.handled

    async def _flush_album(self, chat_id: str) -> None:
        album = self.albums.pop(chat_id, None)
        if album is None:
            return
        if album.timer is not None:
            album.timer.cancel()
        try:
            async with self.locks.hold(chat_id):
                await self._handle_and_deliver(None, album.event)
        finally:
            if not album.handled.done():
                album.handled.set_result(None)

    async def _handle_and_deliver(self, update: RawUpdate | None, event: Event) -> None:
        try:
            response = await self.app.handle(event)
            self._remember_photos(event)
        except Exception:
            # The transaction was rolled back, so the draft is as it was before this message.
            log.exception("handling %s/%s failed", event.channel, event.update_key)
            response = Response(
                replies=[Reply(chat_texts().render("common.internal_error"))],
                notice=chat_texts().render("common.internal_error_short"),
                press_accepted=False,
            )
        await self._deliver(update, event, response)

    def _remember_photos(self, event: Event) -> None:
        """The photos the person sent that the form attached go back to them (a preview), to
        reviewers and into posts by Telegram's own id for them, not uploaded again."""
        for incoming in event.files:
            if incoming.kind == "photo" and incoming.stored is not None:
                self.photo_ids.remember(incoming.stored.path, incoming.file_id)

    async def _deliver(self, update: RawUpdate | None, event: Event, response: Response) -> None:
        query = update.callback_query if update is not None else None
        if query is None:
            await self._send_replies(event, response)
            return
        # Answering the press and removing its buttons are not in the way of the replies:
        # one after the other, the next question reached the phone three round trips after
        # the press instead of one. Both finish, whatever fails, before the chat's next update
        # is delivered; a press left unanswered is only a spinner on the person's phone.
        settled, sent = await asyncio.gather(
            self._settle_press(query, response),
            self._send_replies(event, response),
            return_exceptions=True,
        )
        if isinstance(sent, BaseException):
            raise sent
        if isinstance(settled, BaseException):
            log.warning("press in %s not answered: %r", event.chat_id, settled)

    async def _settle_press(self, query: JSON, response: Response) -> None:
        """Stop the pressed button's spinner and, if the press was taken, remove its buttons."""
        bot = self.application.bot
        with contextlib.suppress(TelegramError):
            # Telegram shows the answer as plain text, at most 200 characters of it.
            await bot.answer_callback_query(query["id"], to_plain(response.notice)[:200] or None)
        message = query.get("message")
        if response.press_accepted and not response.keep_buttons and message is not None:
            # The pressed message's buttons have done their job.
            with contextlib.suppress(BadRequest):
                chat_id, message_id = message["chat"]["id"], message["message_id"]
                await call_with_retry(lambda: remove_buttons(bot, chat_id, message_id))

    async def _send_replies(self, event: Event, response: Response) -> None:
        """The replies, in order."""
        # A greeting and the question after it go as one message: one Bot API call.
        replies = folded(response.replies)
        for index, reply in enumerate(replies):
            made = 0
            try:
                calls = reply_calls(self.application.bot, int(event.chat_id), reply, self.photo_ids)
                for call in calls:
                    await call_with_retry(call)
                    made += 1
            except (Forbidden, BadRequest) as exc:
                # Refused for good (the person blocked the bot, say): nothing to try again.
                log.warning("reply to %s refused: %s", event.chat_id, exc)
            except Exception as exc:
                # Whatever else failed (the network, Telegram, a timeout, a surprise in the
                # library), the answer is owed: the outbox delivers the rest of it.
                log.warning(
                    "reply to %s not delivered now (%r): queued to be tried again",
                    event.chat_id,
                    exc,
                )
                await self.app.delivery.queue_replies(
                    CHANNEL, event.chat_id, replies[index:], parts_sent=made
                )
                return

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error while handling %r", update, exc_info=context.error)
