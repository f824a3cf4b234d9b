"""The record of handled updates: a redelivered update is refused, and records old enough that
no platform sends them again are dropped instead of growing with every message ever sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.app import UPDATES_KEPT, GuongSang
from storage import updates
from storage.models import ProcessedUpdate, utcnow
from tests.drivers import typed


async def keys(app: GuongSang) -> set[str]:
    async with app.db.transaction() as session:
        return set(await session.scalars(select(ProcessedUpdate.update_key)))


async def test_old_records_are_dropped_and_recent_ones_still_refuse_a_redelivery(
    app: GuongSang,
) -> None:
    first, second = typed("lan", "/start"), typed("lan", "Nguyễn Thị Hoa")
    assert (await app.handle(first)).replies
    assert (await app.handle(second)).replies
    async with app.db.transaction() as session:
        await session.execute(
            update(ProcessedUpdate)
            .where(ProcessedUpdate.update_key == first.update_key)
            .values(at=utcnow() - UPDATES_KEPT - timedelta(minutes=1))
        )
        await session.execute(
            update(ProcessedUpdate)
            .where(ProcessedUpdate.update_key == second.update_key)
            .values(at=utcnow() - UPDATES_KEPT + timedelta(minutes=5))
        )

    assert await app.forget_old_updates() == 1
    assert await keys(app) == {second.update_key}
    assert not (await app.handle(second)).replies, "a recent redelivery is still refused"
    assert await app.forget_old_updates() == 0


async def test_forget_before_drops_only_older_claims(app: GuongSang) -> None:
    async with app.db.transaction() as session:
        for key in ("a", "b", "c"):
            assert await updates.claim(session, "zalo", key)
        await session.execute(
            update(ProcessedUpdate)
            .where(ProcessedUpdate.update_key.in_(["a", "b"]))
            .values(at=utcnow() - timedelta(days=10))
        )
    async with app.db.transaction() as session:
        assert await updates.forget_before(session, utcnow() - timedelta(days=3)) == 2
        assert not await updates.claim(session, "zalo", "c")
        assert await updates.claim(session, "zalo", "a"), "forgotten, so new again"
