"""The month's exemplar (letter 001: "định kỳ hàng tháng các đơn vị rà soát, lựa chọn giới thiệu
01 gương ĐHTT, NTVT tiêu biểu … gửi về phòng Nội vụ quận").

- `/guongthang`: a unit head picks one of the unit's approved stories and types a short reason
  (the achievement summary on the list); they may change it until the campaign's
  `exemplar_deadline_day`, after which the month is closed.
- Reminders on `exemplar_reminder_days` to heads whose unit has not chosen (once a day).
- `/dsguongthang [YYYY-MM]`: the office (reviewers and admins of the campaign's organisation)
  sees the month's nominations, marks which go up, and sends the list to the organisation
  above it, once.

Who may act is checked again on every press and every typed answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import reports
from handlers.campaigns import CampaignSpec
from handlers.context import Ctx
from handlers.exports import split_position
from handlers.fields import clean_story
from handlers.ids import parse_id
from handlers.invites import acting_person
from handlers.notify import Notifier
from handlers.services import Services
from handlers.types import Choice, Reply
from storage import events, marks, nominations, roles
from storage import month_exemplars as store
from storage import submissions as repo
from storage.models import Organisation, Person, RoleGrant, Submission, Unit
from storage.month_models import MonthExemplar
from storage.people import PersonRecord

COMMAND = "guongthang"
LIST_COMMAND = "dsguongthang"
PICK_STEP = "month_pick"
REASON_STEP = "month_reason"
STEPS = (PICK_STEP, REASON_STEP)
# Global buttons: "!m:t:<nomination id>" marks or unmarks, "!m:s:<campaign id>:<YYYY-MM>" sends.
BUTTON = "m"
REASON_MIN, REASON_MAX = 10, 500
# Buttons shown to pick from; a unit rarely has more approved stories in two months.
SHOWN = 10
# Nobody wants a reminder at midnight (as the quota's).
FROM_HOUR = 7


def exemplar_campaigns(services: Services) -> list[CampaignSpec]:
    """Campaigns that ask for a monthly exemplar, in the file's order."""
    return [c for c in services.campaigns if c.monthly_exemplar]


def campaign_for(services: Services, unit: Unit) -> CampaignSpec | None:
    """The open exemplar campaign a unit takes part in (its organisation's, or one for all)."""
    today = services.today()
    org = unit.organisation.name if unit.organisation else None
    for campaign in exemplar_campaigns(services):
        if campaign.is_open(today) and campaign.organisation in ("", org):
            return campaign
    return None


def month_of(day: date) -> str:
    """'2024-01' for any day of January 2024."""
    return store.month_key(day.year, day.month)


def deadline_of(campaign: CampaignSpec, month: str) -> date:
    """The day the month's choice closes (nominations are taken before it)."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, campaign.exemplar_deadline_day)


def _since(services: Services, today: date) -> datetime:
    """From the first of the previous month: a story sent late last month and approved this
    month is still this month's to choose."""
    previous = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    return datetime.combine(previous, time(), services.tz)


@dataclass
class HeadContext:
    """Where a unit head's /guongthang applies: their unit, its campaign, the month."""

    unit: Unit
    campaign: CampaignSpec
    campaign_id: int
    month: str


async def _head_units(session: AsyncSession, person: Person | PersonRecord | None) -> list[Unit]:
    if person is None:
        return []
    found = []
    for grant in await roles.of(session, person.id):
        if grant.role == roles.UNIT_HEAD and grant.unit_id is not None:
            unit = await session.get(Unit, grant.unit_id)
            if unit is not None:
                found.append(unit)
    return found


async def _where(ctx: Ctx) -> HeadContext | None:
    """The sender's unit and campaign for this month; None (and said why) when there is none."""
    units = await _head_units(ctx.session, ctx.person)
    if not units:
        ctx.say("month.not_head")
        return None
    for unit in units:
        campaign = campaign_for(ctx.services, unit)
        if campaign is not None:
            cid = ctx.services.campaign_ids[campaign.slug]
            return HeadContext(unit, campaign, cid, month_of(ctx.services.today()))
    ctx.say("month.no_campaign", unit=units[0])
    return None


