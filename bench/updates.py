"""Updates per second through the real Telegram channel, against a bare PTB echo bot.

N simulated people each walk the whole story form at once: registration (/start, name, unit
search, whose one match is taken, the phone shared as a contact), then /new, exemplar, address,
focus area button, title, story, "Xong phần bài viết", one photo (downloaded by the bot with
getFile), "Xong phần ảnh" and "Gửi bài", which answers with the story's code: 14 updates each.
The real application (`GuongSang` and `TelegramChannel`, polling through python-telegram-bot)
handles them; only the network is replaced by an in-process Bot API
(`bench.inprocess_bot_api`). Each person sends one update, waits for the bot's whole answer,
then sends the next.

In the same run a bare PTB application that echoes every message (and answers every button
press with a message) gets the same number of updates from the same number of people on the
same transport: the ratio of the two rates is what the application itself costs. So does the
durable peer (`bench.durable_peer`): the same 14 steps as a PTB ConversationHandler that commits
each step to SQLite before answering, the way that framework makes a form durable; "full form ÷
durable peer" is what our extra guarantees and machinery cost.

Latency is the time from an update being queued to the bot's first message to that chat.
How many messages make "the whole answer" to each step is counted first with one person who
waits for the bot to fall quiet (this also warms the bot up); the timed people then wait for
exactly that many.

    python -m bench.updates [--users 200] [--think SECONDS] [--database-url URL]

With `--think`, each person pauses before every step for a random time averaging that many
seconds (uniform between none and twice it), as people do when they type: the updates per
second are then the load offered, and the latencies are what people feel under it.

SQLite lives in a temporary directory; a PostgreSQL URL should name a scratch database (the
people are new on every run, but the stories stay).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import logging
import math
import random
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import event
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BasePersistence,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bench import durable_peer
from bench.inprocess_bot_api import BotApi, InProcessRequest, SentMessage, User
from bench.step_floor import Floor, bench_floor, ceiling
from bot import heap
from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from storage import sqlite_inline
from tests.apps import Clock, start_app

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
# Inside the campaign's window (20/9/2023 – 3/4/2024).
NOW = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)
POLL_TIMEOUT = 10
# Calibration: the bot has answered a step once nothing more came for this long.
QUIET = 0.5
# A timed person gives up on a step after this long (something is badly wrong by then).
STEP_TIMEOUT = 60.0


# Called with True as the timed people start and False once they are done (after start-up
# and calibration): `bench.profile` profiles only that part.
TIMED_HOOKS: list[Callable[[bool], None]] = []


@dataclass(frozen=True)
class Step:
    """One thing a person does: `kind` is text (commands too), press, contact or photo."""

    kind: str
    value: str = ""

    @property
    def label(self) -> str:
        """How the step is shown in the per-step table."""
        value = self.value if len(self.value) <= 24 else self.value[:23] + "…"
        return f"{self.kind} {value}".strip()


STORY: tuple[Step, ...] = (
    Step("text", "/start"),
    Step("text", "Nguyễn Thị Hoa"),
    Step("text", "thcs le quy don"),
    Step("contact", "+84 912 345 678"),
    Step("text", "/new"),
    Step("text", "Nguyễn Thị Lan"),
    Step("text", "Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội"),
    Step("press", "An toàn trường học"),
    Step("text", "Cô giáo của những buổi chiều thứ Bảy"),
    Step("text", "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn."),
    Step("press", "Xong phần bài viết"),
    Step("photo"),
    Step("press", "Xong phần ảnh"),
    Step("press", "Gửi bài"),
)


@dataclass
class Result:
    """One bot's timed run."""

    name: str
    users: int
    updates: int
    seconds: float
    latencies: list[float]
    completed: int
    # Processor time of the whole process (people, fake API and bot) during the run: steadier
    # than wall time on a shared machine, where neighbours take turns on the cores.
    cpu_seconds: float = 0.0
    # SQL statements the bot ran during the run (None for the echo bot, which has no database).
    statements: int | None = None
    # Latencies grouped by the step that caused them, in the story's order.
    by_step: dict[str, list[float]] = field(default_factory=dict)
    # How long each full garbage collection during the run held the process, in seconds.
    full_gc_pauses: list[float] = field(default_factory=list)
    # Bot API calls the bot made during the run, other than fetching updates.
    api_calls: int = 0

    @property
    def calls_per_update(self) -> float:
        """Bot API calls (sends, edits, press answers, file lookups) per update handled."""
        return self.api_calls / self.updates if self.updates else math.nan

    @property
    def cpu_ms_per_update(self) -> float:
        """Processor milliseconds spent per update handled."""
        return self.cpu_seconds / self.updates * 1000 if self.updates else math.nan

    @property
    def statements_per_update(self) -> float:
        """SQL statements per update handled (NaN without a database)."""
        if self.statements is None or not self.updates:
            return math.nan
        return self.statements / self.updates

    @property
    def rate(self) -> float:
        """Updates handled per second of wall time."""
        return self.updates / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        """The q-th percentile latency in milliseconds (nearest rank)."""
        return percentile_ms(self.latencies, q)


