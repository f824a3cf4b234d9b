"""Worker processes shed kept-alive connections now and then, so clients reconnect to
whichever worker is free (`bot.web.spread`)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from bot.web.served import from_environment
from bot.web.spread import SpreadConnections
from tests.apps import uvicorn_serving


async def _port(request: Request) -> PlainTextResponse:
    # The client's port names the connection the request came on.
    assert request.client is not None
    return PlainTextResponse(str(request.client.port))


@asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """`app` on a real uvicorn server, and a client keeping one connection alive."""
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with (
        uvicorn_serving(app) as base,
        httpx.AsyncClient(base_url=base, limits=one) as client,
    ):
        yield client


async def test_one_response_in_every_closes_its_connection() -> None:
    inner = Starlette(routes=[Route("/", _port)])
    async with served(SpreadConnections(inner, every=4, rng=random.Random(7))) as client:
        answers = [await client.get("/") for _ in range(40)]
    closing = [a.headers.get("connection") == "close" for a in answers]
    ports = [a.text for a in answers]
    # Every closing answer ends its connection: the next request comes on a new one.
    for n in range(1, len(answers)):
        assert (ports[n] != ports[n - 1]) == closing[n - 1], n
    assert 5 <= sum(closing) <= 20  # about one in four
    assert all(a.status_code == 200 for a in answers)


async def test_without_the_middleware_one_connection_serves_all() -> None:
    async with served(Starlette(routes=[Route("/", _port)])) as client:
        ports = {(await client.get("/")).text for _ in range(40)}
    assert len(ports) == 1


def test_the_worker_factory_spreads_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUONGSANG_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("GUONGSANG_TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("GUONGSANG_ZALO_TOKEN", raising=False)
    assert isinstance(from_environment(), SpreadConnections)
