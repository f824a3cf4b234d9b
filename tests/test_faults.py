"""Faults the bot must ride out: a flood from one person, a 1 MB message, 200 photos in a
row, SQLite busy, and kill -9 in the middle of a submission."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from bot.app import GuongSang
from bot.settings import Settings
from handlers.flood import FloodGuard
from handlers.text_rules import count_words
from storage.models import Attachment, Submission
from tests.apps import FIXTURES, REPO, Clock, start_app
from tests.backends import sqlite_only
from tests.drivers import (
    Chat,
    fill_until_story,
    jpeg,
    register,
    text_of,
    to_story_step,
    typed,
    typed_photo,
)
from tests.fakes.telegram_server import FakeTelegram


async def draft_of(app: GuongSang, chat: str) -> Submission:
    async with app.db.transaction() as session:
        found = await session.scalar(select(Submission).where(Submission.chat_id == chat))
        assert found is not None
        return found


async def test_a_flood_from_one_person_is_refused_politely_once(app: GuongSang) -> None:
    await to_story_step(app, "flood")
    await to_story_step(app, "calm")
    now = [0.0]
    app.services.flood = FloodGuard(rate=10, burst=30, clock=lambda: now[0])
    taken: list[str] = []
    refusals = 0
    # 100 messages in two seconds: 50 a second.
    for n in range(100):
        now[0] = n / 50
        text = f"Tin số {n}."
        response = await app.handle(typed("flood", text))
        said_back = " ".join(r.text for r in response.replies)
        if "nhanh quá" in said_back:
            refusals += 1
        elif response.replies:
            taken.append(text)
        if n == 50:
            other = await app.handle(typed("calm", "Cô Lan dạy học."))
            assert "từ" in other.replies[0].text and "nhanh quá" not in other.replies[0].text
    assert refusals == 1, "one polite answer per flood, not one per message"
    assert 30 <= len(taken) <= 45, len(taken)
    story = (await draft_of(app, "flood")).values["story"]
    assert all(t in story for t in taken) and count_words(story) == 3 * len(taken)
    now[0] = 10.0
    assert "nhanh quá" not in (await app.handle(typed("flood", "Tin sau."))).replies[0].text


def test_a_workers_clock_behind_the_others_does_not_spend_the_budget() -> None:
    now = [100.0]
    guard = FloodGuard(rate=1, burst=3, clock=lambda: now[0])
    assert guard.admit("telegram", "1") == (True, False)
    now[0] = 40.0  # the next message reaches a worker whose clock is a minute behind
    assert [guard.admit("telegram", "1")[0] for _ in range(2)] == [True, True]


async def test_a_1_mb_message_is_measured_and_refused_without_losing_the_draft(
    app: GuongSang,
) -> None:
    await to_story_step(app, "big")
    await app.handle(typed("big", "Cô Lan dạy học miễn phí."))
    huge = ("Lan " * 262_144)[:1_048_576]
    started = time.perf_counter()
    response = await app.handle(typed("big", huge))
    elapsed = time.perf_counter() - started
    text = response.replies[0].text
    assert ("vượt" in text and "262.144" in text) or "262.147" in text, text[:300]
    assert (await draft_of(app, "big")).values["story"] == "Cô Lan dạy học miễn phí."
    print(f"\n1 MB message handled in {elapsed * 1000:.0f} ms")


async def test_200_photos_in_a_row_keep_ten_and_say_so(app: GuongSang) -> None:
    await to_story_step(app, "photos")
    await app.handle(typed("photos", "Cô Lan dạy học miễn phí."))
    await app.handle(typed("photos", "1"))  # ✅ Xong phần bài viết
    now = [0.0]
    app.services.flood = FloodGuard(clock=lambda: now[0])
    answers = []
    for n in range(200):
        now[0] = n * 0.2  # five a second: a fast phone, within the per-person budget
        response = await app.handle(typed_photo("photos", jpeg(n)))
        answers.append(" ".join(r.text for r in response.replies))
    async with app.db.transaction() as session:
        draft = await session.scalar(select(Submission).where(Submission.chat_id == "photos"))
        assert draft is not None
        count = len(
            (
                await session.scalars(
                    select(Attachment).where(Attachment.submission_id == draft.id)
                )
            ).all()
        )
    assert count == 10
    assert all(answers), "every photo got an answer"
    assert sum("tối đa" in a or "đủ" in a for a in answers[10:]) >= 180, answers[10][:300]


@sqlite_only()
async def test_sqlite_busy_waits_for_the_lock_instead_of_failing(
    app: GuongSang, settings: Settings
) -> None:
    await to_story_step(app, "busy")
    path = settings.resolved_database_url.split("///", 1)[1]
    held = threading.Event()

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(1.5)
        other.execute("COMMIT")
        other.close()

    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    await asyncio.to_thread(held.wait)
    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    response = await app.handle(typed("busy", "Cô Lan dạy học."))
    waited = time.monotonic() - started
    ticker.cancel()
    await asyncio.to_thread(holder.join)
    assert "4 / 2.000 từ" in response.replies[0].text
    # The wait for the other process's lock happened on the event loop, not inside SQLite:
    # everything else the bot does (other chats, polling, the web app) went on meanwhile.
    assert waited > 1.0 and ticks > waited / 0.01 / 3, (waited, ticks)
    assert (await draft_of(app, "busy")).values["story"] == "Cô Lan dạy học."


async def real_bot(
    settings: Settings, clock: Clock, telegram: FakeTelegram, tmp_path: Path
) -> tuple[Settings, Callable[[], Awaitable[asyncio.subprocess.Process]]]:
    """The settings of a real `python -m bot run` on the fake Telegram, and a way to start one
    (the database migrated, the units imported, a campaign open on the real clock)."""
    config = tmp_path / "campaigns.toml"
    text = (FIXTURES / "campaigns.toml").read_text(encoding="utf-8")
    config.write_text(
        text.replace("opens = 2023-09-20", "opens = 2020-01-01").replace(
            "closes = 2024-04-03", "closes = 2099-12-31"
        ),
        encoding="utf-8",
    )
    settings = settings.model_copy(update={"config": config})
    app = await start_app(settings, clock)  # units imported, schema ready
    await app.close()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")},
        "GUONGSANG_DATA_DIR": str(settings.data_dir),
        "GUONGSANG_DATABASE_URL": settings.resolved_database_url,
        "GUONGSANG_CONFIG": str(config),
        "GUONGSANG_TELEGRAM_TOKEN": telegram.token,
        "GUONGSANG_TELEGRAM_API_URL": telegram.api_root,
    }

    async def bot() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", env=env, cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

    return settings, bot


async def test_kill_9_mid_submission_loses_nothing(
    settings: Settings, clock: Clock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    # The child runs on the real clock: a campaign open today.
    settings, bot = await real_bot(settings, clock, telegram, tmp_path)
    first = await bot()
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    await fill_until_story(teacher)
    parts = [
        "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn suốt ba năm.",
        "Các em tiến bộ rõ rệt.",
        "Cô được phụ huynh tin yêu.",
    ]
    total = count_words(" ".join(parts))
    assert f"{count_words(parts[0])} / 2.000 từ" in await teacher.send(parts[0])
    # Killed while the next message is on its way: no shutdown, no goodbye.
    await teacher.user.send_text(parts[1])
    first.send_signal(signal.SIGKILL)
    await first.wait()
    second = await bot()
    try:
        replies = text_of(await teacher.replies())
        # The message sent while the bot died was either committed before the kill (and is
        # answered, or not, now) or is taken after the restart: never lost, never twice.
        text = await teacher.send(parts[2])
        assert f"{total} / 2.000 từ" in text, replies + "\n---\n" + text
        await teacher.press("Xong phần bài viết")
        await teacher.photo(jpeg(1))
        await teacher.replies()
        await teacher.press("Xong phần ảnh")
        assert "-0001" in await teacher.press("Gửi bài")
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)


async def test_a_part_committed_but_not_answered_before_a_kill_is_not_stored_twice(
    settings: Settings, clock: Clock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    settings, bot = await real_bot(settings, clock, telegram, tmp_path)
    first = await bot()
    teacher = Chat(telegram.user(102, "Hoa"))
    await register(teacher)
    await fill_until_story(teacher)
    part = "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn suốt ba năm."
    # The bot answers only after its commit; the answer is held at the platform and the bot
    # is killed there, between the part's commit and its answer reaching the teacher.
    telegram.delay_next("sendMessage", 600)
    start = len(telegram.calls)
    await teacher.user.send_text(part)
    await telegram.wait_for_call(
        "sendMessage", lambda params: "2.000 từ" in str(params.get("text")), start=start
    )
    first.send_signal(signal.SIGKILL)
    await first.wait()
    second = await bot()
    try:
        # The teacher saw no answer and sends the same part again.
        text = await teacher.send(part)
        assert "đã nhận phần này rồi" in text, text
        assert f"{count_words(part)} / 2.000 từ" in text, text
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)
    app = await start_app(settings, clock, with_units=False)
    try:
        async with app.db.transaction() as session:
            story = await session.scalar(select(Submission))
            assert story is not None and story.values["story"] == part
    finally:
        await app.close()
