"""Honoured stories: the decision behind each, and the listings the public page and exports use."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Campaign, Honour, Submission


async def create(
    session: AsyncSession,
    submission: Submission,
    *,
    decision_number: str,
    decision_date: date,
    summary: str,
    slug: str,
    honoured_by_id: int | None,
    at: datetime,
) -> Honour:
    """Record the honour under its public address `slug`; the unique submission id makes a
    second honour fail."""
    honour = Honour(
        submission_id=submission.id,
        decision_number=decision_number,
        decision_date=decision_date,
        summary=summary,
        slug=slug,
        honoured_by_id=honoured_by_id,
        honoured_at=at,
    )
    session.add(honour)
    await session.flush()
    return honour


async def for_submission(session: AsyncSession, submission_id: int) -> Honour | None:
    """The honour of a submission, if it has one."""
    return await session.scalar(select(Honour).where(Honour.submission_id == submission_id))


async def by_slug(session: AsyncSession, slug: str) -> Honour | None:
    """An honour by its public address."""
    return await session.scalar(select(Honour).where(Honour.slug == slug))


async def listing(
    session: AsyncSession,
    *,
    campaign_slug: str | None = None,
    unit_id: int | None = None,
    focus_area: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Honour]:
    """Honoured stories, newest decision first, optionally filtered."""
    stmt = select(Honour).join(Submission, Submission.id == Honour.submission_id)
    if campaign_slug:
        stmt = stmt.join(Campaign, Campaign.id == Submission.campaign_id).where(
            Campaign.slug == campaign_slug
        )
    if unit_id is not None:
        stmt = stmt.where(Submission.unit_id == unit_id)
    if focus_area:
        # The focus area lives in the story's JSON values (json_extract / ->> in SQL).
        stmt = stmt.where(Submission.values["focus_area"].as_string() == focus_area)
    # Paged in the database: each page (and each poll of the feed) reads one page's stories,
    # not every story ever honoured.
    stmt = stmt.order_by(Honour.decision_date.desc(), Honour.honoured_at.desc(), Honour.id.desc())
    return list(await session.scalars(stmt.limit(limit).offset(offset)))
