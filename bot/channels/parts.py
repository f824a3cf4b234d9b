"""A reply as the platform API calls that send it, one message (or album) each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

# One API call of a reply; returns the id of the message it sent, when that message may later
# be edited (its text, its buttons), else None.
Part = Callable[[], Awaitable[str | None]]


async def send_parts(
    parts: Iterable[Part], attempt: Callable[[Part], Awaitable[str | None]]
) -> list[str]:
    """Make the calls in order, each through `attempt` (the channel's retries); returns the
    ids they gave."""
    ids = []
    for part in parts:
        message_id = await attempt(part)
        if message_id is not None:
            ids.append(message_id)
    return ids
