"""The per-update path reads the person and writes a draft's answers as plain rows.

`conversations.load_step` gives the person writing as a `PersonRecord` (no ORM row), and
`submissions.set_values` writes a draft's answers with one prepared UPDATE on SQLite (the
ORM elsewhere). Both must read and store exactly what the ORM would, on both databases, and
roll back with the update that made them.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import GuongSang
from storage import conversations, people, sqlite_inline, updates
from storage import submissions as repo
from storage.models import Submission
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
            _count_writes(session, writes)
            repo.set_values(session, held, answers, 321, later)
            await session.flush()  # the ORM must not write the answers a second time
            assert (held.values, held.word_count, held.updated_at) == (answers, 321, later)
            sqlite_driver = sqlite_inline.held_driver(session)
            if sqlite_driver is not None:
                sqlite_driver.set_trace_callback(None)
            if fails:
                raise RuntimeError("the update failed after storing the answers")
    async with app.db.transaction() as session:
        stored = await session.scalar(select(Submission).where(Submission.id == draft.id))
    assert stored is not None
    if fails:
        assert (stored.values, stored.word_count) == (draft.values, draft.word_count)
        return
    assert (stored.values, stored.word_count, stored.updated_at) == (answers, 321, later)
    # One write either way: the driver's own UPDATE on SQLite, the ORM's flush elsewhere.
    assert len(writes) == 1 and writes[0].startswith("UPDATE submissions"), writes


def _count_writes(session: AsyncSession, writes: list[str]) -> None:
    """Record every INSERT/UPDATE the transaction runs (on SQLite, beneath SQLAlchemy too)."""
    driver = sqlite_inline.held_driver(session)
    if driver is not None:
        driver.set_trace_callback(
            lambda statement: (
                writes.append(statement) if statement.startswith(("INSERT", "UPDATE")) else None
            )
        )
        return

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith(("INSERT", "UPDATE")):
            writes.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", before)
