"""Sliding-window rate limits: never more than `limit` sends in any window of `period` seconds.

A leaky bucket would allow a burst of `limit` on top of the steady rate; platforms count sends in
windows, so a strict window is what keeps us under their limits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

# Sends leave here on time but reach the platform with some jitter; counting each window a
# little longer keeps arrivals, as the platform sees them, under the limit. Two sends to one
# chat once arrived 0.98 s apart, so per-chat windows get 50 ms; the overall window, where a
# stray 429 only pauses the channel briefly, gets 20 ms (2% of the rate instead of 5%).
MARGIN = 0.05
OVERALL_MARGIN = 0.02
# A 429 widens the overall margin by 10 ms, up to this: the jitter is learnt, not guessed.
MAX_MARGIN = 0.1


class SlidingWindow:
    """At most `limit` acquisitions in any `period`-second window (plus a safety margin)."""

    def __init__(self, limit: int, period: float, margin: float = MARGIN) -> None:
        self.limit = max(1, limit)
        self.base = period
        self.period = period + margin
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until one more send fits in the window, then count it."""
        async with self._lock:
            while True:
                now = time.monotonic()
                while self._times and now - self._times[0] >= self.period:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                await asyncio.sleep(self.period - (now - self._times[0]) + 0.001)

    def widen(self, step: float = 0.01, most: float = MAX_MARGIN) -> None:
        """Count the window `step` seconds longer, up to a margin of `most`."""
        self.period = min(self.base + most, self.period + step)

    def idle_for(self, seconds: float) -> bool:
        """Whether nothing was sent in the last `seconds` (so the window can be dropped)."""
        return not self._times or time.monotonic() - self._times[-1] >= seconds


class KeyedWindows:
    """One sliding window per key (a chat), forgotten once quiet for a while."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._windows: dict[str, SlidingWindow] = {}

    async def acquire(self, key: str) -> None:
        """Wait for `key`'s turn."""
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) > 10_000:
                self._windows = {
                    k: w for k, w in self._windows.items() if not w.idle_for(self.period)
                }
            window = self._windows[key] = SlidingWindow(self.limit, self.period)
        await window.acquire()


class ChannelLimits:
    """The limits one channel's sends obey: overall, per chat, and per group chat."""

    def __init__(self, per_second: float, per_chat_second: float, group_per_minute: int) -> None:
        # A rate below 1/s is expressed as one send per 1/rate seconds.
        self.overall = _window(per_second)
        self.per_chat = KeyedWindows(*_limit_period(per_chat_second))
        self.per_group = KeyedWindows(group_per_minute, 60.0)
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """The platform said "retry after": hold every send on this channel until then, and
        count the overall window a little longer from now on (the jitter is larger here)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self.overall.widen()

    async def acquire(self, chat_id: str, is_group: bool, bulk: bool = True) -> None:
        """Wait until a send to `chat_id` is allowed.

        Bulk sends (broadcasts) keep every limit; a notification someone waits for keeps only
        the overall one, so a reviewer's cards are not spaced a second apart.
        """
        delay = self._paused_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if bulk:
            if is_group:
                await self.per_group.acquire(chat_id)
            await self.per_chat.acquire(chat_id)
        await self.overall.acquire()


def _limit_period(rate: float) -> tuple[int, float]:
    if rate >= 1:
        return int(rate), 1.0
    return 1, 1.0 / rate


def _window(rate: float) -> SlidingWindow:
    return SlidingWindow(*_limit_period(rate), margin=OVERALL_MARGIN)
