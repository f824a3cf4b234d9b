"""Several worker processes on one PostgreSQL database: each is a whole application (its own
engine and outbox worker), as `serve --workers N` runs them. A chat's updates are handled one
at a time, an update once, and the outbox is shared without sending anything twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

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


@postgresql_only()
async def test_two_workers_take_one_chat_in_turn_and_each_update_once(
    settings: Settings, clock: Clock
) -> None:
    first = await start_app(settings, clock)
    second = await start_app(settings, clock, with_units=False)
    try:
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
    finally:
        await first.close()
        await second.close()


@postgresql_only()
async def test_two_outbox_workers_share_deliveries_without_doubles(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    first = await start_app(settings, clock)
    second = await start_app(settings, clock, with_units=False)
    chats = [str(5000 + n) for n in range(120)]
    try:
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
    finally:
        await first.close()
        await second.close()
