"""/campaigns and /report: what admins and unit heads ask about the campaigns."""

from __future__ import annotations

from datetime import date

from handlers import invites, reports
from handlers.campaigns import CampaignSpec
from handlers.context import Ctx
from storage import roles


async def campaigns(ctx: Ctx) -> None:
    """/campaigns (admins): every campaign with its dates and how many stories are where."""
    if not await invites.is_admin(ctx):
        ctx.say("reports.admins_only")
        return
    today = ctx.services.today()
    rows = [
        (
            c,
            c.is_open(today),
            await reports.campaign_counts(ctx.session, ctx.services.campaign_ids[c.slug]),
        )
        for c in ctx.services.campaigns
    ]
    ctx.say("reports.campaigns", rows=rows)


async def report(ctx: Ctx, args: str) -> None:
    """/report [YYYY-MM]: the monthly quota; admins see every unit, unit heads their own."""
    month = reports.parse_month(args) if args.strip() else ctx.services.today().replace(day=1)
    if month is None:
        ctx.say("reports.bad_month", raw=args.strip()[:20])
        return
    unit_ids: set[int] | None = None
    if not await invites.is_admin(ctx):
        grants = await roles.of(ctx.session, ctx.person.id) if ctx.person else []
        unit_ids = {g.unit_id for g in grants if g.role == roles.UNIT_HEAD and g.unit_id}
        if not unit_ids:
            ctx.say("reports.not_allowed")
            return
    campaign = campaign_for_month(ctx, month)
    rows = await reports.monthly(
        ctx.session,
        campaign,
        ctx.services.campaign_ids[campaign.slug],
        month,
        ctx.services.tz,
        unit_ids,
    )
    ctx.say(
        "reports.monthly", campaign=campaign, month=month, rows=rows, met=sum(r.met for r in rows)
    )


def campaign_for_month(ctx: Ctx, month: date) -> CampaignSpec:
    """The campaign whose monthly quota the month falls in.

    A report of January 2024 asked in October is about the contest of that January, not
    whatever is open now. Campaigns with a quota come first (a registration campaign with
    none is no monthly report); among those covering the month, one open today, else the
    newest. A month no campaign covers gets the campaign open today, else the last one.
    """
    campaigns = ctx.services.campaigns
    with_quota = [c for c in campaigns if c.monthly_quota > 0] or list(campaigns)
    covering = [c for c in with_quota if reports.quota_applies(c, month)]
    if covering:
        today = ctx.services.today()
        open_now = [c for c in covering if c.is_open(today)]
        return open_now[0] if open_now else max(covering, key=lambda c: c.opens)
    open_now = [c for c in ctx.services.open_campaigns() if c in with_quota]
    if open_now:
        return open_now[0]
    return max(with_quota, key=lambda c: c.closes)
