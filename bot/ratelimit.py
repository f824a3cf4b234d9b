"""Rate limits that hold as the platform counts: never more than `limit` sends arriving in any
window of `period` seconds.

A send reaches the platform at some moment between our starting it and our getting its answer;
how long after the start depends on the network, on the process being busy, on a photo being
uploaded first. Counting sends by when they started lets that jitter squeeze more than `limit`
arrivals into one window. So a send takes a slot from its start until its answer, and the slot
stays counted for `period` after the answer: then whenever a send starts, every send that
could arrive in the same window as it is still counted. The price is the round trip: at most
`limit` sends per `period` plus one round trip, a few percent on a good connection.

A leaky bucket would allow a burst of `limit` on top of the steady rate; platforms count sends
in windows, so a strict window is what keeps us under their limits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress


class SlidingWindow:
    """At most `limit` sends in flight or answered within the last `period` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = max(1, limit)
        self.period = period
        self._answered: deque[float] = deque()
        self._in_flight = 0
        self._released = asyncio.Event()
        # Waiters queue here, so they get their turns in the order they came.
        self._queue = asyncio.Lock()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one send's place in the window while the send is made."""
        await self._take()
        try:
            yield
        finally:
            # Counted from the answer, failed or not: the request may have arrived.
            self._in_flight -= 1
            self._answered.append(time.monotonic())
            self._released.set()

    async def _take(self) -> None:
        async with self._queue:
            while True:
                now = time.monotonic()
                while self._answered and now - self._answered[0] >= self.period:
                    self._answered.popleft()
                if len(self._answered) + self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                # Wait for the oldest answer to leave the window, or a send in flight to end.
                wait = self.period - (now - self._answered[0]) if self._answered else None
                self._released.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), wait)

    def counted(self) -> int:
        """Sends in flight or answered within the last `period` seconds."""
        now = time.monotonic()
        while self._answered and now - self._answered[0] >= self.period:
            self._answered.popleft()
        return len(self._answered) + self._in_flight

    def idle_for(self, seconds: float) -> bool:
        """Whether nothing is being sent and nothing was in the last `seconds`."""
        if self._in_flight:
            return False
        return not self._answered or time.monotonic() - self._answered[-1] >= seconds


class KeyedWindows:
    """One sliding window per key (a chat), forgotten once quiet for a while."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._windows: dict[str, SlidingWindow] = {}

    def slot(self, key: str) -> AbstractAsyncContextManager[None]:
        """`key`'s window's slot (see `SlidingWindow.slot`)."""
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) > 10_000:
                self._windows = {
                    k: w for k, w in self._windows.items() if not w.idle_for(self.period)
                }
            window = self._windows[key] = SlidingWindow(self.limit, self.period)
        return window.slot()


class ChannelLimits:
    """The limits one channel's sends obey: overall, per chat, and per group chat."""

    def __init__(
        self,
        per_second: float,
        per_chat_second: float,
        group_per_minute: int,
        shared_per_second: float | None = None,
    ) -> None:
        # A rate below 1/s is expressed as one send per 1/rate seconds.
        self.overall = SlidingWindow(*_limit_period(per_second))
        # The channel's whole budget, which every process sending for the bot shares: a
        # worker's broadcast sends also count those of the others, read from the outbox.
        self.shared = _limit_period(shared_per_second or per_second)
        self.per_chat = KeyedWindows(*_limit_period(per_chat_second))
        self.per_group = KeyedWindows(group_per_minute, 60.0)
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """The platform said "retry after": hold every send on this channel until then."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    @asynccontextmanager
    async def sending(self, chat_id: str, is_group: bool, bulk: bool = True) -> AsyncIterator[None]:
        """Wait until a send to `chat_id` is allowed, and count it while it is made.

        Bulk sends (broadcasts) keep every limit; a notification someone waits for keeps only
        the overall one, so a reviewer's cards are not spaced a second apart.
        """
        delay = self._paused_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        async with AsyncExitStack() as slots:
            if bulk:
                if is_group:
                    await slots.enter_async_context(self.per_group.slot(chat_id))
                await slots.enter_async_context(self.per_chat.slot(chat_id))
            await slots.enter_async_context(self.overall.slot())
            yield


def _limit_period(rate: float) -> tuple[int, float]:
    if rate >= 1:
        return int(rate), 1.0
    return 1, 1.0 / rate
