"""A queued reply of several messages (an album, long text): each message is one API call,
counted by the rate limits, and a failure part-way goes on from there instead of sending the
first messages again; on Zalo a photo it cannot fetch leaves the text to go alone."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import standalone_sender
from bot.channels.zalo.channel import ZaloChannel, reachable_from_internet
from bot.channels.zalo.client import ZaloClient
from bot.settings import Settings
from handlers.notify import Notifier
from handlers.types import Reply
from storage import outbox
from storage.models import OutboxMessage
from tests.apps import Clock, start_app
from tests.arrivals import max_in_window
from tests.drivers import jpeg
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo

LONG = "\n".join(f"Dòng thứ {n} của một tấm thiệp rất dài." for n in range(150))  # two pieces


def photos(app: GuongSang, count: int) -> list[Path]:
    """Photos stored as the bot stores them (by content), so the web app serves them."""
    paths = []
    for n in range(count):
        data = jpeg(n)
        sha = hashlib.sha256(data).hexdigest()
        path = app.services.media_dir / sha[:2] / f"{sha}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


async def queue(app: GuongSang, channel: str, chat_ids: list[str], reply: Reply) -> None:
    async with app.db.transaction() as session:
        notifier = Notifier(session, app.services)
        for chat_id in chat_ids:
            await notifier.to_chat(channel, chat_id, reply)


async def statuses(app: GuongSang) -> list[str]:
    async with app.db.transaction() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [row.status for row in rows]


async def test_a_failure_part_way_does_not_send_the_first_messages_again(
    app: GuongSang, telegram: FakeTelegram
) -> None:
    bot, sender = await standalone_sender(telegram.token, telegram.api_root)
    app.delivery.register("telegram", sender)
    try:
        await queue(app, "telegram", ["7100"], Reply(LONG, photos=photos(app, 3)))
        # The album goes; the first piece of text is refused once by a server in trouble.
        telegram.fail_next("sendMessage", 500)
        await app.delivery.run_once()
    finally:
        await bot.shutdown()
    albums = [c for c in telegram.calls_to("sendMediaGroup") if c.status == 200]
    assert len(albums) == 1, "the album was not sent again"
    texts = [m.plain_text for m in telegram.sent(7100) if m.plain_text]
    assert len(texts) == 2 and texts[0] != texts[1], "each piece of text once"
    assert "Dòng thứ 0 " in texts[0] and "Dòng thứ 149 " in texts[1]
    assert await statuses(app) == [outbox.SENT]


async def test_stopping_finishes_a_reply_already_part_sent(
    app: GuongSang, telegram: FakeTelegram
) -> None:
    bot, sender = await standalone_sender(telegram.token, telegram.api_root)
    app.delivery.register("telegram", sender)
    app.delivery.start()
    try:
        # The album goes, the text fails once; a deploy stops the bot during the retry's wait.
        telegram.fail_next("sendMessage", 500)
        await queue(app, "telegram", ["7300"], Reply("Ảnh của bài.", photos=photos(app, 2)))
        app.delivery.kick()
        await telegram.wait_for(
            lambda calls: any(c.method == "sendMessage" and c.status == 500 for c in calls)
        )
        await app.delivery.stop()
    finally:
        await bot.shutdown()
    assert await statuses(app) == [outbox.SENT], "finished, not given back to start again"
    albums = [c for c in telegram.calls_to("sendMediaGroup") if c.status == 200]
    assert len(albums) == 1 and [m.plain_text for m in telegram.sent(7300)][-1] == "Ảnh của bài."


async def test_every_message_of_a_reply_counts_against_the_rate(
    settings: Settings, clock: Clock, telegram: FakeTelegram
) -> None:
    app = await start_app(settings.model_copy(update={"broadcast_rate": 4.0}), clock)
    bot, sender = await standalone_sender(telegram.token, telegram.api_root)
    app.delivery.register("telegram", sender)
    try:
        # Four replies of three messages each: twelve calls, at most four in any second.
        await queue(app, "telegram", ["7201", "7202", "7203", "7204"], Reply(LONG + "\n" + LONG))
        await app.delivery.run_once()
    finally:
        await bot.shutdown()
        await app.close()
    sends = [at for at, method, _chat in telegram.arrivals if method == "sendMessage"]
    assert len(sends) == 12
    assert max_in_window(sends, 1.0) <= 4


async def test_zalo_sends_the_text_when_it_cannot_fetch_a_photo(
    settings: Settings, clock: Clock, zalo: FakeZalo, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens where the photos' links point: Zalo answers 400 to each sendPhoto.
    app = await start_app(settings.model_copy(update={"public_url": "http://127.0.0.1:9"}), clock)
    channel = ZaloChannel(app, ZaloClient(zalo.token, zalo.api_root, poll_timeout=1))
    await channel.start()  # its outbox worker runs from here on
    assert "needs a public https address" in caplog.text, "the operator is told at start"
    try:
        reply = Reply("Bài GS-2024-0001 chờ bạn xác nhận.", photos=photos(app, 1))
        await queue(app, "zalo", ["a1b2c3"], reply)
        await queue(app, "zalo", ["d4e5f6"], Reply("Hai ảnh và lời nhắn.", photos=photos(app, 2)))
        for _ in range(100):
            if await statuses(app) == [outbox.SENT, outbox.SENT]:
                break
            await asyncio.sleep(0.1)
        assert await statuses(app) == [outbox.SENT, outbox.SENT]
    finally:
        await channel.stop()
        await app.close()
    for chat_id, text in (("a1b2c3", "chờ bạn xác nhận"), ("d4e5f6", "Hai ảnh và lời nhắn")):
        sent = zalo.sent(chat_id)
        assert [m.kind for m in sent] == ["text"] and text in (sent[0].text or ""), chat_id


def test_which_public_addresses_zalo_can_reach() -> None:
    for url in ("https://guongsang.edu.vn", "https://8.8.8.8/x"):
        assert reachable_from_internet(url), url
    for url in (
        "http://guongsang.edu.vn",
        "https://127.0.0.1:8080",
        "https://10.0.0.5",
        "https://localhost",
        "https://bot",
    ):
        assert not reachable_from_internet(url), url


async def test_a_zalo_photo_answered_429_waits_rather_than_being_left_out(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    # HTTP 429 with an error code of its own: a pause, not a photo Zalo cannot take.
    zalo.fail_next("sendPhoto", error_code=400, http_status=429, description="Too many")
    await queue(zalo_app, "zalo", ["e1b2c3"], Reply("Tin kèm ảnh.", photos=photos(zalo_app, 1)))
    for _ in range(100):
        if await statuses(zalo_app) == [outbox.SENT]:
            break
        await asyncio.sleep(0.1)
    assert [m.kind for m in zalo.sent("e1b2c3")] == ["photo"]
