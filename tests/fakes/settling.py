"""Waiting for the bot to settle instead of waiting for a quiet spell.

A fixture that runs the real application in this process gives a fake server its probe
(`fake.settled = app.settled`, see `bot.settled`). A fake then knows the bot has answered when
the fake holds no update the bot has not taken in yet and the probe says the bot has handled
everything it took in, with nothing due in its outbox. Without a probe (the bot in another
process) the fakes fall back to waiting until the chat has been quiet for a while.
"""

# ruff: noqa: ASYNC109
# (timeouts as arguments, as the fake servers take them)

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

# The application's probe: True once it has settled.
Probe = Callable[[], Awaitable[bool]]
# How often the probe is asked. Only a polling interval: whatever its length, the answer is
# the same, it only decides how soon after settling the wait ends.
POLL = 0.01


async def until_settled(
    probe: Probe, delivered: Callable[[], bool], timeout: float, describe: Callable[[], str]
) -> None:
    """Return once `delivered()` (the fake holds no update the bot has not taken in) and the
    probe agree that nothing is left to do; TimeoutError naming `describe()` after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        # `delivered` again after the probe: an update may have been queued meanwhile.
        if delivered() and await probe() and delivered():
            return
        if loop.time() >= deadline:
            raise TimeoutError(f"the bot did not settle within {timeout}s; {describe()}")
        await asyncio.sleep(POLL)
