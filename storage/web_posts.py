"""Stories on a unit's public page (letter 001: "each school posts at least one story a month
on its website, which the office checks").

A unit's page shows its honoured stories and the approved ones its head chose to publish.
Publishing and unpublishing are compare-and-set, so two presses at once change the row once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import submissions as repo
from storage.db import upsert_insert
from storage.models import Campaign, Event, Honour, Submission, WebPost

# A story the head may publish: approved (or honoured since, which is public anyway).
PUBLISHABLE = (repo.APPROVED, repo.HONOURED)
PUBLISHED = "web_published"
UNPUBLISHED = "web_unpublished"
PORTAL = "web_portal"
# What counts as "posted on the website" in the monthly report.
POSTED = (PUBLISHED, PORTAL)
# Letter 003's registrations (a model's name and field) are entries, not stories to publish.
REGISTRATION_FORM = "registration"


def _story_campaigns() -> object:
    return Submission.campaign_id.in_(select(Campaign.id).where(Campaign.form != REGISTRATION_FORM))


async def of_submission(session: AsyncSession, submission_id: int) -> WebPost | None:
    """The story's web post row, if its head ever published it or gave a portal address."""
    return await session.scalar(select(WebPost).where(WebPost.submission_id == submission_id))


async def _ensure(session: AsyncSession, sub: Submission) -> None:
    """Make the story's row exist (unpublished), whoever else makes it at the same time."""
    assert sub.unit_id is not None
    insert = upsert_insert(session)
    await session.execute(
        insert(WebPost)
        .values(submission_id=sub.id, unit_id=sub.unit_id, published=False)
        .on_conflict_do_nothing(index_elements=[WebPost.submission_id])
    )


async def publish(session: AsyncSession, sub: Submission, by_id: int, now: datetime) -> bool:
    """Put a story on its unit's page; False when it already was (another press won)."""
    await _ensure(session, sub)
    result = await session.execute(
        update(WebPost)
        .where(WebPost.submission_id == sub.id, WebPost.published.is_(False))
        .values(published=True, published_by_id=by_id, published_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def unpublish(session: AsyncSession, sub: Submission) -> bool:
    """Take a story off its unit's page; False when it was not on it."""
    result = await session.execute(
        update(WebPost)
        .where(WebPost.submission_id == sub.id, WebPost.published.is_(True))
        .values(published=False)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def set_portal(
    session: AsyncSession, sub: Submission, url: str, by_id: int, now: datetime
) -> None:
    """Record where the story was posted on the school's own portal."""
    await _ensure(session, sub)
    await session.execute(
        update(WebPost)
        .where(WebPost.submission_id == sub.id)
        .values(portal_url=url, portal_by_id=by_id, portal_at=now)
        .execution_options(synchronize_session=False)
    )


def _public() -> object:
    """The condition that a story is public: honoured, or published by its unit's head."""
    published = select(WebPost.submission_id).where(WebPost.published.is_(True))
    return and_(
        _story_campaigns(),  # type: ignore[arg-type]
        or_(
            Submission.status == repo.HONOURED,
            and_(Submission.status.in_(PUBLISHABLE), Submission.id.in_(published)),
        ),
    )


async def is_public(session: AsyncSession, submission_id: int) -> bool:
    """Whether the story is on a public page (so its photos have stable addresses)."""
    found = await session.scalar(
        select(Submission.id).where(Submission.id == submission_id, _public())  # type: ignore[arg-type]
    )
    return found is not None


async def unit_stories(session: AsyncSession, unit_id: int, limit: int) -> list[Submission]:
    """The unit's public stories, newest first (by honour, publication or approval)."""
    honoured_at = select(Honour.honoured_at).where(Honour.submission_id == Submission.id)
    published_at = select(WebPost.published_at).where(WebPost.submission_id == Submission.id)
    newest = func.coalesce(
        honoured_at.scalar_subquery(), published_at.scalar_subquery(), Submission.decided_at
    )
    rows = await session.scalars(
        select(Submission)
        .where(Submission.unit_id == unit_id, _public())  # type: ignore[arg-type]
        .order_by(newest.desc(), Submission.id.desc())
        .limit(limit)
    )
    return list(rows)


async def publishable(session: AsyncSession, unit_id: int, limit: int) -> list[Submission]:
    """The unit's approved (or honoured) stories, newest decision first: what /dangweb lists."""
    rows = await session.scalars(
        select(Submission)
        .where(
            Submission.unit_id == unit_id,
            Submission.status.in_(PUBLISHABLE),
            _story_campaigns(),  # type: ignore[arg-type]
        )
        .order_by(Submission.decided_at.desc(), Submission.id.desc())
        .limit(limit)
    )
    return list(rows)


async def published_ids(session: AsyncSession, submission_ids: list[int]) -> set[int]:
    """Which of these stories their heads published."""
    if not submission_ids:
        return set()
    rows = await session.scalars(
        select(WebPost.submission_id).where(
            WebPost.submission_id.in_(submission_ids), WebPost.published.is_(True)
        )
    )
    return set(rows)


async def posted_per_unit(
    session: AsyncSession, start: datetime, end: datetime, campaign_id: int | None = None
) -> dict[int, int]:
    """Per unit, how many stories were published on its page or given a portal address in
    [start, end), each story counted once (the monthly report's «Bài đăng website»)."""
    rows = await session.execute(
        select(Submission.unit_id, func.count(func.distinct(Event.subject_id)))
        .join(Submission, Submission.id == Event.subject_id)
        .where(
            Event.subject == "submission",
            Event.action.in_(POSTED),
            Event.at >= start,
            Event.at < end,
            true() if campaign_id is None else Submission.campaign_id == campaign_id,
        )
        .group_by(Submission.unit_id)
    )
    return {unit_id: count for unit_id, count in rows if unit_id is not None}


async def details(
    session: AsyncSession, submission_ids: list[int]
) -> tuple[dict[int, Honour], dict[int, WebPost]]:
    """The honours and web post rows of these stories, by submission id."""
    if not submission_ids:
        return {}, {}
    honours = await session.scalars(select(Honour).where(Honour.submission_id.in_(submission_ids)))
    posts = await session.scalars(select(WebPost).where(WebPost.submission_id.in_(submission_ids)))
    return {h.submission_id: h for h in honours}, {p.submission_id: p for p in posts}
