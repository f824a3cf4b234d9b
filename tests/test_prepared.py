"""`storage.prepared`: a fixed Core read gives on SQLite's driver what the session gives, sees
the transaction's own uncommitted rows, and refuses what it cannot run as is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime, Text, bindparam, cast, event, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import GuongSang
from storage import audience, conversations, drafts, people, roles, units, updates
from storage import submissions as repo
from storage.models import (
    Attachment,
    AudienceMember,
    Person,
    RoleGrant,
    Submission,
    Unit,
    UTCDateTime,
    utcnow,
)
from storage.prepared import Prepared
from tests.backends import sqlite_only
from tests.factories import add_audience

_GRANTS = Prepared(
    select(RoleGrant.person_id, RoleGrant.unit_id)
    .where(RoleGrant.role == roles.UNIT_HEAD, RoleGrant.unit_id == bindparam("unit"))
    .order_by(RoleGrant.id)
    .limit(5)
)


async def test_rows_are_what_the_session_reads(app: GuongSang) -> None:
    async with app.db.transaction() as session:
        unit_ids = list(await session.scalars(select(Unit.id).order_by(Unit.id).limit(2)))
        person = await people.create_with_identity(session, "telegram", "u1", "c1", "Lan")
        await roles.grant(session, person.id, roles.UNIT_HEAD, unit_id=unit_ids[0])
        await session.flush()
        # Read in the transaction that wrote it, before any COMMIT.
        found = await _GRANTS.rows(session, unit=unit_ids[0])
        statement = _GRANTS.statement(app.db.engine.dialect.name)
        through_session = (await session.execute(statement, {"unit": unit_ids[0]})).all()
        assert found == [tuple(row) for row in through_session] == [(person.id, unit_ids[0])]
        assert await _GRANTS.first(session, unit=unit_ids[1]) is None
        assert await _GRANTS.scalar(session, unit=unit_ids[0]) == person.id
        assert await roles.heads_unit(session, person.id, unit_ids[0])
        assert not await roles.heads_unit(session, person.id, unit_ids[1])
        assert await units.exists(session, unit_ids[0])
        assert not await units.exists(session, 987_654)
        unit = await session.get(Unit, unit_ids[0])
        assert unit is not None
        assert await units.brief(session, unit.id) == units.UnitBrief(
            unit.id, unit.name, unit.level, unit.organisation_id
        )
        assert await units.brief(session, 987_654) is None
        assert await units.brief(session, None) is None


async def new_draft(app: GuongSang, session: AsyncSession, chat: str) -> drafts.DraftRecord:
    """A new person's empty draft in the first unit, written on the driver."""
    unit_id = await session.scalar(select(Unit.id).limit(1))
    person = await people.create_with_identity(session, "telegram", chat, chat, "Hoa")
    return await drafts.create(
        session, campaign_id=next(iter(app.services.campaign_ids.values())),
        author_id=person.id, unit_id=unit_id, status=repo.DRAFT, channel="telegram",
        chat_id=chat,
    )  # fmt: skip


async def test_a_story_written_on_the_driver_is_what_the_orm_reads(app: GuongSang) -> None:
    """A draft, its photo, its code and its kept version, each written in one statement on
    the driver, read back through the ORM in the same transaction."""
    async with app.db.transaction() as session:
        draft = await new_draft(app, session, "c9")
        unit_id, person_id, campaign_id = draft.unit_id, draft.author_id, draft.campaign_id
        assert (draft.status, draft.version, draft.values, draft.attachments) == (
            repo.DRAFT, 1, {}, [],
        )  # fmt: skip
        photo = Attachment(
            kind="photo", channel="telegram", platform_file_id="f1", stored_path="ab/cd.jpg",
            sha256="ab" * 32, size=123, mime_type="image/jpeg", file_name=None,
        )  # fmt: skip
        await drafts.add_attachment(session, draft, photo)
        code = await repo.next_code(session, 2026)
        assert await repo.next_code(session, 2026) == code[:-4] + f"{int(code[-4:]) + 1:04d}"
        row = await session.get(Submission, draft.id)
        assert row is not None
        assert (row.author_id, row.unit_id, row.campaign_id, row.chat_id, row.values) == (
            person_id, unit_id, campaign_id, "c9", {},
        )  # fmt: skip
        assert [(a.sha256, a.stored_path, a.size) for a in row.attachments] == [
            ("ab" * 32, "ab/cd.jpg", 123)
        ]
        row.values = {"title": "Cô Lan"}
        await session.flush()
        await repo.snapshot(session, row)
        kept = await repo.version(session, row.id, 1)
        assert kept is not None and kept.photo_count == 1
        assert kept.values == {"title": "Cô Lan", repo.PHOTOS_KEY: [["ab" * 32, "ab/cd.jpg"]]}


async def test_a_profile_saved_on_the_driver_shows_in_the_orm_row_held(app: GuongSang) -> None:
    async with app.db.transaction() as session:
        unit_id = await session.scalar(select(Unit.id).limit(1))
        record = await people.create_record(session, "telegram", "u7", "c7", "Lan")
        held = await session.get(Person, record.id)
        assert held is not None and held.full_name is None
        saved = await people.save_profile(
            session, record.id, full_name="Nguyễn Thị Lan", unit_id=unit_id,
            phone="0912345678", at=app.services.now(),
        )  # fmt: skip
        assert saved.registered and saved.unit_id == unit_id
        assert (held.full_name, held.phone, held.unit_id) == (
            "Nguyễn Thị Lan",
            "0912345678",
            unit_id,
        )
        assert held.unit is not None and held.unit.id == unit_id
        identity = await people.by_identity(session, "telegram", "u7")
        assert identity is not None and identity.id == record.id


