"""`guongsang honour` and `guongsang broadcast run` deliver through every channel that has a
token, Zalo alone included, and close with the rate of the run itself."""

from __future__ import annotations

import re

from sqlalchemy import update

from bot.app import GuongSang
from bot.settings import Settings
from handlers import broadcast as broadcasting
from storage import outbox
from storage.models import OutboxMessage
from tests.apps import FIXTURES, Clock, run_cli_beside, start_app
from tests.factories import add_audience, story
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo

ZALO_CHATS = ["e4ea2cd5189df1c3a88c", "a1b2c3d4e5f6a7b8c9d0"]
HONOUR = [
    "honour",
    "GS-2024-0041",
    "--decision",
    "1625/QĐ-UBND",
    "--date",
    "2023-03-20",
    "--summary",
    "Tấm gương sáng về lòng nhân ái trong trường học.",
]


async def zalo_audience(app: GuongSang, chat_ids: list[str]) -> None:
    async with app.db.transaction() as session:
        for chat_id in chat_ids:
            await broadcasting.set_subscription(
                session, app.services, "zalo", chat_id, None, True, kind="person"
            )


def base_env(settings: Settings) -> dict[str, str]:
    return {
        "GUONGSANG_DATA_DIR": str(settings.data_dir),
        "GUONGSANG_DATABASE_URL": settings.resolved_database_url,
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
    }


def zalo_env(settings: Settings, zalo: FakeZalo) -> dict[str, str]:
    return {
        **base_env(settings),
        "GUONGSANG_ZALO_TOKEN": zalo.token,
        "GUONGSANG_ZALO_API_URL": zalo.api_root,
    }


async def test_honour_on_a_zalo_only_deployment_delivers_and_succeeds(
    settings: Settings, clock: Clock, zalo: FakeZalo
) -> None:
    app = await start_app(settings, clock)
    await story(app, code="GS-2024-0041")
    await zalo_audience(app, ZALO_CHATS)
    await app.close()
    done = await run_cli_beside(zalo_env(settings, zalo), *HONOUR)
    assert done.returncode == 0, done.stderr
    assert "TELEGRAM" not in done.stderr, done.stderr
    for chat_id in ZALO_CHATS:
        assert zalo.sent(chat_id), f"the post reached zalo:{chat_id}"
    assert "gửi thành công 2 / 2" in done.stdout, done.stdout


async def test_broadcast_run_on_zalo_only_delivers_and_succeeds(
    settings: Settings, clock: Clock, zalo: FakeZalo
) -> None:
    app = await start_app(settings, clock)
    await story(app, code="GS-2024-0041")
    await zalo_audience(app, ZALO_CHATS)
    await app.close()
    queued = await run_cli_beside(base_env(settings), *HONOUR)
    # No channel at all: the honour stands and waits for the bot, said without blame.
    assert queued.returncode == 0 and "guongsang broadcast run" in queued.stderr, queued
    nothing = await run_cli_beside(base_env(settings), "broadcast", "run")
    assert nothing.returncode == 2 and "GUONGSANG_ZALO_TOKEN" in nothing.stderr
    assert "guongsang broadcast run" not in nothing.stderr, "not told to run what it ran"
    done = await run_cli_beside(zalo_env(settings, zalo), "broadcast", "run")
    assert done.returncode == 0, done.stderr
    assert all(zalo.sent(chat_id) for chat_id in ZALO_CHATS)


async def test_a_resumed_run_reports_its_own_rate_with_a_decimal_comma(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    app = await start_app(settings, clock)
    await story(app, code="GS-2024-0041", photos=0)
    await add_audience(app, [9101, 9102, 9103, 9104])
    await app.close()
    queued = await run_cli_beside(base_env(settings), *HONOUR, "--no-send")
    assert queued.returncode == 0, queued.stderr
    # A first run sent three before it was killed.
    app = await start_app(settings, clock, with_units=False)
    async with app.db.transaction() as session:
        first_three = (
            update(OutboxMessage)
            .where(OutboxMessage.chat_id.in_(["9101", "9102", "9103"]))
            .values(status=outbox.SENT, sent_at=clock.moment)
        )
        await session.execute(first_three)
    await app.close()
    env = {
        **base_env(settings),
        "GUONGSANG_TELEGRAM_TOKEN": telegram.token,
        "GUONGSANG_TELEGRAM_API_URL": telegram.api_root,
    }
    done = await run_cli_beside(env, "broadcast", "run")
    assert done.returncode == 0, done.stderr
    assert "gửi thành công 4 / 4" in done.stdout, done.stdout
    line = re.search(
        r"lần chạy này gửi (\d+) tin trong (\d+,\d) giây, (\d+,\d) tin/giây", done.stdout
    )
    assert line is not None, done.stdout
    assert line.group(1) == "1", "only this run's send"
    seconds = float(line.group(2).replace(",", "."))
    rate = float(line.group(3).replace(",", "."))
    # One send over the run's time, not all four (rounding to tenths aside).
    assert seconds < 0.2 or 0.6 <= rate * seconds <= 1.4, line.group(0)
