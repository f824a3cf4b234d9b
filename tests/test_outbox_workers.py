"""Several processes delivering one outbox (`serve --workers N`, or a CLI `broadcast run` beside
the bot): a claim held by a live worker is never taken, one held by a dead worker is taken back
while the others run, a broadcast is reported once, and a reply part-sent by a worker that died
goes on from where it stopped.

Each worker here is a whole application on the same database, as each process would be.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import select, update

from bot.app import GuongSang
from bot.channels.telegram.channel import standalone_sender
from bot.settings import Settings
from handlers.notify import Notifier
from handlers.types import Reply
from storage import outbox
from storage.models import OutboxMessage
from tests.apps import Clock, start_app
from tests.factories import add_audience, honour_and_send, story
from tests.fakes.telegram_server import FakeTelegram

LEASE = 1.0
LONG = "\n".join(f"Dòng thứ {n} của một tấm thiệp rất dài." for n in range(150))  # two pieces


@asynccontextmanager
async def worker(
    settings: Settings, clock: Clock, telegram: FakeTelegram, units: bool = False
) -> AsyncIterator[GuongSang]:
    """One more process: the application with its outbox worker delivering to Telegram."""
    app = await start_app(
        settings.model_copy(update={"delivery_lease_seconds": LEASE}), clock, with_units=units
    )
    bot, sender = await standalone_sender(telegram.token, telegram.api_root)
    app.delivery.register("telegram", sender)
    app.delivery.start()
    try:
        yield app
    finally:
        await app.delivery.stop()
        await bot.shutdown()
        await app.close()


async def queue(app: GuongSang, chat_ids: list[str], reply: Reply) -> None:
    async with app.db.transaction() as session:
        notifier = Notifier(session, app.services)
        for chat_id in chat_ids:
            await notifier.to_chat("telegram", chat_id, reply)
    app.delivery.kick()


async def rows(app: GuongSang) -> list[OutboxMessage]:
    async with app.db.transaction() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def until(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    for _ in range(int(within / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


def texts_to(telegram: FakeTelegram, chat_ids: list[str]) -> Counter[str]:
    return Counter(
        str(c.params["chat_id"])
        for c in telegram.calls_to("sendMessage")
        if c.status == 200 and str(c.params["chat_id"]) in chat_ids
    )


async def test_a_claim_waiting_out_a_long_retry_after_is_not_taken_by_another_worker(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    chats = ["8101", "8102", "8103", "8104"]
    # Telegram asks the first worker to wait three leases before it may send again.
    telegram.fail_next("sendMessage", 429, retry_after=3)
    async with worker(settings, clock, telegram, units=True) as first:
        await queue(first, chats, Reply("Bài chờ bạn xác nhận."))
        await telegram.wait_for(lambda calls: any(c.status == 429 for c in calls))
        # Time passes beyond the lease while the first worker waits, still alive.
        clock.moment += timedelta(seconds=2 * LEASE)
        await asyncio.sleep(LEASE / 2)
        # A second process starts now (a respawn, a deploy) and looks for dead claims.
        async with worker(settings, clock, telegram):

            async def all_sent() -> bool:
                return [r.status for r in await rows(first)] == [outbox.SENT] * 4

            await until(all_sent)
    assert texts_to(telegram, chats) == Counter(dict.fromkeys(chats, 1)), "each message once"


async def test_claims_of_a_worker_that_died_are_taken_back_while_the_others_run(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    chats = ["8201", "8202"]
    async with worker(settings, clock, telegram, units=True) as survivor:
        await asyncio.sleep(0.2)  # its start-up recovery is behind it
        # Another process claimed these and was killed before sending: queued and claimed in
        # one transaction, so the survivor never sees them unclaimed.
        async with survivor.db.transaction() as session:
            notifier = Notifier(session, survivor.services)
            for chat_id in chats:
                await notifier.to_chat("telegram", chat_id, Reply("Bài chờ bạn xác nhận."))
            await session.flush()
            await session.execute(
                update(OutboxMessage).values(
                    status=outbox.SENDING, claimed_by="dead", claimed_at=clock.moment
                )
            )
        clock.moment += timedelta(seconds=2 * LEASE)

        async def all_sent() -> bool:
            return [r.status for r in await rows(survivor)] == [outbox.SENT] * 2

        await until(all_sent)
    assert texts_to(telegram, chats) == Counter(dict.fromkeys(chats, 1))


async def test_a_broadcast_delivered_by_two_workers_is_reported_once(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    audience = [str(8300 + n) for n in range(30)]
    async with worker(settings, clock, telegram, units=True) as first:
        sub = await story(first, code="GS-2024-0031", photos=0)
        await add_audience(first, [int(chat_id) for chat_id in audience])
        async with worker(settings, clock, telegram) as second:
            await honour_and_send(second, sub.code or "", progress_chat=("telegram", "999"))
            first.delivery.kick()

            async def reported() -> bool:
                return any(
                    r.stage == "report" and r.status == outbox.SENT for r in await rows(first)
                )

            await until(reported, within=30)
            await asyncio.sleep(1.0)  # a second report would be on its way by now
    reports = [r for r in await rows(first) if r.stage == "report"]
    assert len(reports) == 1
    edits = [
        c
        for c in telegram.calls_to("editMessageText")
        # A progress edit racing the report puts the report back: Telegram refuses that
        # edit (400, not modified) when the report was there already, changing nothing.
        if "Đã gửi xong" in str(c.params.get("text", "")) and c.status == 200
    ]
    assert len(edits) == 1, "the progress message turned into the report once"
    assert "Gửi thành công: 30 / 30" in str(edits[0].params["text"])
    deliveries = texts_to(telegram, audience) + Counter(
        str(c.params["chat_id"]) for c in telegram.calls_to("sendPhoto") if c.status == 200
    )
    assert all(deliveries[chat_id] == 1 for chat_id in audience), deliveries


async def test_a_reply_part_sent_by_a_worker_that_died_goes_on_from_where_it_stopped(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    # The second piece of a long text is slow to go: meanwhile the row records the first.
    telegram.delay_next("sendMessage", 2.0, count=2)
    async with worker(settings, clock, telegram, units=True) as app:
        await queue(app, ["8401"], Reply(LONG))

        async def first_recorded() -> bool:
            return (await rows(app))[0].parts_sent == 1

        await until(first_recorded)
        row = (await rows(app))[0]
        assert row.status == outbox.SENDING and len(row.message_ids["ids"]) == 1
        first_id = row.message_ids["ids"][0]
    # As if that worker had died there: another takes the row back and sends only the rest.
    async with worker(settings, clock, telegram) as other:
        async with other.db.transaction() as session:
            await session.execute(
                update(OutboxMessage).values(
                    status=outbox.PENDING,
                    claimed_by=None,
                    claimed_at=None,
                    next_attempt_at=clock.moment,
                    parts_sent=1,
                    message_ids={"ids": [first_id], "main": None},
                )
            )
        other.delivery.kick()

        async def sent() -> bool:
            return (await rows(other))[0].status == outbox.SENT

        await until(sent)
        row = (await rows(other))[0]
    pieces = [c.params["text"] for c in telegram.calls_to("sendMessage") if c.status == 200]
    assert sum("Dòng thứ 149 " in str(p) for p in pieces) == 2, "only the second piece again"
    assert sum("Dòng thứ 0 " in str(p) for p in pieces) == 1, "the first piece not again"
    assert row.message_ids["ids"][0] == first_id and len(row.message_ids["ids"]) == 2
