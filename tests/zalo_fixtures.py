"""Fixtures for Zalo tests: a fake Zalo Bot API, the app with a known public address, the
real Zalo channel polling the fake, and the web app serving photos and the webhook."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.app import GuongSang
from bot.channels.zalo.channel import ZaloChannel
from bot.channels.zalo.client import ZaloClient
from bot.settings import Settings
from bot.web import webhooks
from tests.apps import Clock, listening_socket, serving, start_app
from tests.fakes.zalo_server import FakeZalo

WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """The web app's socket, bound first so its address can go into the settings."""
    sock = listening_socket()
    yield sock
    sock.close()


@pytest.fixture
async def zalo() -> AsyncIterator[FakeZalo]:
    """A fake Zalo Bot API server on 127.0.0.1."""
    async with FakeZalo() as fake:
        yield fake


@pytest.fixture
async def zalo_app(
    settings: Settings, clock: Clock, listener: socket.socket
) -> AsyncIterator[GuongSang]:
    """The real application, whose public address is the test's web server."""
    port = listener.getsockname()[1]
    application = await start_app(
        settings.model_copy(
            update={
                "public_url": f"http://127.0.0.1:{port}",
                "zalo_webhook_secret": WEBHOOK_SECRET,
            }
        ),
        clock,
    )
    yield application
    await application.close()


@pytest.fixture
async def zalo_channel(zalo_app: GuongSang, zalo: FakeZalo) -> AsyncIterator[ZaloChannel]:
    """The real Zalo channel, polling the fake server."""
    channel = ZaloChannel(zalo_app, ZaloClient(zalo.token, zalo.api_root, poll_timeout=1))
    await channel.start()
    channel.start_polling()
    # Answers are read until the app has settled, not until the chat falls quiet.
    zalo.settled = zalo_app.settled
    yield channel
    zalo.settled = None
    await channel.stop()


@pytest.fixture
async def zalo_web(
    zalo_app: GuongSang, zalo_channel: ZaloChannel, listener: socket.socket
) -> AsyncIterator[httpx.AsyncClient]:
    """The web app (signed photos, and /webhook/zalo) on uvicorn, and a client for it."""
    route = webhooks.webhook_route(
        "zalo", webhooks.ZALO_PATH, WEBHOOK_SECRET, webhooks.ZALO_HEADER, zalo_channel.handle_update
    )
    async with serving(zalo_app, webhooks=[route], sock=listener) as client:
        yield client
