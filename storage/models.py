"""The database schema. Every table the bot writes to is declared here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names so Alembic migrations behave the same on SQLite and PostgreSQL.
# Room for a platform's user, chat or message id. Telegram's are 64-bit numbers (at most 20
# characters); Zalo's are strings of undocumented length (20 hex characters in every payload
# seen), so they get generous room, and longer ones are refused where updates arrive
# (bot.channels.chat_ids) instead of failing on PostgreSQL alone.
PLATFORM_ID_LENGTH = 255

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: SQLite keeps no time zone, PostgreSQL would."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, the text SQLAlchemy would store ("2024-01-10 03:00:00.000000"), made in
        one step: every update writes a few timestamps, and the two steps (to naive UTC,
        then SQLAlchemy's formatting) cost three times this."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def to_text(value: datetime | None) -> str | None:
            naive = self.process_bind_param(value, dialect)
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return to_text

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Organisation(Base):
    """An education office or a union: the body that runs campaigns and owns units."""

    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # The level above on the nomination ladder (school office → district → city), if any.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))


class Unit(Base):
    """A school or grassroots union. `search_key` is the name folded for accent-free search."""

    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    search_key: Mapped[str] = mapped_column(String(200), index=True)
    code: Mapped[str | None] = mapped_column(String(50), unique=True)
    level: Mapped[str] = mapped_column(String(10))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    organisation: Mapped[Organisation | None] = relationship(lazy="joined")


class Person(Base):
    """Someone who talks to the bot. Registration fills name, unit and phone."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(primary_key=True)
    full_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    unit: Mapped[Unit | None] = relationship(lazy="joined")

    @property
    def registered(self) -> bool:
        """Whether the person has given every registration field."""
        return bool(self.full_name and self.phone and self.unit_id)


