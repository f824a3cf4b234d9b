"""/campaigns and /report: what admins and unit heads ask about the campaigns."""

from __future__ import annotations

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
    campaign = current_campaign(ctx)
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


def current_campaign(ctx: Ctx) -> CampaignSpec:
    """The first campaign open today, else the one that closed last."""
    open_now = ctx.services.open_campaigns()
    if open_now:
        return open_now[0]
    return max(ctx.services.campaigns, key=lambda c: c.closes)
