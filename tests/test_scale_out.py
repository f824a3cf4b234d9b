"""Several worker processes on one PostgreSQL database: each is a whole application (its own
engine and outbox worker), as `serve --workers N` runs them. A chat's updates are handled one
at a time, an update once, and the outbox is shared without sending anything twice."""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import standalone_sender
from bot.settings import Settings
from handlers.notify import Notifier
from handlers.text_rules import count_words
from handlers.types import Event, Reply
from storage.models import Submission
from tests.apps import Clock, start_app
from tests.backends import postgresql_only
from tests.fakes.telegram_server import FakeTelegram

_keys = itertools.count(1)


def said(chat: str, text: str) -> Event:
    """A text typed in the console channel, with a fresh update key."""
    command, _, args = text[1:].partition(" ") if text.startswith("/") else ("", "", "")
    return Event(
        channel="console",
        chat_id=chat,
        user_id=chat,
        user_name=chat,
        kind="command" if command else "text",
        command=command,
        args=args,
        text=text,
        update_key=f"k{next(_keys)}",
        has_buttons=False,
    )


async def to_story_step(app: GuongSang, chat: str) -> None:
    for text in (
        "/start", "Nguyễn Thị Hoa", "thcs le quy don", "1", "0912345678", "/new",
        "Nguyễn Thị Lan", "Trường Tiểu học Kim Giang", "An toàn trường học", "Cô giáo Lan",
    ):  # fmt: skip
        await app.handle(said(chat, text))


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
                (first if n % 2 else second).handle(said("lan", part))
                for n, part in enumerate(parts)
            )
        )
        repeated = said("lan", "Một tin đến hai lần.")
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