async def test_it_runs_on_the_driver_once_the_transaction_has_begun(app: GuongSang) -> None:
    """SQLite's driver at once; asyncpg's once SQLAlchemy has begun its transaction there
    (asyncpg begins one with a connection's first statement), which the first statement
    run through SQLAlchemy does."""
    executed: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        executed.append(statement)

    engine = app.db.engine.sync_engine
    async with app.db.transaction() as session:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            assert await updates.claim(session, "telegram", "prepared")
            first = list(executed)
            assert await units.exists(session, 987_654) is False
            await conversations.lock_chat(session, "telegram", "42")
            _step, person = await conversations.load_step(session, "telegram", "42", "u42")
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert person is None
    # Only the claim went through SQLAlchemy, and only on PostgreSQL, to begin the
    # transaction on asyncpg; the rest ran on the driver, inside that transaction.
    assert executed == first and len(first) == (0 if app.db.is_sqlite else 1), executed
    async with app.db.transaction() as session:
        assert not await updates.claim(session, "telegram", "prepared")


async def test_a_count_of_changed_rows_on_every_path(app: GuongSang) -> None:
    """`changed` counts through SQLAlchemy (the transaction's first statement on PostgreSQL)
    and on the driver (SQLite's, asyncpg's once the transaction has begun there)."""
    async with app.db.transaction() as session:
        assert await updates.claim(session, "telegram", "count-1")  # SQLAlchemy on PostgreSQL
        assert await updates.claim(session, "telegram", "count-2")  # the driver on both
        assert not await updates.claim(session, "telegram", "count-2")
        assert not await updates.claim(session, "telegram", "count-1")
    async with app.db.transaction() as session:
        assert not await updates.claim(session, "telegram", "count-1")


async def test_a_chats_subscription(app: GuongSang) -> None:
    await add_audience(app, [555])
    async with app.db.transaction() as session:
        assert await audience.subscribed(session, "telegram", "555")
        assert not await audience.subscribed(session, "telegram", "556")
        await session.execute(
            update(AudienceMember).where(AudienceMember.chat_id == "555").values(active=False)
        )
        assert not await audience.subscribed(session, "telegram", "555")


@sqlite_only()
async def test_a_missing_parameter_or_an_in_list_is_refused(app: GuongSang) -> None:
    listed = Prepared(select(Unit.id).where(Unit.id.in_(bindparam("ids", expanding=True))))
    async with app.db.transaction() as session:
        await updates.claim(session, "telegram", "refused")
        with pytest.raises(KeyError):
            await _GRANTS.rows(session)
        with pytest.raises(ValueError):
            await listed.rows(session, ids=[1, 2])


def test_timestamps_go_to_sqlite_as_sqlalchemy_writes_them() -> None:
    """`UTCDateTime` formats for SQLite in one step; the text is what SQLAlchemy's own two
    steps make of it (so old rows and new compare as text), and a naive time is refused."""
    dialect = sqlite.dialect()
    column = UTCDateTime()
    # What the ORM binds: the column's type as the dialect adapts it.
    fast = column.dialect_impl(dialect).bind_processor(dialect)
    formats = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None and formats is not None

    def reference(value: datetime | None) -> str | None:
        return formats(column.process_bind_param(value, dialect))

    hanoi = timezone(timedelta(hours=7))
    for value in (
        datetime(2024, 1, 10, 3, 0, tzinfo=UTC),
        datetime(2024, 1, 10, 10, 0, 0, 5, tzinfo=hanoi),
        datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(999, 2, 3, 4, 5, 6, tzinfo=UTC),
        None,
    ):
        assert fast(value) == reference(value), value
    assert fast(datetime(2024, 1, 10, 10, 0, tzinfo=hanoi)) == "2024-01-10 03:00:00.000000"
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2024, 1, 10, 3, 0))


async def test_json_is_stored_as_readable_utf8_and_reads_back(app: GuongSang) -> None:
    """Answers in Vietnamese are kept as they read, not as \\u escapes (a third of the room,
    and a draft is read and written whole at every step), on the ORM's path and the driver's."""
    async with app.db.transaction() as session:
        draft = await new_draft(app, session, "c7")
        answers = {"exemplar_name": "Nguyễn Thị Lan", "story": "Cô giáo của những buổi chiều"}
        await repo.set_values(session, draft, answers, 6, utcnow())
        stored = await session.scalar(
            select(cast(Submission.__table__.c["values"], Text)).where(Submission.id == draft.id)
        )
        assert stored is not None and "Nguyễn Thị Lan" in stored and "\\u" not in stored
        row = await session.get(Submission, draft.id)
        assert row is not None and row.values == answers


async def test_json_holding_half_a_character_is_still_stored(app: GuongSang) -> None:
    """A lone surrogate has no UTF-8: such a value is stored escaped, as before, not lost."""
    async with app.db.transaction() as session:
        draft = await new_draft(app, session, "c8")
        answers = {"exemplar_name": "Hoa \ud83c"}
        await repo.set_values(session, draft, answers, 1, utcnow())
        row = await session.get(Submission, draft.id)
        assert row is not None and row.values == answers