def percentile_ms(latencies: Sequence[float], q: float) -> float:
    """The q-th percentile of latencies in seconds, in milliseconds (nearest rank)."""
    if not latencies:
        return math.nan
    ordered = sorted(latencies)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1] * 1000


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small valid JPEG whose bytes differ by `seed` (each person's photo is their own)."""
    buffer = io.BytesIO()
    colour = (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256)
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


class Person:
    """A simulated person walking the steps against one bot."""

    def __init__(self, api: BotApi, user: User, photo: bytes, real_buttons: bool) -> None:
        self.api = api
        self.user = user
        self.photo = photo
        # The echo bot sends no buttons: its people press "a button" on its last message.
        self.real_buttons = real_buttons

    @property
    def chat_id(self) -> int:
        """The private chat's id (the person's id)."""
        return self.user.user_id

    async def act(self, step: Step) -> None:
        """Send the update for one step (without waiting for the answer)."""
        if step.kind == "text":
            await self.api.send_text(self.user, step.value)
        elif step.kind == "contact":
            await self.api.send_contact(self.user, step.value)
        elif step.kind == "photo":
            await self.api.send_photo(self.user, self.photo)
        elif step.kind == "press" and self.real_buttons:
            message = self.api.with_button(self.chat_id, step.value)
            await self.api.press(self.user, message, step.value)
        elif step.kind == "press":
            await self.api.press_data(self.user, self.api.sent(self.chat_id)[-1], step.value)
        else:
            raise ValueError(f"unknown step {step}")

    async def calibrate(self, steps: Sequence[Step]) -> list[int]:
        """Walk the steps waiting for the bot to fall quiet; returns messages per step."""
        counts = []
        for step in steps:
            before = len(self.api.sent(self.chat_id))
            await self.act(step)
            await self.api.wait_for_count(self.chat_id, before + 1, STEP_TIMEOUT)
            seen = before + 1
            while True:
                try:
                    await self.api.wait_for_count(self.chat_id, seen + 1, QUIET)
                except TimeoutError:
                    break
                seen = len(self.api.sent(self.chat_id))
            counts.append(len(self.api.sent(self.chat_id)) - before)
        return counts

    async def walk(
        self, steps: Sequence[Step], counts: Sequence[int], think: float, rng: random.Random
    ) -> None:
        """Walk the steps, each time waiting for the number of messages calibrated, and
        pausing `think` seconds on average before each step."""
        expected = len(self.api.sent(self.chat_id))
        for step, count in zip(steps, counts, strict=True):
            if think:
                await asyncio.sleep(rng.uniform(0, 2 * think))
            self.api.doing(self.chat_id, step.label)
            await self.act(step)
            expected += count
            try:
                await self.api.wait_for_count(self.chat_id, expected, STEP_TIMEOUT)
            except TimeoutError:
                got = len(self.api.sent(self.chat_id))
                raise RuntimeError(
                    f"person {self.chat_id}: {got} of {expected} messages after {step}"
                ) from None


async def run_people(
    name: str,
    api: BotApi,
    users: int,
    first_id: int,
    real_buttons: bool,
    done: Callable[[SentMessage | None], bool],
    think: float = 0.0,
    statements: Callable[[], int] | None = None,
) -> Result:
    """Calibrate with one person, then time `users` people walking the story at once.

    `statements`, if given, tells how many SQL statements the bot has run so far.
    """
    photos = [jpeg(n) for n in range(users + 1)]
    probe = Person(api, api.user(first_id, "Hoa"), photos[0], real_buttons)
    counts = await probe.calibrate(STORY)
    people = [
        Person(api, api.user(first_id + n, f"Hoa {n}"), photos[n], real_buttons)
        for n in range(1, users + 1)
    ]
    api.latencies.clear()
    api.latencies_by_step.clear()
    queued = api.updates_queued
    calls_before = _calls(api)
    statements_before = statements() if statements else 0
    full_gc_pauses: list[float] = []
    on_gc = _timer(full_gc_pauses)
    gc.callbacks.append(on_gc)
    for hook in TIMED_HOOKS:
        hook(True)
    started, cpu_started = time.perf_counter(), time.process_time()
    # The same pauses for both bots: each person's own seeded sequence.
    outcomes = await asyncio.gather(
        *(person.walk(STORY, counts, think, random.Random(n)) for n, person in enumerate(people)),
        return_exceptions=True,
    )
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    for hook in TIMED_HOOKS:
        hook(False)
    gc.callbacks.remove(on_gc)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    for failure in failures[:3]:
        logging.getLogger(__name__).error("%s: %s", name, failure)
    completed = sum(
        1
        for person, outcome in zip(people, outcomes, strict=True)
        if not isinstance(outcome, BaseException) and done(_last(api, person.chat_id))
    )
    return Result(
        name=name,
        users=users,
        updates=api.updates_queued - queued,
        seconds=seconds,
        latencies=list(api.latencies),
        completed=completed,
        cpu_seconds=cpu_seconds,
        statements=statements() - statements_before if statements else None,
        by_step={step.label: list(api.latencies_by_step[step.label]) for step in STORY},
        full_gc_pauses=full_gc_pauses,
        api_calls=_calls(api) - calls_before,
    )


def reached_code(last: SentMessage | None) -> bool:
    """Whether a person's last message from the bot gives the story's code: the form done."""
    return last is not None and "GS-" in last.plain_text


def _calls(api: BotApi) -> int:
    # Fetching updates is left out: how many a call brings depends on the load, not the bot.
    return sum(n for method, n in api.calls.items() if method != "getUpdates")


def _timer(pauses: list[float]) -> Callable[[str, dict[str, int]], None]:
    """A gc callback appending the duration of every full (generation 2) collection."""
    started = 0.0

    def on_gc(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if info["generation"] != 2:
            return
        if phase == "start":
            started = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started)

    return on_gc


def _last(api: BotApi, chat_id: int) -> SentMessage | None:
    sent = api.sent(chat_id)
    return sent[-1] if sent else None


class InProcessTelegramChannel(TelegramChannel):
    """The real Telegram channel, its PTB application talking to an in-process Bot API."""

    def __init__(self, app: GuongSang, api: BotApi, poll_timeout: int = POLL_TIMEOUT) -> None:
        super().__init__(
            app,
            api.token,
            api.root,
            poll_timeout,
            request=InProcessRequest(api),
            updates_request=InProcessRequest(api),
        )


def build_application(api: BotApi, persistence: BasePersistence | None = None) -> Application:  # type: ignore[type-arg]
    """A PTB application on the in-process transport, handling updates concurrently."""
    builder = ApplicationBuilder()
    if persistence is not None:
        builder = builder.persistence(persistence)
    return (
        builder.token(api.token)
        .base_url(f"{api.root}/bot")
        .base_file_url(f"{api.root}/file/bot")
        .request(InProcessRequest(api))
        # PTB adds getUpdates' long-poll timeout to this request's read timeout.
        .get_updates_request(InProcessRequest(api, read_timeout=10.0))
        .concurrent_updates(True)
        .build()
    )


async def bench_full_form(
    users: int, database_url: str | None, first_id: int, think: float = 0.0
) -> Result:
    """The real application walking the whole story form."""
    api = BotApi()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp),
            database_url=database_url,
            config=FIXTURES / "campaigns.toml",
        )
        app = await start_app(settings, Clock(NOW))
        executed = 0

        def count(*_args: object) -> None:
            nonlocal executed
            executed += 1

        if app.db.is_sqlite:
            # SQLite's own trace: it also sees what runs on the driver's connection beneath
            # SQLAlchemy (BEGIN IMMEDIATE, COMMIT, prepared statements of the per-update path).
            def trace(dbapi_connection: object, *_args: object) -> None:
                sqlite_inline.driver(dbapi_connection).set_trace_callback(count)

            event.listen(app.db.engine.sync_engine.pool, "checkout", trace)
            # Connections taken before (group commit keeps its own) are traced once retaken.
            await app.db.dispose()
        else:
            # What SQLAlchemy runs (as prepared statements, which asyncpg's query logger does
            # not see) and what runs on asyncpg beneath it (BEGIN, COMMIT, the per-update
            # statements of `storage.prepared`), which only that logger sees.
            event.listen(app.db.engine.sync_engine, "before_cursor_execute", count)
            logged: weakref.WeakSet[Any] = weakref.WeakSet()

            def log_driver(dbapi_connection: Any, *_args: object) -> None:
                driver = dbapi_connection.driver_connection
                if driver not in logged:
                    logged.add(driver)
                    driver.add_query_logger(count)

            event.listen(app.db.engine.sync_engine.pool, "checkout", log_driver)
        channel: InProcessTelegramChannel | None = None
        try:
            channel = InProcessTelegramChannel(app, api)
            await channel.start()
            heap.settle()  # as the bot's commands do once started
            return await run_people(
                "full form",
                api,
                users,
                first_id,
                real_buttons=True,
                done=reached_code,
                think=think,
                statements=lambda: executed,
            )
        finally:
            if channel is not None:
                await channel.stop()
            await app.close()
            await api.close()


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None:
        return
    await context.bot.send_message(message.chat.id, message.text or message.caption or "ok")


