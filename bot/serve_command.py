"""`guongsang serve`: the public web side (exemplar pages, Atom feed, signed photos, health)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType

import uvicorn
from starlette.routing import Route

from bot.app import GuongSang, running
from bot.settings import Settings
from templates import Texts, to_plain

log = logging.getLogger("guongsang")
# The default only exists so a fresh checkout runs; anyone who reads the code could sign URLs.
DEFAULT_SECRET = Settings.model_fields["secret_key"].default
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `serve` subcommand on the CLI's subparsers."""
    serve = sub.add_parser("serve", help="serve the public web pages, feed and photo URLs")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    serve.set_defaults(func=_serve)


async def _serve(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Run the web app until SIGINT or SIGTERM, then close the app; returns the exit status."""
    from bot.web.app import create_web_app  # Starlette is only imported by this command

    if settings.secret_key == DEFAULT_SECRET:
        log.warning("GUONGSANG_SECRET_KEY is the development default: set a long random value")
    async with running(settings) as app, _webhooks(app, texts) as webhooks:
        config = uvicorn.Config(
            create_web_app(app, webhooks),
            host=args.host,
            port=args.port,
            log_level="info",
            # Behind a reverse proxy (the usual setup) the client address comes from it.
            proxy_headers=True,
        )
        with _signal_already_handled():
            await uvicorn.Server(config).serve()
    log.info("web app stopped")
    return 0


@contextlib.asynccontextmanager
async def _webhooks(app: GuongSang, texts: Texts) -> AsyncIterator[list[Route]]:
    """Start the channels whose updates come by webhook (a token and a webhook secret set)
    and give their routes; polling channels are `guongsang run`'s."""
    from bot.web import webhooks

    settings = app.settings
    routes: list[Route] = []
    stops: list[Callable[[], Awaitable[None]]] = []
    try:
        if settings.telegram_token and settings.telegram_webhook_secret:
            from bot.channels.telegram.channel import TelegramChannel

            telegram = TelegramChannel(app, settings.telegram_token, settings.telegram_api_url)
            await telegram.start(polling=False)
            stops.append(telegram.stop)
            routes.append(
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
            await zalo.start()
            stops.append(zalo.stop)
            routes.append(
                webhooks.webhook_route(
                    "zalo",
                    webhooks.ZALO_PATH,
                    settings.zalo_webhook_secret,
                    webhooks.ZALO_HEADER,
                    zalo.handle_update,
                )
            )
        for route in routes:
            url = settings.public_url + route.path
            log.info(to_plain(texts.render("messages.webhook_serving", url=url)))
        yield routes
    finally:
        for stop in reversed(stops):
            await stop()


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A handler that does nothing (see _signal_already_handled)."""


@contextlib.contextmanager
def _signal_already_handled() -> Iterator[None]:
    """Let uvicorn's shutdown be the whole answer to a stop signal.

    After a graceful shutdown uvicorn raises the signal that stopped it again, for the handler
    that was there before it. With the defaults that kills the process (SIGTERM) or cancels this
    task (SIGINT under asyncio.run) before the database is closed; a no-op handler in between
    lets `_serve` close the app and return normally.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # uvicorn only handles signals in the main thread either
        return
    previous = {sig: signal.signal(sig, _ignore) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