async def _still_open(ctx: Ctx, where: HeadContext) -> bool:
    """Whether the unit may still choose this month; if not, say why politely."""
    current = await store.get(ctx.session, where.campaign_id, where.unit.id, where.month)
    sub = await repo.get(ctx.session, current.submission_id) if current else None
    deadline = deadline_of(where.campaign, where.month)
    if ctx.services.today() >= deadline:
        ctx.say(
            "month.closed",
            unit=where.unit,
            month=_display(where.month),
            deadline=deadline,
            current=current,
            sub=sub,
        )
        return False
    if await store.sent_list(ctx.session, where.campaign_id, where.month):
        ctx.say("month.list_sent", unit=where.unit, month=_display(where.month), current=current,
                sub=sub)  # fmt: skip
        return False
    return True


async def _candidates(ctx: Ctx, where: HeadContext) -> list[Submission]:
    return await store.candidates(
        ctx.session,
        campaign_id=where.campaign_id,
        unit_id=where.unit.id,
        statuses=reports.APPROVED_OR_BETTER,
        since=_since(ctx.services, ctx.services.today()),
        month=where.month,
    )


async def start(ctx: Ctx) -> None:
    """/guongthang: show the unit's approved stories to pick the month's exemplar from."""
    where = await _where(ctx)
    if where is None or not await _still_open(ctx, where):
        if ctx.conv.step in STEPS:
            ctx.goto("idle")
        return
    await _show_pick(ctx, where)


async def _show_pick(ctx: Ctx, where: HeadContext) -> None:
    current = await store.get(ctx.session, where.campaign_id, where.unit.id, where.month)
    current_sub = await repo.get(ctx.session, current.submission_id) if current else None
    stories = await _candidates(ctx, where)
    if not stories:
        ctx.goto("idle")
        ctx.say("month.no_stories", unit=where.unit, month=_display(where.month), current=current,
                sub=current_sub)  # fmt: skip
        return
    ctx.goto(PICK_STEP, campaign=where.campaign.slug, unit_id=where.unit.id, month=where.month)
    choices = [Choice(ctx.text("month.story_button", sub=s), f"pick:{s.id}") for s in stories]
    choices = [*choices[:SHOWN], Choice(ctx.text("month.button_cancel"), "cancel")]
    ctx.say(
        "month.pick",
        unit=where.unit,
        month=_display(where.month),
        deadline=deadline_of(where.campaign, where.month),
        current=current,
        sub=current_sub,
        count=len(stories),
        shown=min(len(stories), SHOWN),
        choices=choices,
    )


async def _where_again(ctx: Ctx) -> HeadContext | None:
    """The step's unit and campaign, checked again: the role may have gone, the month passed."""
    data = ctx.data
    units = {u.id: u for u in await _head_units(ctx.session, ctx.person)}
    campaign = ctx.services.campaign(data.get("campaign", ""))
    unit = units.get(data.get("unit_id", 0))
    if unit is None or campaign is None:
        ctx.goto("idle")
        ctx.say("month.not_head")
        return None
    where = HeadContext(
        unit, campaign, ctx.services.campaign_ids[campaign.slug], month_of(ctx.services.today())
    )
    if where.month != data.get("month") or not await _still_open(ctx, where):
        ctx.goto("idle")
        if where.month != data.get("month"):
            await start(ctx)
        return None
    return where


