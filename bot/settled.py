"""Knowing when the bot has settled: every update a channel took in is handled, and the outbox
has nothing due now and nothing being sent.

Tests read the bot's answer until it has settled rather than until it has been quiet for a
while: a quiet spell costs its length on every answer, and a slow machine can pause longer
than that between two messages of one answer. A channel counts an update from the moment it
has it in hand (taken from the long poll's answer, or posted to the webhook) until its
handling and its replies are done (`InFlight`); `GuongSang.settled` adds the outbox's part.
What the platform still holds (an update not fetched yet) only the platform, or its fake,
knows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class InFlight:
    """A count of updates taken in and not yet fully handled, across every channel."""

    def __init__(self) -> None:
        self.count = 0

    def begin(self) -> None:
        """An update was taken in: it is under way until the matching `end`."""
        self.count += 1

    def end(self) -> None:
        """An update's handling is over (done, skipped or failed)."""
        self.count -= 1

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Count the update handled inside this block."""
        self.begin()
        try:
            yield
        finally:
            self.end()

    @property
    def busy(self) -> bool:
        """Whether any update is under way."""
        return self.count > 0
