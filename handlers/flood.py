"""A per-person message budget, so one person sending dozens of messages a second cannot
slow the bot down for everyone else.

A token bucket: a burst of `burst` messages, refilled at `rate` a second; pasting a long
story (a few messages at once) or an album stays far inside it. Once over, the person is
paused until they have sent nothing for `cooldown` seconds, and told so once: then "resend
everything from that message on" is a rule they can follow.

One process keeps the buckets in memory. Worker processes serving one bot (`serve --workers`)
each see only some of a person's messages, so with memory alone a person would get the
budget once per worker; there the buckets live in the database as well (`shared`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from storage import flood as stored

# Buckets idle this long are full again and can be forgotten.
FORGET_AFTER = 600.0
# With a shared budget, how much larger each process's own is. Were it the same, a person
# whose messages all reach one worker would run out of both at the same message, and the
# process's check, which comes first and stays quiet, would refuse without a word.
LOCAL_MARGIN = 2.0


class Bucket(Protocol):
    """What the budget arithmetic needs of a bucket, in memory or in the database."""

    tokens: float
    updated: float
    paused_until: float


@dataclass
class _Bucket:
    tokens: float
    updated: float
    paused_until: float = 0.0


class FloodGuard:
    """Decides, per (channel, user), whether a message is taken now."""

    def __init__(
        self,
        rate: float = 10.0,
        burst: int = 30,
        cooldown: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        shared: bool = False,
    ) -> None:
        """`shared`: worker processes share the budget through the database; `clock` must
        then be one they share too (the wall clock)."""
        self.rate = rate
        self.burst = burst
        self.cooldown = cooldown
        self.clock = clock
        self.shared = shared
        # (rate, burst) of this process's own buckets.
        self._local = (rate * LOCAL_MARGIN, burst * LOCAL_MARGIN) if shared else (rate, burst)
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._swept = clock()

    def admit(self, channel: str, user_id: str) -> tuple[bool, bool]:
        """(taken, tell): `tell` is True for the first message refused in a pause, the one
        that should get the polite answer; the rest of the pause is refused quietly.

        Checked before anything is read or written, so a flood costs no database work. When
        shared, this process sees only some of the person's messages, against a larger budget
        (`LOCAL_MARGIN`): it refuses only well after the shared budget (`admit_shared`) has
        refused and told, so it refuses quietly.
        """
        now = self.clock()
        self._sweep(now)
        rate, burst = self._local
        bucket = self._buckets.setdefault((channel, user_id), _Bucket(burst, now))
        taken, tell = self._decide(bucket, now, rate, burst)
        return taken, tell and not self.shared

    async def admit_shared(
        self, session: AsyncSession, channel: str, user_id: str
    ) -> tuple[bool, bool]:
        """(taken, tell) against the budget all workers share; always taken when not shared.

        Call it in the update's transaction, where the person's bucket stays locked until the
        update is handled, so two workers cannot both spend the last token.
        """
        if not self.shared:
            return True, False
        now = self.clock()
        bucket = await stored.locked_bucket(session, channel, user_id, self.burst, now)
        return self._decide(bucket, now, self.rate, self.burst)

    async def forget_idle(self, session: AsyncSession) -> int:
        """Drop shared buckets idle long enough to be full again; returns how many."""
        if not self.shared:
            return 0
        return await stored.forget_idle(session, self.clock() - FORGET_AFTER)

    def _decide(self, bucket: Bucket, now: float, rate: float, burst: float) -> tuple[bool, bool]:
        # Workers' clocks may disagree by a little: a bucket never drains for time going back.
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(burst, bucket.tokens + elapsed * rate)
        bucket.updated = max(bucket.updated, now)
        if now < bucket.paused_until:
            bucket.paused_until = now + self.cooldown
            return False, False
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return True, False
        bucket.paused_until = now + self.cooldown
        return False, True

    def _sweep(self, now: float) -> None:
        if now - self._swept < FORGET_AFTER:
            return
        self._swept = now
        stale = [k for k, b in self._buckets.items() if now - b.updated > FORGET_AFTER]
        for key in stale:
            del self._buckets[key]
