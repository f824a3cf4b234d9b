"""Shared fixtures: a real database (SQLite file, or PostgreSQL when reachable), the real
application, and a fake Telegram Bot API server on 127.0.0.1 that the real channel talks to."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from tests.apps import FIXTURES, Clock, start_app
from tests.backends import backend_params, fresh_database
from tests.fakes.telegram_server import FakeTelegram

pytest_plugins = ["tests.zalo_fixtures", "tests.browsers"]


@pytest.fixture
def clock() -> Clock:
    """10 January 2024, 10:00 in Hà Nội: inside letter 001's contest window."""
    return Clock(datetime(2024, 1, 10, 3, 0, tzinfo=UTC))


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend: every test that touches the database runs on each."""
    return request.param


@pytest.fixture
async def database_url(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> AsyncIterator[str]:
    """A fresh database of the chosen backend, migrated (a copy of a template), or empty for
    a test marked `empty_database` (the migrations' own tests)."""
    empty = request.node.get_closest_marker("empty_database") is not None
    async with fresh_database(backend, tmp_path, migrated=not empty) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for one test: its own data dir and database, the letter-001 campaign."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        config=FIXTURES / "campaigns.toml",
        admins="telegram:999",
        # Answers no longer end with a quiet spell, so a test's person types far faster than
        # a person does; the flood limit (real time) has tests of its own, on their own clock.
        user_message_burst=10_000,
    )


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[GuongSang]:
    """The real application on a fresh database."""
    application = await start_app(settings, clock)
    yield application
    await application.close()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    """A fake Telegram Bot API server on 127.0.0.1."""
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def channel(app: GuongSang, telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    """The real Telegram channel, polling the fake server."""
    tg = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await tg.start()
    # Answers are read until the app has settled, not until the chat falls quiet.
    telegram.settled = app.settled
    yield tg
    telegram.settled = None
    await asyncio.wait_for(tg.stop(), timeout=15)


@pytest.fixture(scope="session")
def sample_story() -> str:
    """The 370-word sample story (title line and five paragraphs)."""
    return (FIXTURES / "story-co-giao-lan.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session", autouse=True)
def _no_proxy() -> Iterator[None]:
    # httpx would route 127.0.0.1 through a proxy set in the environment.
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.lower().endswith("_proxy")}
    yield
    os.environ.update(saved)