async def _echo_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        return
    await query.answer()
    await context.bot.send_message(query.message.chat.id, query.data or "ok")


async def bench_echo(users: int, first_id: int, think: float = 0.0) -> Result:
    """A bare PTB bot echoing every message, the same people and updates."""
    api = BotApi()
    application = build_application(api)
    application.add_handler(MessageHandler(filters.ALL, _echo))
    application.add_handler(CallbackQueryHandler(_echo_press))
    async with polling(application, api):
        return await run_people(
            "echo",
            api,
            users,
            first_id,
            real_buttons=False,
            done=lambda last: last is not None and last.text == STORY[-1].value,
            think=think,
        )


@asynccontextmanager
async def polling(application: Application, api: BotApi) -> AsyncIterator[None]:  # type: ignore[type-arg]
    """A bare PTB application polling the in-process API; stopped, with the API, after."""
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES)
    try:
        yield
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        await api.close()


async def bench_peer(users: int, first_id: int, think: float = 0.0) -> Result:
    """The same form written with PTB's ConversationHandler, durable through a small
    persistence that commits every step to SQLite before answering (`bench.durable_peer`)."""
    api = BotApi()
    with tempfile.TemporaryDirectory() as tmp:
        persistence = durable_peer.SQLitePersistence(Path(tmp) / "peer.db")
        media = Path(tmp) / "media"
        media.mkdir()
        application = build_application(api, persistence)
        durable_peer.install(application, persistence, media)
        executed = 0

        def count(_statement: str) -> None:
            nonlocal executed
            executed += 1

        persistence.db.set_trace_callback(count)
        async with polling(application, api):
            return await run_people(
                "peer",
                api,
                users,
                first_id,
                real_buttons=True,
                done=reached_code,
                think=think,
                statements=lambda: executed,
            )


