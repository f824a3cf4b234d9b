"""Photos people send on Zalo arrive as URLs: fetched with a size limit and a timeout."""

from __future__ import annotations

import asyncio

import httpx

from handlers.files import FileTooLarge, FileUnavailable

FETCH_TIMEOUT = 20.0


class PhotoFetcher:
    """Downloads a photo URL, stopping at `max_bytes` rather than reading a huge body."""

    def __init__(self, http: httpx.AsyncClient, max_bytes: int, timeout: float = FETCH_TIMEOUT):
        self.http = http
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, url: str) -> bytes:
        """The photo's bytes; FileTooLarge over the limit, FileUnavailable when it cannot be had.

        Whether the bytes are an image is the core's check, the same as for Telegram photos.
        """
        if not url.startswith(("https://", "http://")):
            raise FileUnavailable(f"not a web address: {url[:80]}")
        try:
            # One deadline for the whole download: a server dripping bytes must not hold it.
            async with asyncio.timeout(self.timeout):
                return await self._download(url)
        except TimeoutError as exc:
            raise FileUnavailable(f"no photo within {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise FileUnavailable(repr(exc)) from exc

    async def _download(self, url: str) -> bytes:
        async with self.http.stream(
            "GET", url, timeout=self.timeout, follow_redirects=True
        ) as response:
            if response.status_code != 200:
                raise FileUnavailable(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise FileTooLarge(int(declared))
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > self.max_bytes:
                    raise FileTooLarge(received)
                chunks.append(chunk)
        return b"".join(chunks)
