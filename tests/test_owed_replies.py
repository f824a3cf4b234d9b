"""An answer the platform or the network fails to take at once is owed, not dropped: the
outbox delivers it, with the retries notifications get, on Zalo and on Telegram."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel, standalone_sender
from bot.channels.zalo.channel import ZaloChannel
from bot.delivery import MAX_ATTEMPTS
from handlers.types import Reply
from storage import outbox
from storage.models import OutboxMessage
from tests.apps import Clock
from tests.drivers import Chat
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo
from tests.zalo_drivers import ZaloChat


async def owed(app: GuongSang) -> list[OutboxMessage]:
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.stage == outbox.DIRECT_REPLY)
        )
        return list(rows)


async def test_a_zalo_answer_failing_more_than_three_times_still_arrives(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_channel: ZaloChannel
) -> None:
    zalo_app.delivery.backoff_base = 0.01
    person = ZaloChat(zalo.user("f00dbeef01", "Hoa"))
    # Three failures use up the answer's own tries; two more fall to the outbox.
    zalo.fail_next("sendMessage", error_code=500, count=5)
    text = await person.send("/help")
    assert "/new" in text or "Gương Sáng" in text, text
    [row] = await owed(zalo_app)
    assert row.status == outbox.SENT and row.chat_id == "f00dbeef01"


async def test_a_zalo_answer_refused_for_good_is_not_retried(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_channel: ZaloChannel
) -> None:
    person = ZaloChat(zalo.user("f00dbeef02", "Hoa"))
    zalo.fail_next("sendMessage", error_code=403, count=1)
    await person.user.send_text("/help")
    # The chat's next message is handled after the first one's answer was dealt with.
    assert "/new" in await person.send("/help")
    assert await owed(zalo_app) == []
    assert len(person.user.messages()) == len(person.last), "the refused answer not again"


async def test_a_telegram_answer_failing_for_a_while_still_arrives(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    app.delivery.backoff_base = 0.01
    person = Chat(telegram.user(4401, "Hoa"))
    # Telegram in trouble: the answer's own four tries fail, then one of the outbox's.
    telegram.fail_next("sendMessage", 500, count=5)
    await person.user.send_command("/help")
    await person.replies()
    assert "/new" in (person.last[-1].plain_text or ""), [m.plain_text for m in person.last]
    [row] = await owed(app)
    assert row.status == outbox.SENT and row.chat_id == "4401"


async def test_a_message_failing_on_every_try_is_put_back_for_later_not_dropped(
    app: GuongSang, telegram: FakeTelegram, clock: Clock
) -> None:
    app.delivery.backoff_base = 0.001
    bot, sender = await standalone_sender(telegram.token, telegram.api_root)
    app.delivery.register("telegram", sender)
    try:
        await app.delivery.queue_replies("telegram", "4402", [Reply("Bài của bạn đã được nhận.")])
        telegram.fail_next("sendMessage", 500, count=MAX_ATTEMPTS)
        await app.delivery.run_once()
        [row] = await owed(app)
        assert row.status == outbox.PENDING and row.attempts == 1, row.status
        assert row.next_attempt_at > clock.moment, "after a pause"
        assert await app.delivery.run_once() == 0, "not before its time"
        clock.moment += timedelta(minutes=2)
        await app.delivery.run_once()
        [row] = await owed(app)
        assert row.status == outbox.SENT
        # A day on, a message still failing is given up, and says why.
        await app.delivery.queue_replies("telegram", "4403", [Reply("Tin cũ.")])
        clock.moment += timedelta(days=1)
        telegram.fail_next("sendMessage", 500, count=MAX_ATTEMPTS)
        await app.delivery.run_once()
        old = (await owed(app))[-1]
        assert old.status == outbox.FAILED and old.last_error, (old.status, old.last_error)
    finally:
        await bot.shutdown()
    assert [m.plain_text for m in telegram.sent(4402)] == ["Bài của bạn đã được nhận."]
