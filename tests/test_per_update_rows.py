"""The per-update path reads the person and writes a draft's answers as plain rows.

`conversations.load_step` gives the person writing as a `PersonRecord` (no ORM row), and
`submissions.set_values` writes a draft's answers with one prepared UPDATE on SQLite (the
ORM elsewhere); `drafts.read` gives the form's draft as plain values, which it changes through
`storage.drafts` and `set_values`. They must read and store exactly what the ORM would, on
both databases, and roll back with the update that made them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import GuongSang
from storage import conversations, drafts, people, roles, sqlite_inline, updates
from storage import submissions as repo
from storage.models import Attachment, Submission, Unit
from storage.people import PersonRecord
from tests.factories import story


async def test_the_person_writing_comes_as_plain_values(app: GuongSang) -> None:
    async with app.db.transaction() as session:
        person = await people.create_with_identity(session, "telegram", "u7", "c7", "Hoa")
        conv, found = await conversations.load_step(session, "telegram", "c7", "u7")
        # A chat never seen: the person still comes, from their identity alone.
        assert conv.is_new and isinstance(found, PersonRecord) and found.id == person.id
        assert not found.registered
        person.full_name, person.phone, person.unit_id = "Nguyễn Thị Hoa", "0912345678", 1
        conv.step, conv.data = "form", {"index": 1, "ghi chú": "Hà Nội"}
        await conversations.save_step(session, conv)
    async with app.db.transaction() as session:
        conv, found = await conversations.load_step(session, "telegram", "c7", "u7")
        stranger = await conversations.load_step(session, "telegram", "c7", "someone else")
    assert (conv.step, conv.data, conv.is_new) == ("form", {"index": 1, "ghi chú": "Hà Nội"}, False)
    assert isinstance(found, PersonRecord) and found.registered
    assert (found.full_name, found.phone, found.unit_id) == ("Nguyễn Thị Hoa", "0912345678", 1)
    # Someone else writing in that chat is not its owner.
    assert stranger[1] is None


@pytest.mark.parametrize("fails", [False, True])
async def test_a_drafts_answers_are_stored_as_the_orm_stores_them(
    app: GuongSang, fails: bool
) -> None:
    draft = await story(app, code="GS-2024-0042", status=repo.DRAFT)
    later = app.services.now() + timedelta(minutes=5)
    answers = {**draft.values, "title": "Cô giáo “của” những buổi chiều", "_reached": 4}
    writes: list[str] = []
    with contextlib.suppress(RuntimeError):
        async with app.db.transaction() as session:
            # As on the per-update path: the update's claim finds the driver first.
            await updates.claim(session, "telegram", f"rows-{fails}")
            held = await repo.get(session, draft.id)
            assert held is not None
            stop = await _count_writes(session, writes)
            await repo.set_values(session, held, answers, 321, later)
            await session.flush()  # the ORM must not write the answers a second time
            assert (held.values, held.word_count, held.updated_at) == (answers, 321, later)
            stop()
            if fails:
                raise RuntimeError("the update failed after storing the answers")
    async with app.db.transaction() as session:
        stored = await session.scalar(select(Submission).where(Submission.id == draft.id))
    assert stored is not None
    if fails:
        assert (stored.values, stored.word_count) == (draft.values, draft.word_count)
        return
    assert (stored.values, stored.word_count, stored.updated_at) == (answers, 321, later)
    # One write, run on the driver; the ORM's flush did not write the answers again.
    assert len(writes) == 1 and writes[0].startswith("UPDATE submissions"), writes


async def _count_writes(session: AsyncSession, writes: list[str]) -> Callable[[], None]:
    """Record every INSERT/UPDATE the transaction runs, beneath SQLAlchemy too (on the
    driver: sqlite3's trace, asyncpg's query logger). Returns what stops the recording."""

    def seen(statement: str) -> None:
        if statement.lstrip().startswith(("INSERT", "UPDATE")):
            writes.append(statement.lstrip())

    driver = await sqlite_inline.driver_of(session)
    if driver is not None:
        driver.set_trace_callback(seen)
        return lambda: driver.set_trace_callback(None)
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    assert raw is not None

    def logged(record: Any) -> None:
        seen(record.query)

    raw.add_query_logger(logged)
    return lambda: raw.remove_query_logger(logged)


@pytest.mark.parametrize("fails", [False, True])
async def test_a_draft_comes_as_plain_values_and_its_changes_are_stored(
    app: GuongSang, fails: bool
) -> None:
    draft = await story(app, code="GS-2024-0043", status=repo.DRAFT, photos=2)
    later = app.services.now() + timedelta(minutes=5)
    answers = {**draft.values, "title": "Người thầy của bản Lóng Luông", "_reached": 5}
    with contextlib.suppress(RuntimeError):
        async with app.db.transaction() as session:
            await updates.claim(session, "telegram", f"plain-{fails}")
            read = await drafts.read(session, draft.id)
            assert isinstance(read, drafts.DraftRecord)
            # The same attributes, and values, as the ORM row has.
            for name in ("id", "campaign_id", "author_id", "unit_id", "status", "version"):
                assert getattr(read, name) == getattr(draft, name), name
            assert (read.code, read.values, read.word_count) == (
                draft.code,
                draft.values,
                draft.word_count,
            )
            assert [(a.kind, a.sha256, a.stored_path) for a in read.attachments] == [
                (a.kind, a.sha256, a.stored_path) for a in draft.attachments
            ]
            await repo.set_values(session, read, answers, 45, later)
            assert (read.values, read.word_count) == (answers, 45)
            assert await drafts.remove_attachments(session, read, "photo") == 2
            assert read.attachments == []
            await drafts.add_attachment(
                session,
                read,
                Attachment(
                    kind="photo",
                    channel="telegram",
                    stored_path="ab/new.jpg",
                    sha256="ab" * 32,
                    size=10,
                ),
            )
            assert [a.stored_path for a in read.attachments] == ["ab/new.jpg"]
            if fails:
                raise RuntimeError("the update failed after changing the draft")
            # Read again in the same transaction: what was written, as the ORM reads it.
            again = await drafts.read(session, draft.id)
            assert again is not None and again.values == answers
            assert [a.stored_path for a in again.attachments] == ["ab/new.jpg"]
    stored = await _submission(app, draft.id)
    if fails:
        assert (stored.values, stored.word_count) == (draft.values, draft.word_count)
        assert len(stored.attachments) == 2
        return
    assert (stored.values, stored.word_count, stored.updated_at) == (answers, 45, later)
    assert [a.stored_path for a in stored.attachments] == ["ab/new.jpg"]


async def test_a_draft_this_transaction_holds_comes_as_it_is(app: GuongSang) -> None:
    draft = await story(app, code="GS-2024-0044", status=repo.DRAFT)
    async with app.db.transaction() as session:
        held = await repo.get(session, draft.id)
        assert held is not None
        held.values = {**held.values, "title": "Chưa ghi"}  # not flushed yet
        assert await drafts.read(session, draft.id) is held
        assert await drafts.read(session, draft.id + 1000) is None


async def test_a_units_heads_are_its_own_only(app: GuongSang) -> None:
    async with app.db.transaction() as session:
        units = list(await session.scalars(select(Unit).order_by(Unit.id).limit(2)))
        lan = await people.create_with_identity(session, "telegram", "h1", "h1", "Lan")
        binh = await people.create_with_identity(session, "telegram", "h2", "h2", "Bình")
        await roles.grant(session, lan.id, roles.UNIT_HEAD, unit_id=units[0].id)
        await roles.grant(session, lan.id, roles.UNIT_HEAD, unit_id=units[0].id)  # twice
        await roles.grant(session, binh.id, roles.UNIT_HEAD, unit_id=units[1].id)
        await roles.grant(session, binh.id, roles.REVIEWER)
    async with app.db.transaction() as session:
        assert [p.id for p in await roles.unit_heads(session, units[0].id)] == [lan.id]
        assert [p.id for p in await roles.unit_heads(session, units[1].id)] == [binh.id]
        assert await roles.heads_unit(session, lan.id, units[0].id)
        assert not await roles.heads_unit(session, lan.id, units[1].id)
        assert not await roles.heads_unit(session, binh.id, units[0].id)


async def _submission(app: GuongSang, submission_id: int) -> Submission:
    async with app.db.transaction() as session:
        stored = await repo.get(session, submission_id)
    assert stored is not None
    return stored