async def on_pick(ctx: Ctx) -> None:
    """A story picked from the list (a button, or its number on Zalo and in the console)."""
    event = ctx.event
    if event.kind == "button" and event.button == "cancel":
        ctx.goto("idle")
        ctx.say("month.cancelled")
        return
    where = await _where_again(ctx)
    if where is None:
        return
    picked = None
    if event.kind == "button" and event.button.startswith("pick:"):
        picked = parse_id(event.button.removeprefix("pick:"))
    stories = {s.id: s for s in await _candidates(ctx, where)}
    if picked not in stories:
        if event.kind == "button":
            ctx.notice("month.not_listed")
            ctx.response.press_accepted = False
        await _show_pick(ctx, where)
        return
    sub = stories[picked]
    ctx.goto(REASON_STEP, **ctx.data, submission_id=sub.id)
    ctx.say(
        "month.ask_reason",
        sub=sub,
        low=REASON_MIN,
        high=REASON_MAX,
        choices=[Choice(ctx.text("month.button_cancel"), "cancel")],
    )


async def resume(ctx: Ctx) -> None:
    """Ask again for what the step waits for."""
    if ctx.conv.step == REASON_STEP:
        sub = await repo.get(ctx.session, ctx.data.get("submission_id", 0))
        if sub is not None:
            ctx.say(
                "month.ask_reason",
                sub=sub,
                low=REASON_MIN,
                high=REASON_MAX,
                choices=[Choice(ctx.text("month.button_cancel"), "cancel")],
            )
            return
    where = await _where_again(ctx)
    if where is not None:
        await _show_pick(ctx, where)


