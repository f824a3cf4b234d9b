"""Per-chat ordering: updates of one chat are handled one at a time, in arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ChatLocks:
    """One FIFO lock per chat, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, chat_key: str) -> AsyncIterator[None]:
        """Wait for the chat's turn; asyncio.Lock wakes waiters in the order they came."""
        lock = self._locks.setdefault(chat_key, asyncio.Lock())
        self._users[chat_key] = self._users.get(chat_key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat_key] -= 1
            if not self._users[chat_key]:
                del self._users[chat_key], self._locks[chat_key]
