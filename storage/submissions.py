"""Submissions, their attachments and their codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from storage.db import UPSERT_INSERTS
from storage.drafts import DraftRecord
from storage.models import (
    Campaign,
    CodeCounter,
    Submission,
    SubmissionVersion,
    UTCDateTime,
    utcnow,
)
from storage.prepared import Prepared, insert_row

DRAFT = "draft"
SUBMITTED = "submitted"  # waiting for the unit head's confirmation
RETURNED = "returned"  # sent back to the author by the unit head
IN_REVIEW = "in_review"
CHANGES_REQUESTED = "changes_requested"
APPROVED = "approved"
REJECTED = "rejected"
DISCARDED = "discarded"
HONOURED = "honoured"
# Statuses in which the author may change the fields.
EDITABLE = (DRAFT, RETURNED, CHANGES_REQUESTED)


class CampaignFields(Protocol):
    """What storage keeps of a campaign (the campaigns file's validated tables provide it)."""

    @property
    def slug(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def organisation(self) -> str: ...
    @property
    def opens(self) -> date: ...
    @property
    def closes(self) -> date: ...
    @property
    def form(self) -> str: ...
    @property
    def max_words(self) -> int: ...
    @property
    def min_photos(self) -> int: ...
    @property
    def max_photos(self) -> int: ...
    @property
    def focus_areas(self) -> Sequence[str]: ...
    @property
    def require_unit_confirmation(self) -> bool: ...
    @property
    def monthly_quota(self) -> int: ...
    @property
    def monthly_deadline_day(self) -> int: ...


async def sync_campaigns(session: AsyncSession, specs: Sequence[CampaignFields]) -> dict[str, int]:
    """Write the campaigns file into the database; returns slug → id."""
    ids: dict[str, int] = {}
    for spec in specs:
        row = await session.scalar(select(Campaign).where(Campaign.slug == spec.slug))
        if row is None:
            row = Campaign(slug=spec.slug)
            session.add(row)
        row.title = spec.title
        row.organisation = spec.organisation
        row.opens = spec.opens
        row.closes = spec.closes
        row.form = spec.form
        row.settings = {
            "max_words": spec.max_words,
            "min_photos": spec.min_photos,
            "max_photos": spec.max_photos,
            "focus_areas": list(spec.focus_areas),
            "require_unit_confirmation": spec.require_unit_confirmation,
            "monthly_quota": spec.monthly_quota,
            "monthly_deadline_day": spec.monthly_deadline_day,
        }
        await session.flush()
        ids[spec.slug] = row.id
    return ids


# Built once, so SQLAlchemy finds its compiled form in its cache by the statement itself
# instead of assembling `session.get`'s query (and its options) on every update.
_BY_ID = (
    select(Submission)
    .options(joinedload(Submission.attachments))
    .where(Submission.id == bindparam("id"))
)


async def get(session: AsyncSession, submission_id: int) -> Submission | None:
    """A submission by id, with its attachments.

    In one statement: the form needs the photos on most steps, and a second SELECT for them
    (the relationship's own loading) cost as much as the rest of reading the draft. A
    submission this transaction already holds is returned without asking the database,
    as `session.get` does.
    """
    key = session.sync_session.identity_key(Submission, submission_id)
    held = session.sync_session.identity_map.get(key)
    if held is not None:
        return held  # type: ignore[no-any-return]
    rows = await session.scalars(_BY_ID, {"id": submission_id})
    return rows.unique().first()


async def by_code(session: AsyncSession, code: str) -> Submission | None:
    """A submission by its code (GS-2024-0007)."""
    return await session.scalar(select(Submission).where(Submission.code == code.upper()))


async def drafts_of(session: AsyncSession, author_id: int) -> list[Submission]:
    """The person's unfinished drafts, most recently touched first."""
    rows = await session.scalars(
        select(Submission)
        .where(Submission.author_id == author_id, Submission.status == DRAFT)
        .order_by(Submission.updated_at.desc(), Submission.id.desc())
    )
    return list(rows)


async def sent_by(session: AsyncSession, author_id: int, limit: int = 20) -> list[Submission]:
    """The person's submissions past the draft stage, newest first."""
    rows = await session.scalars(
        select(Submission)
        .where(Submission.author_id == author_id, Submission.status.not_in([DRAFT, DISCARDED]))
        .order_by(Submission.submitted_at.desc(), Submission.id.desc())
        .limit(limit)
    )
    return list(rows)


_NEXT_CODE = Prepared(
    {
        dialect: insert(CodeCounter)
        .values(year=bindparam("c_year"), last=1)
        .on_conflict_do_update(
            index_elements=[CodeCounter.year], set_={"last": CodeCounter.last + 1}
        )
        .returning(CodeCounter.last)
        for dialect, insert in UPSERT_INSERTS.items()
    }
)


async def next_code(session: AsyncSession, year: int) -> str:
    """The next GS-<year>-<NNNN> code, from one atomic upsert of the year's counter."""
    last = await _NEXT_CODE.scalar(session, c_year=year)
    return f"GS-{year}-{last:04d}"


async def set_values(
    session: AsyncSession,
    submission: Submission | DraftRecord,
    values: dict[str, Any],
    word_count: int,
    now: datetime,
) -> None:
    """Store a draft's answers, word count and time of change.

    Each step of the form changes a draft's answers. Through the ORM that is a flush of the
    submission (its change tracking, the unit of work, an UPDATE built for the changed
    columns), several times what the UPDATE itself costs. So it is one UPDATE at once, run
    on the driver (`storage.prepared`), and an ORM object is told these are the stored
    values (so the ORM does not write them again). An ORM object not yet written is left to
    the ORM's next flush.
    """
    if isinstance(submission, Submission) and not inspect(submission).persistent:
        submission.values = values
        submission.word_count = word_count
        submission.updated_at = now
        return
    await _SET_VALUES.rows(session, b_id=submission.id, values=values, words=word_count, at=now)
    if isinstance(submission, DraftRecord):
        submission.values = values
        submission.word_count = word_count
        return
    set_committed_value(submission, "values", values)
    set_committed_value(submission, "word_count", word_count)
    set_committed_value(submission, "updated_at", now)


_COLUMNS = Submission.__table__.c
_SET_VALUES = Prepared(
    update(Submission.__table__)
    .where(_COLUMNS.id == bindparam("b_id"))
    .values(
        {
            _COLUMNS["values"]: bindparam("values"),
            _COLUMNS.word_count: bindparam("words"),
            _COLUMNS.updated_at: bindparam("at"),
        }
    )
)


# A (re)submission in one UPDATE: a time or decider left None keeps the stored one.
_SEND = Prepared(
    update(Submission.__table__)
    .where(_COLUMNS.id == bindparam("b_id"))
    .values(
        {
            _COLUMNS.code: bindparam("s_code"),
            _COLUMNS.status: bindparam("s_status"),
            _COLUMNS.version: bindparam("s_version"),
            _COLUMNS.unit_id: bindparam("s_unit"),
            _COLUMNS.channel: bindparam("s_channel"),
            _COLUMNS.chat_id: bindparam("s_chat"),
            _COLUMNS["values"]: bindparam("s_values"),
            _COLUMNS.status_since: bindparam("s_at"),
            _COLUMNS.updated_at: bindparam("s_at"),
            _COLUMNS.submitted_at: func.coalesce(
                bindparam("s_submitted_at", type_=UTCDateTime()), _COLUMNS.submitted_at
            ),
            _COLUMNS.decided_by_id: func.coalesce(
                bindparam("s_decided_by", type_=_COLUMNS.decided_by_id.type),
                _COLUMNS.decided_by_id,
            ),
            _COLUMNS.decided_at: func.coalesce(
                bindparam("s_decided_at", type_=UTCDateTime()), _COLUMNS.decided_at
            ),
        }
    )
)


async def send(
    session: AsyncSession,
    submission: Submission | DraftRecord,
    *,
    code: str | None,
    status: str,
    version: int,
    unit_id: int | None,
    channel: str,
    chat_id: str,
    values: dict[str, Any],
    now: datetime,
    submitted_at: datetime | None = None,
    decided_by_id: int | None = None,
) -> None:
    """Record a story as (re)submitted: its code, status, version, unit, the chat it came
    from and its answers, in one UPDATE on the driver (`storage.prepared`); `submitted_at`
    for a first submission, `decided_by_id` when its sender's own confirmation counts as the
    unit's. `submission` is given the new values (an ORM row as the stored ones, any of its
    own unwritten changes written first)."""
    if isinstance(submission, Submission) and session.sync_session.dirty:
        await session.flush()
    decided_at = now if decided_by_id is not None else None
    await _SEND.rows(
        session,
        b_id=submission.id,
        s_code=code,
        s_status=status,
        s_version=version,
        s_unit=unit_id,
        s_channel=channel,
        s_chat=chat_id,
        s_values=values,
        s_at=now,
        s_submitted_at=submitted_at,
        s_decided_by=decided_by_id,
        s_decided_at=decided_at,
    )
    sent = {
        "code": code,
        "status": status,
        "version": version,
        "unit_id": unit_id,
        "channel": channel,
        "chat_id": chat_id,
        "values": values,
    }
    if isinstance(submission, DraftRecord):
        for name, value in sent.items():
            setattr(submission, name, value)
        return
    sent |= {"status_since": now, "updated_at": now}
    if submitted_at is not None:
        sent["submitted_at"] = submitted_at
    if decided_by_id is not None:
        sent |= {"decided_by_id": decided_by_id, "decided_at": decided_at}
    for name, value in sent.items():
        set_committed_value(submission, name, value)


def touch(submission: Submission, now: datetime) -> None:
    """Mark the submission as changed now (drafts are listed by it)."""
    submission.updated_at = now


async def transition(
    session: AsyncSession,
    submission: Submission,
    from_statuses: tuple[str, ...],
    to_status: str,
    version: int,
    now: datetime,
    decided_by_id: int | None = None,
) -> bool:
    """Compare-and-set the status: only one of several concurrent decisions succeeds."""
    values: dict[str, object] = {"status": to_status, "status_since": now, "updated_at": now}
    if decided_by_id is not None:
        values |= {"decided_by_id": decided_by_id, "decided_at": now}
    result = await session.execute(
        update(Submission)
        .where(
            Submission.id == submission.id,
            Submission.status.in_(from_statuses),
            Submission.version == version,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(submission)
    return result.rowcount == 1


# Where a version keeps its photos' [sha256, stored path] pairs among its values.
PHOTOS_KEY = "_photos"


_INSERT_VERSION = Prepared(insert_row(SubmissionVersion.__table__, "v_"))


async def snapshot(session: AsyncSession, submission: Submission | DraftRecord) -> None:
    """Keep the fields as sent for review under the submission's current version (one
    INSERT on the driver: the submission's own changes must be flushed first)."""
    photos = [a for a in submission.attachments if a.kind == "photo"]
    await _INSERT_VERSION.rows(
        session,
        v_submission_id=submission.id,
        v_version=submission.version,
        # The photos as sent, by their content: the files stay on disk after a later version
        # replaces them, and a swapped photo shows as a change even when the count is equal.
        v_values={**submission.values, PHOTOS_KEY: [[a.sha256, a.stored_path] for a in photos]},
        v_word_count=submission.word_count,
        v_photo_count=len(photos),
        v_created_at=utcnow(),
    )


async def version(
    session: AsyncSession, submission_id: int, number: int
) -> SubmissionVersion | None:
    """One kept version of a submission."""
    return await session.scalar(
        select(SubmissionVersion).where(
            SubmissionVersion.submission_id == submission_id, SubmissionVersion.version == number
        )
    )


async def waiting(session: AsyncSession, statuses: tuple[str, ...]) -> list[Submission]:
    """Submissions in these statuses, longest waiting first."""
    rows = await session.scalars(
        select(Submission)
        .where(Submission.status.in_(statuses))
        .order_by(Submission.status_since, Submission.id)
    )
    return list(rows)