async def on_reason(ctx: Ctx) -> None:
    """The reason typed for the picked story: checked, then the choice is recorded."""
    event = ctx.event
    if event.kind == "button" and event.button == "cancel":
        ctx.goto("idle")
        ctx.say("month.cancelled")
        return
    if event.kind != "text":
        ctx.say("month.reason_wants_text")
        await resume(ctx)
        return
    reason = " ".join(clean_story(event.text).split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        ctx.say("month.reason_length", length=len(reason), low=REASON_MIN, high=REASON_MAX)
        return
    submission_id = ctx.data.get("submission_id")
    where = await _where_again(ctx)
    if where is None:
        return
    if submission_id not in {s.id for s in await _candidates(ctx, where)}:
        ctx.say("month.not_listed")
        await _show_pick(ctx, where)
        return
    person = await acting_person(ctx)
    now = ctx.services.now()
    row, previous = await store.choose(
        ctx.session,
        campaign_id=where.campaign_id,
        unit_id=where.unit.id,
        month=where.month,
        submission_id=submission_id,
        reason=reason,
        by_id=person.id,
        now=now,
    )
    changed = previous is not None
    await events.record(
        ctx.session,
        at=now,
        subject="month_exemplar",
        subject_id=row.id,
        action="month_exemplar_changed" if changed else "month_exemplar_chosen",
        actor_id=person.id,
        channel=event.channel,
        reason=reason,
        data={
            "campaign": where.campaign.slug,
            "unit_id": where.unit.id,
            "month": where.month,
            "submission_id": submission_id,
            "previous_submission_id": previous,
            "role": roles.UNIT_HEAD,
        },
    )
    sub = await repo.get(ctx.session, submission_id)
    ctx.goto("idle")
    ctx.say(
        "month.chosen",
        unit=where.unit,
        month=_display(where.month),
        sub=sub,
        reason=reason,
        changed=changed,
        deadline=deadline_of(where.campaign, where.month),
    )


async def remind(session: AsyncSession, services: Services) -> int:
    """On a campaign's exemplar reminder days, remind the heads of units that have not chosen
    the month's exemplar; once per unit and day, across restarts and workers."""
    now, today = services.now(), services.today()
    if services.local(now).hour < FROM_HOUR:
        return 0
    notifier = Notifier(session, services)
    month = month_of(today)
    reminded = 0
    for campaign in exemplar_campaigns(services):
        if not campaign.is_open(today) or today.day not in campaign.exemplar_reminder_days:
            continue
        if today.day >= campaign.exemplar_deadline_day:
            continue
        campaign_id = services.campaign_ids[campaign.slug]
        chosen = {e.unit_id for e in await store.of_month(session, campaign_id, month)}
        for unit in await reports.campaign_units(session, campaign):
            heads = await roles.unit_heads(session, unit.id)
            if unit.id in chosen or not heads:
                continue
            key = f"{campaign.slug}:{unit.id}:{month}"
            if not await marks.once(session, "exemplar", key, today, now):
                continue
            reply = Reply(
                services.texts.render(
                    "month.reminder",
                    campaign=campaign,
                    unit=unit,
                    month=_display(month),
                    deadline=deadline_of(campaign, month),
                )
            )
            for head in heads:
                await notifier.to_person(head, reply)
            reminded += 1
    return reminded


# --- the office's list -----------------------------------------------------------------


@dataclass
class ListRow:
    """One unit's nomination as the office sees it."""

    id: int
    unit: Unit
    name: str
    place: str
    code: str
    title: str
    reason: str
    by: str
    goes_up: bool
    by_id: int


async def office_org(session: AsyncSession, campaign: CampaignSpec) -> Organisation | None:
    """The organisation the campaign's units report to (the office)."""
    return await nominations.organisation_named(session, campaign.organisation)


def _is_office(grants: list[RoleGrant], named_admin: bool, org: Organisation | None) -> bool:
    if named_admin or any(g.role == roles.ADMIN for g in grants):
        return True
    org_id = org.id if org else None
    return any(g.role == roles.REVIEWER and g.organisation_id in (None, org_id) for g in grants)


async def may_office(ctx: Ctx, campaign: CampaignSpec) -> bool:
    """Whether the sender works for the campaign's office: its reviewers (of that organisation
    or of none) and the admins."""
    grants = await roles.of(ctx.session, ctx.person.id) if ctx.person else []
    return _is_office(grants, ctx.is_admin, await office_org(ctx.session, campaign))


async def list_rows(session: AsyncSession, campaign_id: int, month: str) -> list[ListRow]:
    """The month's nominations, units by level then in Vietnamese alphabetical order."""
    rows = []
    for e in await store.of_month(session, campaign_id, month):
        unit = await session.get(Unit, e.unit_id)
        sub = await session.get(Submission, e.submission_id)
        by = await session.get(Person, e.nominated_by_id)
        if unit is None or sub is None:
            continue
        address = " ".join(str(sub.values.get("exemplar_address", "")).split())
        position, place = split_position(address)
        rows.append(
            ListRow(
                id=e.id,
                unit=unit,
                name=str(sub.values.get("exemplar_name", "")),
                place=", ".join(p for p in (position, place) if p),
                code=sub.code or "",
                title=str(sub.values.get("title", "")),
                reason=e.reason,
                by=(by.full_name if by and by.full_name else "—"),
                goes_up=e.goes_up,
                by_id=e.nominated_by_id,
            )
        )
    rows.sort(key=lambda r: reports.unit_order(r.unit))
    return rows


async def show_list(ctx: Ctx, args: str) -> None:
    """/dsguongthang [YYYY-MM]: the month's nominations, with marks and "send up"."""
    month_date = reports.parse_month(args) if args.strip() else ctx.services.today()
    if month_date is None:
        ctx.say("month.bad_month", raw=args.strip()[:20])
        return
    campaigns = exemplar_campaigns(ctx.services)
    if not campaigns:
        ctx.say("month.no_exemplar_campaign")
        return
    month = month_of(month_date)
    # The campaign running in that month first, then any the sender works for.
    campaigns.sort(key=lambda c: not (c.opens.replace(day=1) <= month_date <= c.closes))
    for campaign in campaigns:
        if await may_office(ctx, campaign):
            ctx.response.replies.append(await office_reply(ctx, campaign, month))
            return
    ctx.say("month.office_only")


async def office_reply(ctx: Ctx, campaign: CampaignSpec, month: str) -> Reply:
    """The office's list with a mark button per unit and «📤 Gửi danh sách lên …»."""
    campaign_id = ctx.services.campaign_ids[campaign.slug]
    rows = await list_rows(ctx.session, campaign_id, month)
    chosen = {r.unit.id for r in rows}
    units = await reports.campaign_units(ctx.session, campaign)
    missing = [u.name for u in sorted(units, key=reports.unit_order) if u.id not in chosen]
    sent = await store.sent_list(ctx.session, campaign_id, month)
    sender = await ctx.session.get(Person, sent.sent_by_id) if sent else None
    parent = await _parent(ctx.session, campaign)
    choices: list[Choice] = []
    if sent is None:
        choices = [
            Choice(ctx.text("month.toggle_button", row=r, number=n), f"!{BUTTON}:t:{r.id}")
            for n, r in enumerate(rows, start=1)
        ]
        if rows and parent is not None:
            choices.append(
                Choice(
                    ctx.text("month.send_button", parent=parent.name),
                    f"!{BUTTON}:s:{campaign_id}:{month}",
                )
            )
    reply = Reply(
        ctx.text(
            "month.office_list",
            campaign=campaign,
            month=_display(month),
            rows=rows,
            missing=missing,
            sent=ctx.services.local(sent.sent_at) if sent else None,
            sent_by=sender.full_name if sender else None,
            parent=parent.name if parent else None,
        ),
        choices=choices,
    )
    return reply


async def _parent(session: AsyncSession, campaign: CampaignSpec) -> Organisation | None:
    org = await office_org(session, campaign)
    if org is None or org.parent_id is None:
        return None
    return await session.get(Organisation, org.parent_id)


async def on_press(ctx: Ctx) -> None:
    """An office button: mark/unmark a nomination, or send the month's list up."""
    parts = ctx.event.button.lstrip("!").split(":")
    if len(parts) == 3 and parts[1] == "t" and (number := parse_id(parts[2])) is not None:
        await _toggle(ctx, number)
        return
    if len(parts) == 4 and parts[1] == "s" and (number := parse_id(parts[2])) is not None:
        await _send_up(ctx, number, parts[3])
        return
    _refuse(ctx, "review.bad_button")


async def _toggle(ctx: Ctx, exemplar_id: int) -> None:
    row = await store.by_id(ctx.session, exemplar_id)
    campaign = ctx.services.campaign_by_id(row.campaign_id) if row else None
    if row is None or campaign is None:
        _refuse(ctx, "review.bad_button")
        return
    if not await may_office(ctx, campaign):
        _refuse(ctx, "month.not_allowed")
        return
    if await store.sent_list(ctx.session, row.campaign_id, row.month):
        _refuse(ctx, "month.month_closed_for_office", month=_display(row.month))
        return
    person = await acting_person(ctx)
    await store.set_goes_up(ctx.session, row, not row.goes_up)
    unit = await ctx.session.get(Unit, row.unit_id)
    await _record_mark(ctx, row, person)
    ctx.notice("month.marked", goes_up=row.goes_up, unit=unit.name if unit else "")
    if not ctx.event.has_buttons:
        # No toast where there are no buttons: the answer says it.
        ctx.say("month.marked", goes_up=row.goes_up, unit=unit.name if unit else "")
    ctx.response.replies.append(await office_reply(ctx, campaign, row.month))


async def _record_mark(ctx: Ctx, row: MonthExemplar, person: Person) -> None:
    await events.record(
        ctx.session,
        at=ctx.services.now(),
        subject="month_exemplar",
        subject_id=row.id,
        action="month_exemplar_marked" if row.goes_up else "month_exemplar_unmarked",
        actor_id=person.id,
        channel=ctx.event.channel,
        data={"month": row.month, "unit_id": row.unit_id, "role": await _office_role(ctx)},
    )


async def _office_role(ctx: Ctx) -> str:
    grants = await roles.of(ctx.session, ctx.person.id) if ctx.person else []
    return roles.REVIEWER if any(g.role == roles.REVIEWER for g in grants) else roles.ADMIN


async def _send_up(ctx: Ctx, campaign_id: int, month: str) -> None:
    campaign = ctx.services.campaign_by_id(campaign_id)
    if campaign is None or reports.parse_month(month) is None or not campaign.monthly_exemplar:
        _refuse(ctx, "review.bad_button")
        return
    if not await may_office(ctx, campaign):
        _refuse(ctx, "month.not_allowed")
        return
    sent = await store.sent_list(ctx.session, campaign_id, month)
    if sent is not None:
        await _already_sent(ctx, sent.sent_by_id, sent.sent_at, month)
        return
    parent = await _parent(ctx.session, campaign)
    office = await office_org(ctx.session, campaign)
    if parent is None or office is None:
        _refuse(ctx, "month.no_parent", organisation=campaign.organisation)
        return
    rows = [r for r in await list_rows(ctx.session, campaign_id, month) if r.goes_up]
    if not rows:
        _refuse(ctx, "month.nothing_marked")
        return
    receivers = {
        p.id: p for g, p in await roles.holders(ctx.session, roles.REVIEWER)
        if g.organisation_id == parent.id
    }  # fmt: skip
    if not receivers:
        _refuse(ctx, "month.no_reviewers", parent=parent.name)
        return
    person = await acting_person(ctx)
    now = ctx.services.now()
    won = await store.mark_sent(
        ctx.session, campaign_id=campaign_id, month=month, organisation_id=parent.id,
        by_id=person.id, now=now,
    )  # fmt: skip
    if not won:
        sent = await store.sent_list(ctx.session, campaign_id, month)
        assert sent is not None
        await _already_sent(ctx, sent.sent_by_id, sent.sent_at, month)
        return
    sent = await store.sent_list(ctx.session, campaign_id, month)
    assert sent is not None
    await events.record(
        ctx.session,
        at=now,
        subject="month_list",
        subject_id=sent.id,
        action="month_list_sent",
        actor_id=person.id,
        channel=ctx.event.channel,
        to_status="sent",
        data={
            "campaign": campaign.slug,
            "month": month,
            "organisation": parent.name,
            "exemplars": [r.id for r in rows],
            "role": await _office_role(ctx),
        },
    )
    who = person.full_name or ctx.event.user_name or ctx.event.user_id
    text = ctx.services.texts.render(
        "month.sent_up", campaign=campaign, month=_display(month), organisation=office.name,
        rows=rows, who=who,
    )  # fmt: skip
    notifier = Notifier(ctx.session, ctx.services)
    reached = 0
    for receiver in receivers.values():
        reached += await notifier.to_person(receiver, Reply(text))
    # Each head whose pick went up hears it: the unit's work reached the level above.
    for row in rows:
        head = await ctx.session.get(Person, row.by_id)
        if head is not None:
            told = ctx.services.texts.render(
                "month.to_head", month=_display(month), parent=parent.name, row=row
            )
            await notifier.to_person(head, Reply(told))
    ctx.notice("month.sent_done", month=_display(month), parent=parent.name, count=len(rows),
               reached=reached)  # fmt: skip
    ctx.say("month.sent_done", month=_display(month), parent=parent.name, count=len(rows),
            reached=reached)  # fmt: skip
    ctx.response.press_accepted = True


async def _already_sent(ctx: Ctx, by_id: int, at: datetime, month: str) -> None:
    who = await ctx.session.get(Person, by_id)
    name = who.full_name if who else ""
    when = ctx.services.local(at)
    _refuse(ctx, "month.already_sent", month=_display(month), when=when, who=name)


def _refuse(ctx: Ctx, template: str, /, **values: object) -> None:
    """A refusal shown where the button was pressed (and as a message where none can be)."""
    ctx.notice(template, **values)
    if not ctx.event.has_buttons:
        ctx.say(template, **values)
    ctx.response.press_accepted = False


def _display(month: str) -> str:
    """'01/2024' for '2024-01', as Vietnamese offices write a month."""
    year, number = month.split("-")
    return f"{number}/{year}"
