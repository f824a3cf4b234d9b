"""The outbox's rate limits hold as the platform counts: by when sends arrive there."""

from __future__ import annotations

import asyncio
import random
import time

from bot.ratelimit import ChannelLimits, SlidingWindow
from tests.arrivals import max_in_window


async def test_arrivals_stay_under_the_limit_whatever_the_network_delay() -> None:
    # Each send arrives 0-60 ms after it starts and is answered 0-60 ms later: far more
    # jitter than a fixed safety margin would cover.
    window, arrivals = SlidingWindow(limit=10, period=0.5), []
    rng = random.Random(7)

    async def send() -> None:
        async with window.slot():
            await asyncio.sleep(rng.uniform(0, 0.06))
            arrivals.append(time.monotonic())
            await asyncio.sleep(rng.uniform(0, 0.06))

    started = time.monotonic()
    await asyncio.gather(*(send() for _ in range(60)))
    took = time.monotonic() - started
    assert len(arrivals) == 60
    assert max_in_window(arrivals, 0.5) <= 10
    # Not slower than the limit plus the round trips: 6 windows of 0.5 s, each + up to 0.12 s.
    assert took < 6 * (0.5 + 0.12) + 0.5, took


async def test_a_failed_send_still_counts() -> None:
    window = SlidingWindow(limit=1, period=0.3)
    try:
        async with window.slot():
            raise ConnectionError("the request may still have arrived")
    except ConnectionError:
        pass
    started = time.monotonic()
    async with window.slot():
        pass
    assert time.monotonic() - started >= 0.29


async def test_per_chat_limit_spaces_bulk_sends_but_not_notifications() -> None:
    limits = ChannelLimits(per_second=100, per_chat_second=2, group_per_minute=20)
    started = time.monotonic()
    for _ in range(3):
        async with limits.sending("42", is_group=False, bulk=True):
            pass
    bulk = time.monotonic() - started
    started = time.monotonic()
    for _ in range(3):
        async with limits.sending("43", is_group=False, bulk=False):
            pass
    assert bulk >= 0.45 and time.monotonic() - started < 0.1, bulk


async def test_pause_holds_every_send() -> None:
    limits = ChannelLimits(per_second=100, per_chat_second=100, group_per_minute=100)
    limits.pause(0.3)
    started = time.monotonic()
    async with limits.sending("42", is_group=False):
        pass
    assert time.monotonic() - started >= 0.29
