"""Sending a request does not go through Python's import system.

httpcore asks for sniffio whenever it makes a lock; without sniffio installed (anyio no longer
brings it) each ask is a failed import, a search of every folder on sys.path, several times per
Bot API request: a fifth of a worker's time. The dependency is declared in pyproject.toml;
this test fails if it goes missing again or the client grows another import per request.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import httpx

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _CountingFinder(importlib.abc.MetaPathFinder):
    """Counts imports that reach the finders (a module not already in sys.modules)."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        self.searched.append(fullname)
        return None  # let the real finders answer


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    writer.close()


async def test_requests_do_not_search_for_modules() -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    finder = _CountingFinder()
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).text == "ok"  # everything imported once
            sys.meta_path.insert(0, finder)
            try:
                for _ in range(20):
                    assert (await client.get(url)).text == "ok"
            finally:
                sys.meta_path.remove(finder)
    finally:
        server.close()
        await server.wait_closed()
    assert finder.searched == [], sorted(set(finder.searched))
