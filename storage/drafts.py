"""A draft as plain values, for the form's per-update path.

Most updates in the form read one draft (its answers, status and photos) and write its answers
back. Loading it as an ORM `Submission` (its campaign and attachments joined, each row made an
object in the identity map) cost a third of such an update's database work. `DraftRecord`
holds the same attributes handlers read, read with one statement run on the driver inside the
session's transaction (`storage.prepared`) and changed by the functions
here, which write what they change at once. Handlers that change a story's status, code or
version (submit, discard) load the ORM row for it (`storage.submissions.get`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Attachment, Submission, utcnow
from storage.prepared import Prepared, insert_row


class AttachmentRecord:
    """What the form reads of an attachment: its kind, its content's hash and stored path."""

    __slots__ = ("kind", "sha256", "stored_path")

    def __init__(self, kind: str, sha256: str, stored_path: str) -> None:
        self.kind = kind
        self.sha256 = sha256
        self.stored_path = stored_path


class DraftRecord:
    """A submission as the form reads it, with `Submission`'s attribute names (read-only but
    for what `storage.drafts` and `storage.submissions.set_values` change)."""

    __slots__ = (
        "attachments",
        "author_id",
        "campaign_id",
        "channel",
        "chat_id",
        "code",
        "id",
        "status",
        "unit_id",
        "values",
        "version",
        "word_count",
    )

    def __init__(self, row: tuple[Any, ...], values: dict[str, Any]) -> None:
        (
            self.id,
            self.campaign_id,
            self.author_id,
            self.unit_id,
            self.status,
            self.version,
            self.code,
            _values,
            self.word_count,
            self.channel,
            self.chat_id,
        ) = row[:11]
        self.values: dict[str, Any] = values
        self.attachments: list[AttachmentRecord] = []

    def __repr__(self) -> str:
        return f"DraftRecord(id={self.id}, status={self.status!r})"


_SUBMISSIONS = Submission.__table__
_ATTACHMENTS = Attachment.__table__
_DRAFT_COLUMNS = (
    _SUBMISSIONS.c.id,
    _SUBMISSIONS.c.campaign_id,
    _SUBMISSIONS.c.author_id,
    _SUBMISSIONS.c.unit_id,
    _SUBMISSIONS.c.status,
    _SUBMISSIONS.c.version,
    _SUBMISSIONS.c.code,
    _SUBMISSIONS.c["values"],
    _SUBMISSIONS.c.word_count,
    _SUBMISSIONS.c.channel,
    _SUBMISSIONS.c.chat_id,
)
# One statement for the draft and its attachments, oldest attachment first (as the ORM's
# relationship orders them); a draft without any gives one row of NULLs for them.
_READ = Prepared(
    select(*_DRAFT_COLUMNS, _ATTACHMENTS.c.kind, _ATTACHMENTS.c.sha256, _ATTACHMENTS.c.stored_path)
    .select_from(_SUBMISSIONS)
    .outerjoin(_ATTACHMENTS, _ATTACHMENTS.c.submission_id == _SUBMISSIONS.c.id)
    .where(_SUBMISSIONS.c.id == bindparam("id"))
    .order_by(_ATTACHMENTS.c.id)
)


_CREATE = Prepared(
    _SUBMISSIONS.insert()
    .values(
        campaign_id=bindparam("d_campaign"),
        author_id=bindparam("d_author"),
        unit_id=bindparam("d_unit"),
        status=bindparam("d_status"),
        version=1,
        values=bindparam("d_values"),
        word_count=0,
        channel=bindparam("d_channel"),
        chat_id=bindparam("d_chat"),
        created_at=bindparam("d_at"),
        updated_at=bindparam("d_at"),
    )
    .returning(*_DRAFT_COLUMNS)
)


async def create(
    session: AsyncSession,
    *,
    campaign_id: int,
    author_id: int,
    unit_id: int | None,
    status: str,
    channel: str,
    chat_id: str,
) -> DraftRecord:
    """A new, empty draft, written at once in one statement on the driver."""
    row = await _CREATE.first(
        session,
        d_campaign=campaign_id,
        d_author=author_id,
        d_unit=unit_id,
        d_status=status,
        d_values={},
        d_channel=channel,
        d_chat=chat_id,
        d_at=utcnow(),
    )
    assert row is not None
    return DraftRecord(row, {})


async def read(session: AsyncSession, submission_id: int) -> DraftRecord | Submission | None:
    """The submission as plain values, or None if there is none with that id.

    A submission this session already holds as an ORM object is returned as it is (its
    unflushed changes would be missed by a read past the ORM), as is anything the session
    has still to write, flushed first.
    """
    sync = session.sync_session
    held = sync.identity_map.get(sync.identity_key(Submission, submission_id))
    if held is not None:
        return held  # type: ignore[no-any-return]
    if sync.new or sync.deleted:
        await session.flush()
    rows = await _READ.rows(session, id=submission_id)
    if not rows:
        return None
    first = rows[0]
    draft = DraftRecord(first, dict(first[7] or {}))
    draft.attachments = [AttachmentRecord(r[11], r[12], r[13]) for r in rows if r[11] is not None]
    return draft


_ATTACHMENT_COLUMNS = [c.name for c in _ATTACHMENTS.columns if c.name != "id"]
_INSERT_ATTACHMENT = Prepared(insert_row(_ATTACHMENTS, "a_"))


async def add_attachment(
    session: AsyncSession, draft: DraftRecord | Submission, attachment: Attachment
) -> None:
    """Attach `attachment` to the draft and store it at once (a draft read as plain values
    gets it in one INSERT on the driver, without the ORM's unit of work)."""
    if isinstance(draft, Submission):
        draft.attachments.append(attachment)
        await session.flush()
        return
    attachment.submission_id = draft.id
    attachment.created_at = attachment.created_at or utcnow()
    values = {f"a_{name}": getattr(attachment, name) for name in _ATTACHMENT_COLUMNS}
    await _INSERT_ATTACHMENT.rows(session, **values)
    draft.attachments.append(
        AttachmentRecord(attachment.kind, attachment.sha256, attachment.stored_path)
    )


async def remove_attachments(
    session: AsyncSession, draft: DraftRecord | Submission, kind: str
) -> int:
    """Detach every attachment of `kind`; stored files stay on disk (content-addressed).
    Returns how many were detached."""
    doomed = [a for a in draft.attachments if a.kind == kind]
    if isinstance(draft, Submission):
        for attachment in doomed:
            draft.attachments.remove(attachment)
            await session.delete(attachment)
        await session.flush()
        return len(doomed)
    if doomed:
        await session.execute(
            delete(Attachment).where(Attachment.submission_id == draft.id, Attachment.kind == kind)
        )
        draft.attachments = [a for a in draft.attachments if a.kind != kind]
    return len(doomed)