class Identity(Base):
    """One person's account on one channel (a Telegram user id, a Zalo id, a console name)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LENGTH))
    chat_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LENGTH))
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoleGrant(Base):
    """A role held by a person: unit head of a unit, reviewer for levels, admin."""

    __tablename__ = "role_grants"
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    levels: Mapped[str | None] = mapped_column(String(50))
    # The title the person holds the role under ("Hiệu trưởng", "Phó Hiệu trưởng",
    # "Chuyên viên"): printed in signature blocks. None until they say it.
    title: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    """A campaign as last loaded from the campaigns file; `settings` keeps the full definition."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    organisation: Mapped[str | None] = mapped_column(String(200))
    opens: Mapped[date] = mapped_column(Date)
    closes: Mapped[date] = mapped_column(Date)
    form: Mapped[str] = mapped_column(String(30))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Submission(Base):
    """A story (or registration entry) from draft to decision; `values` holds the form fields."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_author_status", "author_id", "status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    status: Mapped[str] = mapped_column(String(30), default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    # When the current status began: queues are oldest first and reminders count from it.
    status_since: Mapped[datetime | None] = mapped_column()
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    campaign: Mapped[Campaign] = relationship(lazy="joined")
    attachments: Mapped[list[Attachment]] = relationship(
        lazy="selectin", order_by="Attachment.id", back_populates="submission"
    )


class Attachment(Base):
    """A photo or document received for a submission, with its stored copy and checksum."""

    __tablename__ = "attachments"
    __table_args__ = (UniqueConstraint("submission_id", "kind", "sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    platform_file_id: Mapped[str | None] = mapped_column(String(300))
    stored_path: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    mime_type: Mapped[str | None] = mapped_column(String(100))
    file_name: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submission: Mapped[Submission] = relationship(back_populates="attachments")


class Event(Base):
    """Append-only log of state changes: who did what to which subject, when, from where, why."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_subject", "subject", "subject_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    subject: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    channel: Mapped[str | None] = mapped_column(String(20))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Conversation(Base):
    """Where one chat stands: the current step and its working data, written on every step."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LENGTH))
    step: Mapped[str] = mapped_column(String(60), default="idle")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Bumped whenever the bot shows new buttons, so a press on an older message is recognised.
    prompt_seq: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProcessedUpdate(Base):
    """Platform update ids already handled, so a redelivered update is processed at most once."""

    __tablename__ = "processed_updates"
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    update_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    # Indexed for pruning: the records are only needed while a platform may still redeliver.
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class FloodBucket(Base):
    """One person's message budget, shared by the worker processes serving one bot.

    Times are seconds since the epoch: the processes share the wall clock, not a monotonic one.
    """

    __tablename__ = "flood_buckets"
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LENGTH), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    # Indexed for pruning: a bucket idle for minutes is full again and can be dropped.
    updated: Mapped[float] = mapped_column(Float, index=True)
    paused_until: Mapped[float] = mapped_column(Float, default=0.0)


class CodeCounter(Base):
    """The last sequence number given out per year, for codes like GS-2024-0007."""

    __tablename__ = "code_counters"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Invite(Base):
    """A one-time code that grants a role when redeemed."""

    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    levels: Mapped[str | None] = mapped_column(String(50))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    redeemed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    redeemed_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    unit: Mapped[Unit | None] = relationship(lazy="joined")


class SubmissionVersion(Base):
    """The fields of a submission as sent for review, one row per version."""

    __tablename__ = "submission_versions"
    __table_args__ = (UniqueConstraint("submission_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    photo_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(Base):
    """A message (or an edit) to deliver after the transaction that decided it commits.

    Rows about a submission carry its id, stage and version; sent ones keep the platform's
    message ids, so every notification of a story can be found and edited when it is decided.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "priority", "next_attempt_at"),
        Index("ix_outbox_submission", "submission_id", "stage"),
        Index("ix_outbox_broadcast", "broadcast_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(10), default="send")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    submission_id: Mapped[int | None] = mapped_column(Integer)
    stage: Mapped[str | None] = mapped_column(String(20))
    version: Mapped[int | None] = mapped_column(Integer)
    target_message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LENGTH))
    message_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    # Interactive notifications (0) go before broadcast deliveries (1).
    priority: Mapped[int] = mapped_column(Integer, default=0)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id"))
    audience_id: Mapped[int | None] = mapped_column(Integer)
    # A worker claims a row before sending; a claim older than the lease is taken back.
    claimed_at: Mapped[datetime | None] = mapped_column()
    # Which worker holds the claim: only it may record the outcome or give the row back.
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    # How many of the reply's API calls went out, so a recovered row sends only the rest.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class DailyMark(Base):
    """Something done at most once a day (a reminder), remembered across restarts."""

    __tablename__ = "daily_marks"
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Honour(Base):
    """An approved story honoured by a decision (number and date), with its public page slug."""

    __tablename__ = "honours"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    decision_number: Mapped[str] = mapped_column(String(100))
    decision_date: Mapped[date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    honoured_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    honoured_at: Mapped[datetime] = mapped_column(default=utcnow)
    submission: Mapped[Submission] = relationship(lazy="joined")


class AudienceMember(Base):
    """Someone who receives broadcasts: a subscriber's chat, a channel or a group."""

    __tablename__ = "audience"
    __table_args__ = (UniqueConstraint("channel", "chat_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(PLATFORM_ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(20), default="person")  # person, channel, group
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    active: Mapped[bool] = mapped_column(default=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Why a member stopped receiving: "unsubscribed", "blocked" (403), "removed".
    inactive_reason: Mapped[str | None] = mapped_column(String(30))


class Broadcast(Base):
    """One honoured story sent to the whole audience; deliveries are outbox rows."""

    __tablename__ = "broadcasts"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    total: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column()
    # Where the admin watches progress: an edited message ("đã gửi 1.200 / 5.000").
    progress_channel: Mapped[str | None] = mapped_column(String(20))
    progress_chat_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LENGTH))
    progress_message_id: Mapped[str | None] = mapped_column(String(PLATFORM_ID_LENGTH))


class Nomination(Base):
    """A story sent up the campaign's ladder to one level, and that level's decision.

    Level 0 is the campaign's own review (the submission's status); rows start at level 1.
    One row per (story, level): one nomination and one decision win at every level.
    """

    __tablename__ = "nominations"
    __table_args__ = (UniqueConstraint("submission_id", "level"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"))
    level: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[str] = mapped_column(String(20))
    nominated_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    nominated_at: Mapped[datetime] = mapped_column()
    note: Mapped[str] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    decision_note: Mapped[str | None] = mapped_column(Text)


class WebPost(Base):
    """A story the unit head put on the unit's public page (letter 001: each school posts at
    least one story a month on its website), and where it was posted on the school's portal.

    One row per story; unpublishing keeps the row (with `published` false) so the portal
    address and who did what stay known. The events log holds every change.
    """

    __tablename__ = "web_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    published: Mapped[bool] = mapped_column(default=False)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    published_at: Mapped[datetime | None] = mapped_column()
    portal_url: Mapped[str | None] = mapped_column(String(500))
    portal_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    portal_at: Mapped[datetime | None] = mapped_column()


# Letter 004's tables and the month's exemplar (issue 20) live in their own modules, on this
# metadata (imported last: they use Base).
from storage import emulation_models, month_models  # noqa: E402, F401
