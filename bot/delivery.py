"""Delivers the outbox: rows are claimed in a short transaction, sent outside any transaction
under the channel's rate limits, and their outcome recorded in another short transaction.

A crash between sending and recording leaves the row claimed, and it is sent again: the only
duplicates a crash can cause are the sends that were in flight at that instant. That window is
kept to one local commit: the platform's answer is followed at once by one UPDATE of that row,
in a transaction that goes ahead of any waiting (`_mark_sent`); whatever else the send leads
to (a broadcast's progress message) is recorded after that commit; the numbered choices a
message shows are recorded just before it goes, so a number typed as it arrives answers it.

Each worker process names its claims and holds a lock named alike while it lives
(`storage.liveness`): a worker that died is seen at once, by a restarted worker at its start or
by any other at its next heartbeat, and its claims are taken back then, not after the lease.
Live workers keep their claims fresh (however long a retry-after makes them wait), and record
an outcome only for rows they still hold. A reply of several calls records each call as it goes
out, so a row taken back after a crash sends only the calls not yet made.

A row is sent as it reads when sent: a card whose story is decided meanwhile has its payload
replaced with the outcome (`handlers.notify`), so a row taken back is sent as the outcome, and
a worker that finds the payload changed under its send queues the edit that puts it right.

A send that keeps failing is tried a few times at once, then put back with a growing delay and
tried again until it goes, the platform refuses it for good, or it is a day old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from bot.channels.parts import Part
from bot.ratelimit import ChannelLimits
from handlers import numbered as numbering
from handlers.services import Services
from handlers.types import Choice, Reply, payload_to_reply, reply_to_payload
from storage import outbox
from storage.liveness import Liveness
from storage.models import AudienceMember, Broadcast, OutboxMessage, utcnow

log = logging.getLogger(__name__)

# Tries made at once, a growing pause apart, before the row is put back for later.
MAX_ATTEMPTS = 6
# Put back, a row is tried again after 1, 2, 4 … minutes, at most this many apart…
MAX_RESCHEDULE = timedelta(minutes=15)
# …until it is this old: by then the answer or the notification is no longer worth sending.
GIVE_UP_AFTER = timedelta(days=1)
# A broadcast's delivery sooner: its report waits for every one of them.
GIVE_UP_BULK_AFTER = timedelta(hours=1)
MAX_RETRY_AFTERS = 20
IDLE_WAIT = 2.0
PROGRESS_EVERY = 2.0
PER_CLAIM = 4


class Sender(Protocol):
    """What a channel offers the outbox."""

    def parts(self, chat_id: str, reply: Reply) -> list[Part]:
        """The API calls that send a reply, in order, the one with buttons last.

        Each call turns the platform's refusals into RetryLater or Undeliverable. The outbox
        makes them one at a time, each counted by the rate limits, and after a failure goes
        on from the call that failed, so no message of a reply is sent twice.
        """
        ...

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Replace a sent message's text and buttons."""
        ...

    def is_group(self, chat_id: str) -> bool:
        """Whether the chat is a group or channel (stricter limits)."""
        ...

    # Without buttons, choices go out as numbered lines that the chat then answers by number;
    # without edits, only the final progress of a broadcast is sent (as a new message).
    has_buttons: bool
    can_edit: bool


class Undeliverable(Exception):
    """The platform refused for good: do not retry. `blocked` when the person blocked the bot."""

    def __init__(self, message: str, blocked: bool = False) -> None:
        super().__init__(message)
        self.blocked = blocked


