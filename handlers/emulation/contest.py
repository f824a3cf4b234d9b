"""Letter 001's contest figures for one unit, as a proposed score for a criterion."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import reports, year_summary
from handlers.campaigns import CampaignSpec
from handlers.emulation.criteria import Criterion
from handlers.services import Services
from storage import submissions as repo
from storage.models import Submission


async def figure(
    session: AsyncSession, services: Services, criterion: Criterion, unit_id: int
) -> int | None:
    """The unit's count the criterion names (entries sent, approved, honoured, months the
    monthly quota was met, stories sent up the ladder, or months with an exemplar chosen) in
    its campaign; None when the criterion is not proposed."""
    if criterion.from_contest is None or criterion.campaign is None:
        return None
    campaign = services.campaign(criterion.campaign)
    campaign_id = services.campaign_ids.get(criterion.campaign)
    if campaign is None or campaign_id is None:
        return None
    if criterion.from_contest == "months_met":
        return await _months_met(session, services, campaign, campaign_id, unit_id)
    if criterion.from_contest == "nominated_up":
        return await year_summary.nominated_up(session, campaign_id, unit_id)
    if criterion.from_contest == "exemplar_months":
        return await year_summary.exemplar_months(session, campaign_id, unit_id)
    statuses = {
        "entries": reports.PAST_UNIT,
        "approved": reports.APPROVED_OR_BETTER,
        "honoured": (repo.HONOURED,),
    }[criterion.from_contest]
    count = await session.scalar(
        select(func.count())
        .select_from(Submission)
        .where(
            Submission.campaign_id == campaign_id,
            Submission.unit_id == unit_id,
            Submission.status.in_(statuses),
        )
    )
    return int(count or 0)


async def _months_met(
    session: AsyncSession,
    services: Services,
    campaign: CampaignSpec,
    campaign_id: int,
    unit_id: int,
) -> int:
    today = services.today()
    month = campaign.opens.replace(day=1)
    met = 0
    while month <= min(today, campaign.closes):
        if reports.quota_applies(campaign, month) and (
            month.replace(day=campaign.monthly_deadline_day) <= today
        ):
            rows = await reports.monthly(
                session, campaign, campaign_id, month, services.tz, unit_ids={unit_id}
            )
            met += sum(1 for r in rows if r.met)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return met


def proposed(criterion: Criterion, count: int) -> float:
    """The score a count earns: points for each, up to the criterion's maximum."""
    return round(min(criterion.max, count * criterion.points_each), 2)
