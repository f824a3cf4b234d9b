"""Tests read the bot's answer until the app has settled (`GuongSang.settled`), not until a
quiet spell: a slow message inside an answer, an update the bot has not fetched yet and a
due outbox row all keep it unsettled; a row due later does not."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.zalo.channel import ZaloChannel
from handlers.notify import Notifier
from handlers.types import Reply
from storage.models import OutboxMessage
from tests.apps import Clock
from tests.drivers import Chat, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo
from tests.zalo_drivers import ZaloChat
from tests.zalo_drivers import text_of as zalo_text_of

# Longer than the quiet spell (0.25 s) that used to end an answer.
SLOW = 1.0


async def test_an_answer_is_read_to_its_slow_last_message(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(1001))
    await chat.send("/start")
    await chat.send("Nguyễn Thị Hoa")
    await chat.send("thcs le quy don")
    # The saved profile goes at once; the offer of news after it is answered slowly.
    telegram.delay_next("sendMessage", 0)
    telegram.delay_next("sendMessage", SLOW)
    await chat.user.send_contact("+84 912 345 678")
    answer = await chat.replies(min_count=1)
    assert len(answer) == 2, text_of(answer)
    assert "Đã lưu thông tin" in text_of(answer)


async def test_an_update_not_fetched_yet_is_waited_for(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    user = telegram.user(1002)
    telegram.delay_next("sendMessage", SLOW)
    await user.send_command("/start")
    # Not even one message is asked for: only settling ends the wait, and the update still
    # queued in the fake, then being handled, keeps the bot unsettled.
    answer = await user.messages_until_idle(min_count=0, timeout=15)
    assert "Gương Sáng" in text_of(answer)


async def test_a_due_row_nobody_woke_the_outbox_for_is_waited_for(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    await telegram.until_settled()
    telegram.delay_next("sendMessage", SLOW)
    async with app.db.transaction() as session:
        await Notifier(session, app.services).to_chat("telegram", "7001", Reply("Tin mới"))
    # No kick: the worker finds the row only at its next tick, and until it has sent it the
    # row is due and the bot unsettled.
    await telegram.until_settled()
    assert [m.plain_text for m in telegram.sent(7001)] == ["Tin mới"]


async def test_a_row_due_later_is_not_waited_for(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel, clock: Clock
) -> None:
    async with app.db.transaction() as session:
        await Notifier(session, app.services).to_chat("telegram", "7002", Reply("Nhắc sau"))
        await session.execute(
            update(OutboxMessage).values(next_attempt_at=clock.moment + timedelta(hours=1))
        )
    app.delivery.kick()
    # Settles (rather than timing out) with the reminder still waiting for its hour.
    await telegram.until_settled(timeout=15)
    assert telegram.sent(7002) == []

    clock.moment += timedelta(hours=2)
    # Due now: the bot is unsettled until it has gone, even before anything wakes the worker.
    await telegram.until_settled(timeout=15)
    assert [m.plain_text for m in telegram.sent(7002)] == ["Nhắc sau"]


async def test_a_zalo_update_handed_out_is_waited_for(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_channel: ZaloChannel
) -> None:
    chat = ZaloChat(zalo.user("zl-1"))
    zalo.delay_next("sendMessage", SLOW)
    await chat.user.send_text("/start")
    answer = await chat.user.messages_until_idle(min_count=0)
    assert "Gương Sáng" in zalo_text_of(answer)
