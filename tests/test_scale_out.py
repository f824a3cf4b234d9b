"""Several worker processes on one PostgreSQL database: each is a whole application (its own
engine and outbox worker), as `serve --workers N` runs them. A chat's updates are handled one
at a time, an update once, and the outbox is shared without sending anything twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import standalone_sender
from bot.settings import Settings
from handlers.notify import Notifier
from handlers.text_rules import count_words
from handlers.types import Reply
from storage.models import Submission
from tests.apps import Clock, start_app
from tests.backends import postgresql_only
from tests.drivers import to_story_step, typed
from tests.fakes.telegram_server import FakeTelegram


@asynccontextmanager
async def two_workers(
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[GuongSang, GuongSang]]:
    """Two whole applications on one database, as two worker processes would be; the first
    imports the units."""
    first = await start_app(settings, clock)
    second = await start_app(settings, clock, with_units=False)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


@postgresql_only()
async def test_two_workers_take_one_chat_in_turn_and_each_update_once(
    settings: Settings, clock: Clock
) -> None:
    async with two_workers(settings, clock) as (first, second):
        await to_story_step(first, "lan")
        parts = [f"Phần {n}: cô Lan dạy các em học sinh nghèo." for n in range(1, 21)]
        # Half the messages reach one worker and half the other, all at once. Without a lock
        # on the chat both would read the same draft and one append would be lost.
        await asyncio.gather(
            *(
                (first if n % 2 else second).handle(typed("lan", part))
                for n, part in enumerate(parts)
            )
        )
        repeated = typed("lan", "Một tin đến hai lần.")
        answers = await asyncio.gather(first.handle(repeated), second.handle(repeated))
        assert sorted(bool(a.replies) for a in answers) == [False, True], "handled once"

        async with first.db.transaction() as session:
            draft = await session.scalar(select(Submission).where(Submission.chat_id == "lan"))
            assert draft is not None
            story = draft.values["story"]
        expected = sum(count_words(p) for p in parts) + count_words("Một tin đến hai lần.")
        assert count_words(story) == expected
        assert all(part in story for part in parts)


@postgresql_only()
async def test_two_outbox_workers_share_deliveries_without_doubles(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    chats = [str(5000 + n) for n in range(120)]
    async with two_workers(settings, clock) as (first, second):
        async with first.db.transaction() as session:
            notifier = Notifier(session, first.services)
            for chat in chats:
                await notifier.to_chat("telegram", chat, Reply(f"Tin cho {chat}"))
        bots = []
        for app in (first, second):
            bot, sender = await standalone_sender(telegram.token, telegram.api_root)
            bots.append(bot)
            app.delivery.register("telegram", sender)
        await asyncio.gather(first.delivery.drain(), second.delivery.drain())
        for bot in bots:
            await bot.shutdown()
        assert [len(telegram.sent(int(chat))) for chat in chats] == [1] * len(chats)


@postgresql_only()
@pytest.mark.parametrize("spread", [True, False], ids=["spread", "one-worker"])
async def test_two_workers_share_one_persons_message_budget(
    settings: Settings, clock: Clock, spread: bool
) -> None:
    # The default budget (the test settings lift its burst for tests that are not about it).
    shared = settings.model_copy(update={"workers": 2, "user_message_burst": 30})
    now = [1_000.0]
    async with two_workers(shared, clock) as (first, second):
        for app in (first, second):
            app.services.flood.clock = lambda: now[0]
        await to_story_step(first, "flood")
        await to_story_step(first, "calm")
        taken: list[str] = []
        refusals = 0
        # 100 messages in two seconds, 50 a second, once the budget spent on the way to the
        # story is back: half reaching each worker (with a budget per worker the person would
        # get 30 at once from each), or all reaching one (whose own check must not refuse
        # first, without a word).
        for n in range(100):
            now[0] = 1_010.0 + n / 50
            worker = first if n % 2 or not spread else second
            response = await worker.handle(typed("flood", f"Tin số {n}."))
            said_back = " ".join(r.text for r in response.replies)
            if "nhanh quá" in said_back:
                refusals += 1
            elif response.replies:
                taken.append(f"Tin số {n}.")
            if n == 50:
                other = await second.handle(typed("calm", "Cô Lan dạy học."))
                assert "nhanh quá" not in other.replies[0].text
        assert refusals == 1, "one polite answer for the flood, from whichever worker"
        assert 30 <= len(taken) <= 45, len(taken)
        async with first.db.transaction() as session:
            draft = await session.scalar(select(Submission).where(Submission.chat_id == "flood"))
            assert draft is not None
            assert all(t in draft.values["story"] for t in taken)
        now[0] = 1_020.0
        assert "nhanh quá" not in (await first.handle(typed("flood", "Tin sau."))).replies[0].text
        # Idle ten minutes, a bucket is full again: the periodic work drops it.
        now[0] = 1_020.0 + 601
        assert await second.forget_idle_budgets() == 2
