"""The outbox worker is woken only when there is something to send, and a wake-up with
nothing to send costs one query: most messages people send queue nothing for anyone else."""

from __future__ import annotations

from sqlalchemy import event, func, select

from bot.app import GuongSang
from bot.channels.telegram.channel import standalone_sender
from handlers.notify import Notifier
from handlers.types import Reply
from storage.models import OutboxMessage
from tests.drivers import jpeg, to_story_step, typed, typed_photo
from tests.fakes.telegram_server import FakeTelegram


async def outbox_rows(app: GuongSang) -> int:
    async with app.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_only_a_step_that_queues_messages_says_so(app: GuongSang) -> None:
    await to_story_step(app, "lan")
    steps = [
        typed("lan", "Cô Lan mở lớp học miễn phí."),
        typed("lan", "1"),  # ✅ Xong phần bài viết
        typed_photo("lan", jpeg(1)),
        typed("lan", "1"),  # ✅ Xong phần ảnh
    ]
    for step in steps:
        response = await app.handle(step)
        assert response.replies and not response.queued
    assert await outbox_rows(app) == 0

    sent = await app.handle(typed("lan", "1"))  # 📨 Gửi bài: the unit's head is told
    assert "GS-2024-0001" in sent.replies[0].text
    assert sent.queued
    assert await outbox_rows(app) > 0


async def test_a_wake_up_with_nothing_due_costs_one_claim(
    app: GuongSang, telegram: FakeTelegram
) -> None:
    bot, sender = await standalone_sender(telegram.token, telegram.api_root)
    app.delivery.register("telegram", sender)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await app.delivery.run_once() == 0
        assert sum("FROM outbox" in s for s in statements) == 1, statements

        # With a backlog, workers are added while claims come back full: sixteen slow sends
        # to sixteen chats overlap instead of going one after another.
        async with app.db.transaction() as session:
            notifier = Notifier(session, app.services)
            for n in range(16):
                await notifier.to_chat("telegram", str(7000 + n), Reply(f"Tin {n}"))
        # Four sends must be under way at once before any is answered.
        telegram.gate("sendMessage", together=4)
        assert await app.delivery.run_once() == 16
    finally:
        event.remove(app.db.engine.sync_engine, "before_cursor_execute", record)
        await bot.shutdown()
    arrivals = [at for at, method, _chat in telegram.arrivals if method == "sendMessage"]
    assert len(arrivals) == 16
    assert all(len(telegram.sent(7000 + n)) == 1 for n in range(16))
