"""A per-person message budget, so one person sending dozens of messages a second cannot
slow the bot down for everyone else.

A token bucket: a burst of `burst` messages, refilled at `rate` a second; pasting a long
story (a few messages at once) or an album stays far inside it. Once over, the person is
paused until they have sent nothing for `cooldown` seconds, and told so once: then "resend
everything from that message on" is a rule they can follow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# Buckets idle this long are full again and can be forgotten.
FORGET_AFTER = 600.0


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
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.cooldown = cooldown
        self.clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._swept = clock()

    def admit(self, channel: str, user_id: str) -> tuple[bool, bool]:
        """(taken, tell): `tell` is True for the first message refused in a pause, the one
        that should get the polite answer; the rest of the pause is refused quietly."""
        now = self.clock()
        self._sweep(now)
        bucket = self._buckets.setdefault((channel, user_id), _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
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
