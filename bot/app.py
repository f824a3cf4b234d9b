"""The application object: settings, database, campaigns and the core, wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import blocks_file
from bot.campaign_file import check_ladders, load_campaigns, load_organisations
from bot.channels.zalo import convert as zalo_convert
from bot.delivery import Delivery
from bot.ratelimit import ChannelLimits
from bot.settings import Settings
from bot.settled import InFlight
from handlers import month, outgoing, queues, reminders, router, web_people
from handlers.emulation import nudges as emulation_nudges
from handlers.flood import FloodGuard
from handlers.services import Services, system_clock
from handlers.types import Event, Response
from storage import nominations, organisations, submissions, updates
from storage.db import Database
from storage.models import utcnow
from templates import chat_texts

log = logging.getLogger(__name__)
# Reminders need day precision; checking every ten minutes is plenty.
REMINDER_INTERVAL = 600
# Platforms redeliver an update within hours (Telegram keeps one a day at most); the record
# that it was handled is kept a while longer, then dropped.
UPDATES_KEPT = timedelta(days=3)


class GuongSang:
    """One bot: channels hand it events and render the responses it returns."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = system_clock) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url)
        tz = ZoneInfo(settings.timezone)
        today = clock().astimezone(tz).date()
        # Load before touching the database, so a wrong campaigns file fails at once.
        campaigns = load_campaigns(settings.config, today)
        self.blocks = blocks_file.load_blocks(settings.config)
        self.organisations = load_organisations(settings.config)
        self.services = Services(
            db=self.db,
            texts=chat_texts(),
            campaigns=campaigns,
            media_dir=settings.media_dir,
            max_upload_bytes=settings.max_upload_bytes,
            admins=settings.admin_identities,
            clock=clock,
            tz=tz,
            public_url=settings.public_url,
            flood=FloodGuard(
                settings.user_message_rate,
                settings.user_message_burst,
                # Worker processes share one budget per person, on the clock they share.
                clock=time.time if settings.workers > 1 else time.monotonic,
                shared=settings.workers > 1,
            ),
        )
        self.delivery = Delivery(
            self.services,
            limits=lambda channel: ChannelLimits(
                _rate(settings, channel) / settings.workers,
                # One a second per chat cannot be split between workers, so each keeps it. Only
                # broadcasts keep it, one message per honour to a chat: two workers rarely reach
                # one chat within a second, and then the platform's retry-after, which the
                # outbox obeys, spaces them.
                settings.broadcast_chat_rate,
                max(1, settings.broadcast_group_per_minute // settings.workers),
                shared_per_second=_rate(settings, channel),
            ),
            lease=settings.delivery_lease_seconds,
        )
        self.services.editor_link = self.editor_link
        self.services.note_link = self.note_link
        self.services.download_link = self.download_link
        self.services.chat_capabilities = {
            zalo_convert.CHANNEL: zalo_convert.CAPABILITIES,
            "console": {"has_buttons": False, "sends_files": False},
            web_people.CHANNEL: web_people.CAPABILITIES,
        }
        # Updates the channels have taken in and not finished handling (`settled`).
        self.in_flight = InFlight()
        self._ticker: asyncio.Task[None] | None = None
        self.block_problems: list[str] = []
        self._stop_ticking = asyncio.Event()

    def editor_link(self, person_id: int, draft_id: int) -> str:
        """A fresh signed link to the web editor for this person's draft."""
        # Imported here: bot.web imports this module for the application type.
        from bot.web.links import editor_path

        path = editor_path(person_id, draft_id, self.services.now(), self.settings.secret_key)
        return self.settings.public_url + path

    def note_link(self, person_id: int, card_id: int, sheet_id: int, criterion: int) -> str:
        """A fresh signed link to the web page for one criterion's note on a unit's card."""
        from bot.web.links import note_path  # see editor_link

        path = note_path(
            person_id, card_id, sheet_id, criterion, self.services.now(), self.settings.secret_key
        )
        return self.settings.public_url + path

    def download_link(self, path: Path, name: str) -> str:
        """A signed link, good for a day, to download a file under the data folder (for
        channels that cannot send files)."""
        from bot.web.downloads import download_url

        relative = path.resolve().relative_to(self.settings.data_dir.resolve()).as_posix()
        return download_url(
            self.settings.public_url, relative, name, self.services.now(), self.settings.secret_key
        )

    async def start(self, check_ladders: bool = True) -> None:
        """Migrate the database and record the campaigns; call once before handling events.

        `check_ladders` False only for `guongsang organisations`: importing the organisations
        a ladder names must work while they are still missing.
        """
        self.settings.media_dir.mkdir(parents=True, exist_ok=True)
        await self.db.upgrade()
        async with self.db.transaction() as session:
            await self.db.setup_lock(session)
            self.services.campaign_ids = await submissions.sync_campaigns(
                session, self.services.campaigns
            )
            # The nomination ladder's organisations, with the level above each.
            await nominations.sync_organisations(
                session, self.organisations, reparent=self.settings.config is not None
            )
            # Ladder names the file does not declare must have been imported; raising here
            # rolls the whole start back, so nothing half-synced stays behind.
            if check_ladders:
                self.check_ladders(set(await organisations.parents(session)))
            # Letter 004's blocks; a unit not imported yet is reported, not fatal.
            self.block_problems = await blocks_file.sync(session, self.blocks, self.services.now())
        for problem in self.block_problems:
            log.warning("emulation block: %s", problem)
        log.info(
            "ready: %s, %d campaign(s)",
            self.db.engine.url.render_as_string(hide_password=True),
            len(self.services.campaigns),
        )

    def check_ladders(self, known: set[str]) -> None:
        """Raise CampaignFileError when a campaign's ladder names an organisation not among
        `known` (every name in the database)."""
        check_ladders(self.settings.config, self.services.campaigns, known)

    async def handle(self, event: Event) -> Response:
        """Handle one event from any channel."""
        response = await router.handle(self.services, event)
        if response.queued:
            self.delivery.kick()
        return response

    async def settled(self) -> bool:
        """Whether the bot has settled: every update the channels took in is handled (its
        transaction committed, its replies sent), and the outbox has nothing due now and
        nothing being sent. What is due later (a retry's backoff, a reminder) does not count.

        Tests wait for this instead of a quiet spell; updates the platform has not handed
        over yet are for the caller to know (see `bot.settled`).
        """
        if self.in_flight.busy or self.delivery.busy:
            return False
        if await self.delivery.has_due():
            return False
        # Looked at again: something may have started while the outbox was read.
        return not (self.in_flight.busy or self.delivery.busy)

    def start_workers(self) -> None:
        """Start delivering the outbox and the periodic reminders (idempotent)."""
        self.delivery.start()
        if self._ticker is None or self._ticker.done():
            self._stop_ticking = asyncio.Event()
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def run_reminders(self) -> int:
        """Remind whoever a story has waited for too long (at most once a day per story)."""
        async with self.db.transaction() as session:
            count = await queues.remind_waiting(session, self.services)
        self.delivery.kick()
        return count

    async def run_daily_nudges(self) -> tuple[int, int]:
        """Quota reminders and reviewers' digests, each at most once a day; returns the counts."""
        async with self.db.transaction() as session:
            quota = await reminders.remind_quota(session, self.services)
            digest = await reminders.digests(session, self.services)
        self.delivery.kick()
        return quota, digest

    async def run_emulation_nudges(self) -> int:
        """Remind member units that have not sent their self-scoring sheet (once a day)."""
        async with self.db.transaction() as session:
            count = await emulation_nudges.remind_scoring(session, self.services)
        self.delivery.kick()
        return count

    async def run_exemplar_nudges(self) -> int:
        """Remind unit heads who have not chosen the month's exemplar (once a day per unit)."""
        async with self.db.transaction() as session:
            count = await month.remind(session, self.services)
        self.delivery.kick()
        return count

    async def forget_old_updates(self) -> int:
        """Drop the records of updates no platform will deliver again; returns how many."""
        async with self.db.transaction() as session:
            return await updates.forget_before(session, utcnow() - UPDATES_KEPT)

    async def forget_idle_budgets(self) -> int:
        """Drop shared message budgets idle long enough to be full again; returns how many."""
        async with self.db.transaction() as session:
            return await self.services.flood.forget_idle(session)

    async def forget_old_exports(self) -> int:
        """Delete exports made for chats more than two days ago; returns how many."""
        # Off the event loop: a folder of many files is many system calls.
        return await asyncio.to_thread(outgoing.forget_old_exports, self.settings.data_dir)

    async def _tick_forever(self) -> None:
        # Wait first: a restart need not nudge anyone at once, and the day's marks make a
        # missed tick harmless.
        while not self._stop_ticking.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_ticking.wait(), REMINDER_INTERVAL)
            if self._stop_ticking.is_set():
                return
            try:
                await self.run_reminders()
                await self.run_daily_nudges()
                await self.run_emulation_nudges()
                await self.run_exemplar_nudges()
                await self.forget_old_updates()
                await self.forget_idle_budgets()
                await self.forget_old_exports()
            except Exception:
                log.exception("periodic work failed")

    async def close(self) -> None:
        """Stop the workers and release the database (the outbox keeps what is unsent)."""
        if self._ticker is not None:
            # Asked, not cancelled: a reminder run is a database transaction.
            self._stop_ticking.set()
            await self._ticker
            self._ticker = None
        await self.delivery.stop()
        await self.db.close()


def _rate(settings: Settings, channel: str) -> float:
    """The channel's overall send rate, for the whole bot."""
    return settings.zalo_broadcast_rate if channel == "zalo" else settings.broadcast_rate


@asynccontextmanager
async def running(settings: Settings, check_ladders: bool = True) -> AsyncIterator[GuongSang]:
    """A started application, closed on the way out (the CLI commands' frame)."""
    app = GuongSang(settings)
    try:
        # Inside: a start refused (an unknown ladder organisation) still releases the database.
        await app.start(check_ladders=check_ladders)
        yield app
    finally:
        await app.close()