def table(results: Sequence[Result]) -> str:
    """The results as a fixed-width table."""
    lines = [
        f"{'bot':<10} {'users':>6} {'updates':>8} {'seconds':>8} {'upd/s':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'cpu ms/upd':>10} {'sql/upd':>7} {'api/upd':>7} "
        f"{'done':>6} "
        f"{'full gc':>7} {'max ms':>6}"
    ]
    for r in results:
        lines.append(
            f"{r.name:<10} {r.users:>6} {r.updates:>8} {r.seconds:>8.2f} {r.rate:>8.0f} "
            f"{r.percentile_ms(50):>7.1f} {r.percentile_ms(99):>7.1f} "
            f"{r.cpu_ms_per_update:>10.2f} {r.statements_per_update:>7.1f} "
            f"{r.calls_per_update:>7.2f} {r.completed:>6} "
            f"{len(r.full_gc_pauses):>7} {max(r.full_gc_pauses, default=0) * 1000:>6.1f}"
        )
    return "\n".join(lines)


def step_table(result: Result) -> str:
    """Latency percentiles of each step of the story, to see where a tail comes from."""
    lines = [f"{'step (' + result.name + ')':<36} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}"]
    for label, latencies in result.by_step.items():
        lines.append(
            f"{label:<36} {percentile_ms(latencies, 50):>7.1f} "
            f"{percentile_ms(latencies, 90):>7.1f} {percentile_ms(latencies, 99):>7.1f}"
        )
    return "\n".join(lines)