class RetryLater(Exception):
    """The platform asked us to wait (HTTP 429); every send on the channel pauses."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


@dataclass
class _Job:
    id: int
    channel: str
    chat_id: str
    kind: str
    payload: dict[str, Any]
    target_message_id: str | None
    broadcast_id: int | None
    audience_id: int | None
    stage: str | None
    # Calls of the reply already made (by a worker that died) and their message ids.
    parts_sent: int = 0
    sent_ids: list[str] = field(default_factory=list)


@dataclass
class _Progress:
    last_edit: float = 0.0
    last_check: float = 0.0
    started: float = field(default_factory=time.monotonic)


class Delivery:
    """The outbox worker: wakes on `kick()` or every few seconds and delivers what is due."""

    def __init__(
        self,
        services: Services,
        limits: Callable[[str], ChannelLimits],
        concurrency: int = 8,
        lease: float = 30.0,
    ) -> None:
        self.services = services
        self.senders: dict[str, Sender] = {}
        # A channel served for one chat only (a console is one person's terminal).
        self.only_chats: dict[str, str] = {}
        self.limits: dict[str, ChannelLimits] = {}
        self._make_limits = limits
        self.concurrency = concurrency
        # A claim not refreshed for this long belongs to a worker that died.
        self.lease = timedelta(seconds=lease)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._progress: dict[int, _Progress] = {}
        # Names this process's claims: a row is only ever finished by the worker holding it.
        self.token = uuid.uuid4().hex
        self.liveness = Liveness(services.db)
        # Pause before the n-th try at once: backoff_base × 2ⁿ seconds (tests shorten it).
        self.backoff_base = 0.25
        # Seconds from each platform answer to the commit recording it: the window in which a
        # crash makes a duplicate (the README's figure comes from these).
        self.mark_gaps: deque[float] = deque(maxlen=10_000)
        # Other processes' recent sends per channel, and when they were read (`_shared_pace`).
        self._others: dict[str, tuple[float, list[datetime]]] = {}
        self._others_lock = asyncio.Lock()
        # Runs of `run_once` under way: rows claimed, being sent or being recorded.
        self._running = 0

    def register(self, channel: str, sender: Sender, only_chat: str | None = None) -> None:
        """Let `channel`'s rows be delivered by `sender` (only those for `only_chat`, if given)."""
        self.senders[channel] = sender
        if only_chat is None:
            self.only_chats.pop(channel, None)
        else:
            self.only_chats[channel] = only_chat
        self.limits.setdefault(channel, self._make_limits(channel))
        self.kick()

    def unregister(self, channel: str) -> None:
        """The channel is going away: its rows wait in the outbox for its return."""
        self.senders.pop(channel, None)
        self.only_chats.pop(channel, None)

    async def queue_replies(
        self, channel: str, chat_id: str, replies: list[Reply], parts_sent: int = 0
    ) -> None:
        """Answers a channel could not deliver now (the platform or the network failing):
        the outbox sends them, in order, with the retries notifications get. `parts_sent`
        calls of the first one went out already and are not made again."""
        now = self.services.now()
        async with self.services.db.transaction() as session:
            for index, reply in enumerate(replies):
                row = await outbox.enqueue(
                    session,
                    channel,
                    chat_id,
                    reply_to_payload(reply, self.services.media_dir),
                    stage=outbox.DIRECT_REPLY,
                    now=now,
                )
                if index == 0 and parts_sent:
                    row.parts_sent = parts_sent
        self.kick()

    def kick(self) -> None:
        """Something was queued: deliver now rather than at the next tick."""
        self._wake.set()

    def start(self) -> None:
        """Run the worker in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, grace: float = 10.0) -> None:
        """Stop after the sends under way; rows not yet sent stay queued for the next start.

        Cancelling in the middle of a database transaction leaves SQLite connections to be
        torn down behind a held lock, so workers are asked to stop and only cancelled if they
        do not within `grace` seconds.
        """
        if self._task is None:
            await self.liveness.release()
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        await self.liveness.release()

    async def _alive(self) -> None:
        """Hold this worker's lock before its first claim, so others see it alive."""
        if not self.liveness.held:
            await self.liveness.hold(self.token)

    async def recover(self) -> int:
        """Take back rows claimed by a worker that died: one whose lock is free (at once), or
        whose claims are older than the lease (a worker whose death cannot be seen)."""
        await self._alive()
        cutoff = self.services.now() - self.lease
        async with self.services.db.transaction() as session:
            claimers = set(
                await session.scalars(
                    select(OutboxMessage.claimed_by)
                    .where(OutboxMessage.status == outbox.SENDING)
                    .distinct()
                )
            )
        claimers.discard(None)
        claimers.discard(self.token)
        dead = [token for token in claimers if await self.liveness.is_dead(str(token))]
        async with self.services.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.status == outbox.SENDING,
                    (OutboxMessage.claimed_at < cutoff) | OutboxMessage.claimed_by.in_(dead),
                )
                .values(status=outbox.PENDING, claimed_at=None, claimed_by=None)
                .execution_options(synchronize_session=False)
            )
        if result.rowcount:
            log.warning("outbox: took back %d rows of a worker that stopped", result.rowcount)
        return result.rowcount

    async def keep_claims(self) -> int:
        """Refresh every claim this worker holds; returns how many it holds."""
        async with self.services.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.claimed_by == self.token, OutboxMessage.status == outbox.SENDING
                )
                .values(claimed_at=self.services.now())
                .execution_options(synchronize_session=False)
            )
        return result.rowcount

    async def _heartbeat(self) -> None:
        """While this worker lives: keep its claims fresh and take back those of dead ones.

        Several times a lease, so a claim waiting out a long retry-after or a slow send is
        never mistaken for a dead worker's, and every couple of seconds, so a worker that died
        while this one runs is noticed within seconds.
        """
        pause = min(self.lease.total_seconds() / 3, IDLE_WAIT)
        while True:
            await asyncio.sleep(pause)
            try:
                await self.liveness.keep()
                await self.keep_claims()
                await self.recover()
            except Exception:
                log.exception("outbox heartbeat failed; trying again")

    @contextlib.asynccontextmanager
    async def _beating(self) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(self._heartbeat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> int:
        """Deliver everything due now with up to `concurrency` independent workers; returns
        the count.

        Each worker claims a few rows at a time, so a row waiting out retries holds up only
        its own worker, never the rest of a broadcast. Workers are added only while claims
        come back full: a wake-up with one notification, or none, costs one claim rather
        than one per possible worker.
        """
        self._running += 1
        try:
            return await self._run_once()
        finally:
            self._running -= 1

    async def _run_once(self) -> int:
        if not self.senders:
            return 0
        handled = 0
        touched: set[int] = set()
        workers: list[asyncio.Task[None]] = []

        def add_worker() -> None:
            workers.append(asyncio.create_task(worker()))

        async def worker() -> None:
            nonlocal handled
            while not self._stopping and (jobs := await self._claim(PER_CLAIM)):
                if len(jobs) == PER_CLAIM and len(workers) < self.concurrency:
                    add_worker()
                for job in jobs:
                    await self._deliver(job)
                handled += len(jobs)
                touched.update(j.broadcast_id for j in jobs if j.broadcast_id)
                await self._broadcast_progress(touched, force=False)

        add_worker()
        try:
            # The list grows while the first workers run.
            waited = 0
            while waited < len(workers):
                await workers[waited]
                waited += 1
        finally:
            # On cancellation (stop), or when one worker fails, cancel the rest and wait for
            # every one to unwind its database session before the engine is disposed; the
            # loop above stops at the first and would leave the others running.
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        await self._broadcast_progress(touched, force=True)
        return handled

    @property
    def busy(self) -> bool:
        """Whether this worker is sending, or has been woken to send (`kick`) and has not
        looked for due rows yet."""
        started = self._task is not None and not self._task.done()
        return self._running > 0 or (started and self._wake.is_set())

    async def has_due(self) -> bool:
        """Whether a row this worker would send is due now and not taken yet (the same rows
        as `outbox.due`, read without locking them, so a claim under way never skips one).

        False while the worker is not running: nothing would send them."""
        if self._task is None or self._task.done() or not self.senders:
            return False
        one_chat = [
            or_(OutboxMessage.channel != channel, OutboxMessage.chat_id == chat_id)
            for channel, chat_id in self.only_chats.items()
        ]
        async with self.services.db.sessions() as session:
            found = await session.scalar(
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == outbox.PENDING,
                    OutboxMessage.next_attempt_at <= self.services.now(),
                    OutboxMessage.channel.in_(set(self.senders)),
                    *one_chat,
                )
                .limit(1)
            )
        return found is not None

    async def drain(self) -> None:
        """Deliver until nothing is left: rows claimed by a worker that died are taken back
        and delivered, those of a live one waited for (the CLI's `broadcast run`)."""
        async with self._beating():
            while True:
                await self.recover()
                if await self.run_once():
                    continue
                async with self.services.db.transaction() as session:
                    claimed = await session.scalar(
                        select(func.count()).where(OutboxMessage.status == outbox.SENDING)
                    )
                if not claimed:
                    return
                await asyncio.sleep(min(1.0, self.lease.total_seconds()))

    async def _run(self) -> None:
        try:
            # A restarted worker takes back at once what the process it replaces held.
            await self.recover()
        except Exception:
            log.exception("outbox recovery failed")
        async with self._beating():
            while not self._stopping:
                try:
                    while not self._stopping and await self.run_once():
                        pass
                except Exception:
                    log.exception("outbox delivery failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_WAIT)
                self._wake.clear()

    async def _claim(self, limit: int) -> list[_Job]:
        await self._alive()
        now = self.services.now()
        async with self.services.db.transaction() as session:
            rows = await outbox.due(session, set(self.senders), now, limit, self.only_chats)
            jobs = []
            for row in rows:
                # Compare-and-set, so two workers never claim the same row.
                claimed = await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id, OutboxMessage.status == outbox.PENDING)
                    .values(status=outbox.SENDING, claimed_at=now, claimed_by=self.token)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount == 1:
                    jobs.append(
                        _Job(
                            row.id,
                            row.channel,
                            row.chat_id,
                            row.kind,
                            row.payload,
                            row.target_message_id,
                            row.broadcast_id,
                            row.audience_id,
                            row.stage,
                            row.parts_sent,
                            list((row.message_ids or {}).get("ids", [])),
                        )
                    )
        return jobs

    async def _deliver(self, job: _Job) -> None:
        sender, limits = self.senders.get(job.channel), self.limits[job.channel]
        if sender is None:
            await self._release(job)
            return
        reply = payload_to_reply(job.payload, self.services.media_dir)
        error, retry_afters, attempts = "", 0, 0
        # The reply's API calls, and how far they got: a retry goes on from the first not made.
        parts: list[Part] | None = None
        ids: list[str] = list(job.sent_ids)
        total = 0
        # Numbered choices a chat without buttons answers by number (a direct reply's were
        # taken in hand when it was answered).
        numbered = None if job.stage == outbox.DIRECT_REPLY else _numbered(sender, reply)
        shown = False
        while attempts < MAX_ATTEMPTS:
            # Part of the reply is out: given back, it would start again from its first
            # message, so it is finished here while the channel is still there.
            part_sent = parts is not None and len(parts) < total
            stopping = self._stopping and (attempts or retry_afters) and not part_sent
            if stopping or job.channel not in self.senders:
                # Stopping in the middle of retries: give the row back for the next start.
                await self._release(job)
                return
            is_group, bulk = sender.is_group(job.chat_id), job.audience_id is not None
            try:
                if job.kind == "edit":
                    assert job.target_message_id is not None
                    async with limits.sending(job.chat_id, is_group, bulk=bulk):
                        await sender.edit(job.chat_id, job.target_message_id, reply)
                    answered = time.perf_counter()
                    ids = [job.target_message_id]
                else:
                    if parts is None:
                        # A worker that died made the first calls already.
                        parts = sender.parts(job.chat_id, reply)[job.parts_sent :]
                        total = len(parts)
                    answered = time.perf_counter()
                    if numbered and not shown:
                        # Recorded before the list can be seen, so that a number typed the
                        # moment it arrives already answers it.
                        await self._after_sent(job, [], numbered)
                        shown = True
                    while parts:
                        # Each call is one message on the platform: each takes a slot.
                        async with limits.sending(job.chat_id, is_group, bulk=bulk):
                            if bulk:
                                await self._shared_pace(job.channel, limits)
                            message_id = await parts[0]()
                        answered = time.perf_counter()
                        parts.pop(0)
                        if message_id is not None:
                            ids.append(message_id)
                        if parts:
                            await self._record_part(job, ids)
            except RetryLater as exc:
                limits.pause(exc.seconds)
                retry_afters += 1
                if retry_afters > MAX_RETRY_AFTERS:
                    error = f"retry-after {retry_afters} times"
                    break
                continue
            except Undeliverable as exc:
                await self._finish(
                    job, outbox.BLOCKED if exc.blocked else outbox.FAILED, error=str(exc)
                )
                return
            except Exception as exc:
                attempts += 1
                error = repr(exc)
                log.warning("outbox %s attempt %d failed: %r", job.id, attempts, exc)
                if attempts < MAX_ATTEMPTS:
                    await asyncio.sleep(min(30.0, self.backoff_base * 2**attempts))
                continue
            # Nothing between the platform's answer and this commit but the commit itself.
            await self._mark_sent(job, ids, answered)
            return
        await self._reschedule(job, error)

    async def _shared_pace(self, channel: str, limits: ChannelLimits) -> None:
        """Wait until a broadcast send keeps the channel's whole rate, counting what other
        processes sent (read from the outbox), and what one that died or was restarted
        sent just before: the pace survives a restart and is shared with a second process.
        Sends of another process are seen once recorded (a moment after their answer),
        and read again every tenth of the window."""
        limit, period = limits.shared
        while True:
            since = utcnow() - timedelta(seconds=period)
            others = [t for t in await self._sent_by_others(channel, period) if t >= since]
            # This send's own slot is counted among ours already.
            excess = len(others) + limits.overall.counted() - limit
            if excess <= 0:
                return
            # Until enough of the others' sends have left the window.
            leaves = others[min(excess, len(others)) - 1] + timedelta(seconds=period)
            await asyncio.sleep(max(0.005, (leaves - utcnow()).total_seconds()))

    async def _sent_by_others(self, channel: str, period: float) -> list[datetime]:
        """The others' recent sends on `channel`, read again at most ten times a window: a
        query per send would cost a broadcast a transaction per message."""
        async with self._others_lock:
            fetched, times = self._others.get(channel, (-period, []))
            if time.monotonic() - fetched >= period / 10:
                since = utcnow() - timedelta(seconds=period)
                async with self.services.db.transaction() as session:
                    times = await outbox.sent_by_others_since(session, channel, since, self.token)
                self._others[channel] = (time.monotonic(), times)
            return times

    def _held(self, job: _Job) -> Any:
        """The condition that this worker still holds the job's row."""
        return (
            (OutboxMessage.id == job.id)
            & (OutboxMessage.status == outbox.SENDING)
            & (OutboxMessage.claimed_by == self.token)
        )

    async def _release(self, job: _Job) -> None:
        async with self.services.db.transaction() as session:
            await session.execute(
                update(OutboxMessage)
                .where(self._held(job))
                .values(status=outbox.PENDING, claimed_at=None, claimed_by=None)
                .execution_options(synchronize_session=False)
            )

    async def _reschedule(self, job: _Job, error: str) -> None:
        """The platform kept failing (not refusing): try again later, with a growing delay,
        unless the row is already too old to be worth sending."""
        now = self.services.now()
        async with self.services.db.transaction() as session:
            row = await session.get(OutboxMessage, job.id)
            if row is None or row.status != outbox.SENDING or row.claimed_by != self.token:
                return
            row.claimed_at, row.claimed_by = None, None
            row.last_error = error[:500]
            horizon = GIVE_UP_BULK_AFTER if row.audience_id is not None else GIVE_UP_AFTER
            if row.created_at is not None and now - row.created_at >= horizon:
                row.status = outbox.FAILED
                log.warning(
                    "outbox %s to %s:%s given up: %s", job.id, job.channel, job.chat_id, error
                )
                return
            row.attempts = (row.attempts or 0) + 1
            delay = min(MAX_RESCHEDULE, timedelta(minutes=2 ** min(row.attempts - 1, 10)))
            row.status, row.next_attempt_at = outbox.PENDING, now + delay
            log.warning(
                "outbox %s to %s:%s failing (%s); again in %s",
                job.id,
                job.channel,
                job.chat_id,
                error,
                delay,
            )

    async def _record_part(self, job: _Job, ids: list[str]) -> None:
        """One call of a reply of several went out: remember it, should this worker die."""
        job.parts_sent += 1
        async with self.services.db.transaction(urgent=True) as session:
            await session.execute(
                update(OutboxMessage)
                .where(self._held(job))
                .values(
                    parts_sent=job.parts_sent,
                    message_ids={"ids": list(ids), "main": None},
                    claimed_at=self.services.now(),
                )
                .execution_options(synchronize_session=False)
            )

    async def _mark_sent(self, job: _Job, ids: list[str], answered: float) -> None:
        """Record that the platform took the message: one UPDATE, committed at once.

        The transaction goes ahead of any waiting for the database (`urgent`), and holds
        nothing but this row's mark, plus, in the rare case that the row's payload was
        replaced while it was being sent (its story was decided), the edit that puts the
        message sent right: that must not be lost to a crash either.
        """
        wall = utcnow()
        main = ids[-1] if ids else None
        async with self.services.db.transaction(urgent=True) as session:
            marked = (
                await session.execute(
                    update(OutboxMessage)
                    .where(self._held(job))
                    .values(
                        status=outbox.SENT,
                        claimed_at=None,
                        # The moment it went, on the wall clock every process shares, in the
                        # due-time column's index too: recent sends are read from there when
                        # pacing broadcasts (`sent_recently`). The claimer's token stays, so
                        # each process tells its own sends from the others'.
                        sent_at=wall,
                        next_attempt_at=wall,
                        message_ids={"ids": ids, "main": main},
                    )
                    .returning(OutboxMessage.payload, OutboxMessage.submission_id)
                    .execution_options(synchronize_session=False)
                )
            ).first()
            changed = marked is not None and marked.payload != job.payload
            if changed and main is not None:
                assert marked is not None
                await outbox.enqueue(
                    session,
                    job.channel,
                    job.chat_id,
                    marked.payload,
                    kind="edit",
                    target_message_id=main,
                    submission_id=marked.submission_id,
                    now=self.services.now(),
                )
        self.mark_gaps.append(time.perf_counter() - answered)
        if marked is None:
            # Taken back while this worker was stalled (the loop blocked past the lease):
            # whoever holds it now records its outcome.
            log.warning("outbox %s: claim lost before its outcome (sent)", job.id)
            return
        if changed:
            self.kick()
        elif job.stage == "progress" and job.broadcast_id and ids:
            await self._after_sent(job, ids, None)

    async def _after_sent(self, job: _Job, ids: list[str], numbered: list[Choice] | None) -> None:
        """What a message leads to: the numbered list it shows (recorded just before it is
        sent), or a broadcast's progress message (recorded once its mark is committed)."""
        async with self.services.db.transaction() as session:
            if numbered:
                await numbering.shown_by_outbox(session, job.channel, job.chat_id, numbered)
            if job.stage == "progress" and job.broadcast_id and ids:
                broadcast = await session.get(Broadcast, job.broadcast_id)
                if broadcast is not None:
                    broadcast.progress_message_id = ids[-1]

    async def _finish(self, job: _Job, status: str, error: str = "") -> None:
        """Record that the platform refused the row for good."""
        async with self.services.db.transaction() as session:
            row = await session.get(OutboxMessage, job.id)
            if row is None:
                return
            if row.status != outbox.SENDING or row.claimed_by != self.token:
                log.warning("outbox %s: claim lost before its outcome (%s)", job.id, status)
                return
            row.status = status
            row.claimed_at = None
            row.claimed_by = None
            row.last_error = error[:500]
            log.warning(
                "outbox %s to %s:%s %s: %s", job.id, job.channel, job.chat_id, status, error
            )
            if status == outbox.BLOCKED and job.audience_id:
                member = await session.get(AudienceMember, job.audience_id)
                if member is not None:
                    member.active, member.inactive_reason = False, "blocked"

    async def _broadcast_progress(self, broadcast_ids: set[int], force: bool) -> None:
        """Edit each running broadcast's progress message; report once it is finished.

        The report is queued in the outbox by whichever worker marks the broadcast finished
        first (compare-and-set), so with several workers it is sent once, and retried like
        any message. Progress edits are best effort: one that lost a race with the report is
        put right by editing the report in again.
        """
        for broadcast_id in list(broadcast_ids):
            state = self._progress.setdefault(broadcast_id, _Progress())
            if not force and time.monotonic() - state.last_check < PROGRESS_EVERY:
                continue
            state.last_check = time.monotonic()
            async with self.services.db.transaction() as session:
                row = await session.get(Broadcast, broadcast_id)
                if row is None or row.finished_at is not None:
                    self._progress.pop(broadcast_id, None)
                    continue
                counts = await status_counts(session, broadcast_id)
                if not counts.get(outbox.PENDING) and not counts.get(outbox.SENDING):
                    await self._queue_report(session, row, counts)
                    self._progress.pop(broadcast_id, None)
                    continue
                target = (row.progress_channel, row.progress_chat_id, row.progress_message_id)
            if time.monotonic() - state.last_edit < PROGRESS_EVERY or not all(target):
                continue
            sender = self.senders.get(str(target[0]))
            if sender is None or not sender.can_edit:
                continue
            state.last_edit = time.monotonic()
            text = self._progress_text(row, counts, done=False)
            with contextlib.suppress(Exception):
                await sender.edit(str(target[1]), str(target[2]), Reply(text))
            async with self.services.db.transaction() as session:
                row = await session.get(Broadcast, broadcast_id)
                finished = row is not None and row.finished_at is not None
                counts = await status_counts(session, broadcast_id) if finished else counts
            if finished and row is not None:
                # Another worker reported while this edit was on its way: put the report back.
                with contextlib.suppress(Exception):
                    text = self._progress_text(row, counts, done=True)
                    await sender.edit(str(target[1]), str(target[2]), Reply(text))

    async def _queue_report(self, session: Any, row: Broadcast, counts: dict[str, int]) -> None:
        now = self.services.now()
        marked = await session.execute(
            update(Broadcast)
            .where(Broadcast.id == row.id, Broadcast.finished_at.is_(None))
            .values(finished_at=now)
            .execution_options(synchronize_session=False)
        )
        if marked.rowcount != 1 or not (row.progress_channel and row.progress_chat_id):
            return  # another worker finished it first, or nobody follows its progress
        set_committed_value(row, "finished_at", now)
        text = self._progress_text(row, counts, done=True)
        await outbox.enqueue(
            session,
            row.progress_channel,
            row.progress_chat_id,
            reply_to_payload(Reply(text), self.services.media_dir),
            # Telegram shows the report in place of the progress; without edits (Zalo), or
            # before the progress message is known, it comes as a message of its own.
            kind="edit" if row.progress_message_id else "send",
            target_message_id=row.progress_message_id,
            stage="report",
            broadcast_id=row.id,
            now=now,
        )
        self.kick()

    def _progress_text(self, row: Broadcast, counts: dict[str, int], done: bool) -> str:
        from handlers import broadcast as broadcasting  # late: handlers import this module's types

        return broadcasting.progress_text(self.services, row, counts, done)


def _numbered(sender: Sender, reply: Reply) -> list[Choice] | None:
    """The choices a chat without buttons now answers by number, if this reply showed any."""
    if reply.choices and not sender.has_buttons:
        return reply.choices
    return None


async def status_counts(session: Any, broadcast_id: int) -> dict[str, int]:
    """How many of a broadcast's deliveries are in each status (progress messages excluded)."""
    rows = await session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.audience_id.is_not(None))
        .group_by(OutboxMessage.status)
    )
    return {status: count for status, count in rows}
