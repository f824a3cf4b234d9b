"""The web app as `guongsang serve` runs it: in one process, or in each of several workers.

Everything is built without I/O when the app is made; the lifespan starts the bot (database,
campaigns), the channels whose updates come by webhook, and stops them again. Each worker
process is a whole bot; with PostgreSQL they share the work (see storage/conversations.py
and storage/outbox.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from bot import heap
from bot.app import GuongSang
from bot.settings import Settings
from bot.web import webhooks
from bot.web.app import create_web_app
from bot.web.spread import SpreadConnections

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class WebhookChannels:
    """The channels that have a token and a webhook secret, and their routes."""

    def __init__(self, app: GuongSang) -> None:
        settings = app.settings
        self.routes: list[Route] = []
        self._starts: list[Callable[[], Awaitable[object]]] = []
        self._stops: list[Callable[[], Awaitable[None]]] = []
        if settings.telegram_token and settings.telegram_webhook_secret:
            from bot.channels.telegram.channel import TelegramChannel

            telegram = TelegramChannel(app, settings.telegram_token, settings.telegram_api_url)
            self._starts.append(lambda: telegram.start(polling=False))
            self._stops.append(telegram.stop)
            self.routes.append(
                webhooks.webhook_route(
                    "telegram",
                    webhooks.TELEGRAM_PATH,
                    settings.telegram_webhook_secret,
                    webhooks.TELEGRAM_HEADER,
                    telegram.process,
                )
            )
        if settings.zalo_token and settings.zalo_webhook_secret:
            from bot.channels.zalo.channel import ZaloChannel
            from bot.channels.zalo.client import ZaloClient

            zalo = ZaloChannel(app, ZaloClient(settings.zalo_token, settings.zalo_api_url))
            self._starts.append(zalo.start)
            self._stops.append(zalo.stop)
            self.routes.append(
                webhooks.webhook_route(
                    "zalo",
                    webhooks.ZALO_PATH,
                    settings.zalo_webhook_secret,
                    webhooks.ZALO_HEADER,
                    zalo.handle_update,
                )
            )

    async def start(self) -> None:
        """Connect every webhook channel (each checks its token with the platform)."""
        for start in self._starts:
            await start()

    async def stop(self) -> None:
        """Disconnect them, last started first."""
        for stop in reversed(self._stops):
            await stop()


def served_app(settings: Settings, settle_heap: bool = False) -> Starlette:
    """The ASGI app with a lifespan that starts and stops the whole bot.

    `settle_heap` is for the process that exists to serve it (`bot.heap.settle` once started);
    tests building many apps in one process leave it off.
    """
    app = GuongSang(settings)
    channels = WebhookChannels(app)

    @asynccontextmanager
    async def lifespan(_web: Starlette) -> AsyncIterator[None]:
        await app.start()
        try:
            await channels.start()
            for route in channels.routes:
                log.info("taking updates by webhook at %s%s", settings.public_url, route.path)
            if settle_heap:
                heap.settle()
            yield
        finally:
            await channels.stop()
            await app.close()
            log.info("web app stopped")

    return create_web_app(app, channels.routes, lifespan=lifespan)


def from_environment() -> ASGIApp:
    """The uvicorn factory each worker process calls (`serve --workers N`, `bot.web.workers`).

    Kept-alive connections keep being spread over the workers (`SpreadConnections`).
    """
    # A worker is a fresh process: the parent's logging setup did not come with it.
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return SpreadConnections(served_app(Settings(), settle_heap=True))
