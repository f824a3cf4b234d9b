"""Building the real application for tests: a settable clock and a started app."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import httpx
import uvicorn
from starlette.routing import Route
from starlette.types import ASGIApp

from bot.app import GuongSang
from bot.settings import Settings
from bot.units_file import read_units
from bot.web import create_web_app
from storage import units

FIXTURES = Path(__file__).parent / "fixtures"
UNITS_CSV = FIXTURES / "units-thanh-xuan.csv"
SECOND_CAMPAIGN = """
# The next year's contest, to add to letter 001's (campaign filters, reports by month).
[[campaigns]]
slug = "thanh-xuan-2025"
title = "Cuộc thi viết về gương người tốt, việc tốt quận Thanh Xuân năm 2025"
organisation = "Phòng GDĐT quận Thanh Xuân"
opens = 2024-09-20
closes = 2025-04-03
focus_areas = ["Chuyển đổi số trong lĩnh vực giáo dục", "Hiến máu nhân đạo"]
"""


class Clock:
    """A clock tests can set; the app reads it for "today" and timestamps."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


async def start_app(settings: Settings, clock: Clock, with_units: bool = True) -> GuongSang:
    """The real application, migrated, with the sample units imported."""
    app = GuongSang(settings, clock=clock)
    await app.start()
    if with_units:
        async with app.db.transaction() as session:
            for row in read_units(UNITS_CSV).rows:
                await units.upsert(session, row)
    return app


REPO = Path(__file__).resolve().parents[1]


def _cli_environment(env: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k != "GUONGSANG_TELEGRAM_TOKEN"}
    return {**inherited, **env}


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` in a child process with these GUONGSANG_ settings, no token.

    Blocks the caller: use `run_cli_beside` while an app is running in this event loop.
    """
    return run_python(env, "-m", "bot", *args)


def run_python(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python ARGS` from the checkout as `run_cli` runs the command line."""
    return subprocess.run(
        [sys.executable, *args],
        env=_cli_environment(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def run_cli_beside(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`run_cli` without blocking the event loop, for a CLI run beside a live app.

    A blocking call would freeze the app mid-transaction and hold SQLite's write lock
    until the child gave up with "database is locked".
    """
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=_cli_environment(env),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode is not None
    return subprocess.CompletedProcess(
        list(args), child.returncode, out.decode("utf-8"), err.decode("utf-8")
    )


def listening_socket() -> socket.socket:
    """A socket bound to a free port on 127.0.0.1, so a test knows its web address up front."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def uvicorn_serving(asgi: ASGIApp, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """An ASGI app on a real uvicorn server (on `sock`, or an OS-chosen port); yields its
    base URL."""
    config = uvicorn.Config(asgi, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock] if sock else None))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # raises why the server could not start
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@asynccontextmanager
async def serving(
    app: GuongSang, webhooks: Sequence[Route] = (), sock: socket.socket | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The web app on a real uvicorn server (on `sock`, or an OS-chosen port), and a client."""
    async with (
        uvicorn_serving(create_web_app(app, webhooks), sock) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        yield client
