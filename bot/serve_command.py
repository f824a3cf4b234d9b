"""`guongsang serve`: the public web side (exemplar pages, Atom feed, signed photos, health)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn

from bot.settings import Settings
from bot.web import workers
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
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (PostgreSQL only when over 1)"
    )
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Run the web app until SIGINT or SIGTERM, then close the app; returns the exit status.

    Not a coroutine: with several workers uvicorn's supervisor must own the main thread.
    """
    if settings.secret_key == DEFAULT_SECRET:
        log.warning("GUONGSANG_SECRET_KEY is the development default: set a long random value")
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "info",
        # Behind a reverse proxy (the usual setup) the client address comes from it.
        "proxy_headers": True,
        "lifespan": "on",
    }
    if args.workers > 1:
        if not settings.resolved_database_url.startswith("postgresql"):
            print(to_plain(texts.render("messages.workers_need_postgresql")), file=sys.stderr)
            return 2
        # Each worker process builds its own app from the same environment, and takes its
        # share of the platform's rate limits.
        os.environ["GUONGSANG_WORKERS"] = str(args.workers)
        if workers.AVAILABLE:
            return workers.run(args.workers, common)
        uvicorn.run(workers.FACTORY, factory=True, workers=args.workers, **common)
        return 0
    return asyncio.run(_serve_one(settings, common))


async def _serve_one(settings: Settings, options: dict[str, Any]) -> int:
    from bot.web.served import served_app  # Starlette is only imported by this command

    server = uvicorn.Server(uvicorn.Config(served_app(settings, settle_heap=True), **options))
    with _signal_already_handled():
        await server.serve()
    return 0 if server.started else 1


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