def floor_line(floor: Floor, echo: Result) -> str:
    """What the least transaction of a step costs, and the ratio it leaves room for."""
    bare = ""
    if floor.driver_cpu_seconds is not None:
        bare = f" (the same statements straight on sqlite3: {floor.driver_ms_per_update:.2f} ms)"
    return (
        f"floor: the transaction every step opens with (claim the update, read the chat and "
        f"the person, save the step), alone: {floor.rate:.0f} upd/s, "
        f"{floor.cpu_ms_per_update:.2f} ms of processor time per update{bare}; with echo's "
        f"{echo.cpu_ms_per_update:.2f} ms, no form committing each step could pass a ratio "
        f"of {ceiling(echo.cpu_ms_per_update, floor):.2f}; and with {echo.users} people "
        f"sending without pause, each would wait {waiting_ms(floor, echo):.0f} ms on average "
        "(people / rate), with no form at all"
    )


def waiting_ms(floor: Floor, echo: Result) -> float:
    """The mean wait of people who each send again as soon as answered, if the bot did only
    the floor and echo's work: by Little's law, people in the system over its rate."""
    per_update = floor.cpu_ms_per_update + echo.cpu_ms_per_update
    return echo.users * per_update


def summary(
    form: Result, echo: Result, floor: Floor | None, think: float = 0.0, peer: Result | None = None
) -> str:
    """The last line: the rates, the form's ratios to echo and to the durable peer, and the
    form's latencies against the targets."""
    ratio = form.rate / echo.rate if echo.rate else math.nan
    pace = f" pausing {think:g} s a step on average" if think else " sending without pause"
    bound = f" (ceiling {ceiling(echo.cpu_ms_per_update, floor):.2f})" if floor else ""
    against_peer = ""
    if peer is not None:
        peer_ratio = form.rate / peer.rate if peer.rate else math.nan
        against_peer = (
            f"; vs durable peer {peer.rate:.0f} upd/s: full form ÷ durable peer "
            f"{peer_ratio:.2f} (target >= 1.0), processor time {peer.cpu_ms_per_update:.2f} "
            "ms/update"
        )
    return (
        f"updates: {form.users} users{pace}, {form.updates} updates, "
        f"full form {form.rate:.0f} upd/s "
        f"(p50 {form.percentile_ms(50):.0f} ms, p99 {form.percentile_ms(99):.0f} ms) "
        f"vs echo {echo.rate:.0f} upd/s: ratio {ratio:.2f}{bound} (target >= 0.5); "
        f"processor time {form.cpu_ms_per_update:.2f} vs {echo.cpu_ms_per_update:.2f} "
        f"ms/update; p99 target < 100 ms{against_peer}"
    )


async def main(users: int, database_url: str | None, think: float = 0.0) -> None:
    """Run both benchmarks and print the table, then the summary line."""
    # New people on every run, so a PostgreSQL database can be reused.
    first_id = int(time.time()) * 1000
    # The baseline first, on a clean heap; then the application.
    gc.collect()
    echo = await bench_echo(users, first_id, think)
    gc.collect()
    peer = await bench_peer(users, first_id, think)
    gc.collect()
    form = await bench_full_form(users, database_url, first_id, think)
    # The floor only bounds a run without pauses: with them, the rate is the load offered.
    floor = None
    if not think:
        gc.collect()
        floor = await bench_floor(
            users, len(STORY), database_url, first_id + users + 1, FIXTURES / "campaigns.toml", NOW
        )
    backend = "PostgreSQL" if database_url else "SQLite"
    print(f"full form on {backend}; 'done' = people who reached the story's code (or last echo)")
    print(step_table(form))
    print(table([form, peer, echo]))
    if floor:
        print(floor_line(floor, echo))
    print(summary(form, echo, floor, think, peer))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200, help="people writing at once")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause before a step, s")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(args.users, args.database_url, args.think))
