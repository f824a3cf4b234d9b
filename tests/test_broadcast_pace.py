"""A broadcast's pace holds across a restart: the rate window is read from what the outbox
sent, not kept only in the memory of the process that sent it."""

from __future__ import annotations

from bot.app import GuongSang
from bot.channels.telegram.channel import standalone_sender
from bot.settings import Settings
from tests.apps import Clock, start_app
from tests.arrivals import max_in_window
from tests.factories import add_audience, honour_and_send, story
from tests.fakes.telegram_server import FakeTelegram

RATE = 10


AUDIENCE = list(range(9200, 9200 + 3 * RATE))


def sends(telegram: FakeTelegram) -> list[float]:
    """When the broadcast's messages reached the platform (the author is told apart)."""
    return [
        c.at
        for c in telegram.calls_to("sendMessage")
        if c.status == 200 and int(c.params["chat_id"]) in AUDIENCE
    ]


async def delivering_until(app: GuongSang, telegram: FakeTelegram, count: int) -> None:
    """Deliver with this process's worker until `count` sends in all, then stop it."""
    bot, sender = await standalone_sender(telegram.token, telegram.api_root)
    app.delivery.register("telegram", sender)
    app.delivery.start()
    try:
        await telegram.wait_for(lambda _calls: len(sends(telegram)) >= count, timeout=30)
    finally:
        await app.delivery.stop()
        await bot.shutdown()


async def test_a_restarted_worker_keeps_the_pace_of_the_one_before(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    paced = settings.model_copy(update={"broadcast_rate": float(RATE)})
    first = await start_app(paced, clock)
    sub = await story(first, code="GS-2024-0051", photos=0)
    await add_audience(first, AUDIENCE)
    await honour_and_send(first, sub.code or "")
    # The process that takes over is ready beside it (its own memory of the pace empty).
    second = await start_app(paced, clock, with_units=False)
    try:
        # The first sends a second's worth at once, then is gone; the other goes on at once.
        await delivering_until(first, telegram, RATE - 1)
        await delivering_until(second, telegram, 3 * RATE)
    finally:
        await first.close()
        await second.close()
    arrivals = sends(telegram)
    assert len(arrivals) == 3 * RATE
    assert max_in_window(arrivals, 1.0) <= RATE, "never over the rate, across the restart"
