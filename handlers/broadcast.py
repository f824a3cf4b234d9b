"""Honour approved stories and spread them to the audience: subscribers, channels and groups."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import invites
from handlers.context import Ctx
from handlers.fields import clean_story
from handlers.notify import Notifier
from handlers.phones import mask_phones, story_has_phone
from handlers.services import Services
from handlers.text_rules import clean_line, fold
from handlers.types import Reply, reply_to_payload
from storage import events, honours, outbox, roles
from storage import submissions as repo
from storage.models import AudienceMember, Broadcast, Honour, Submission

NUMBER_STEP, DATE_STEP, SUMMARY_STEP, CONFIRM_STEP = (
    "honour_number", "honour_date", "honour_summary", "honour_confirm",
)  # fmt: skip
STEPS = (NUMBER_STEP, DATE_STEP, SUMMARY_STEP, CONFIRM_STEP)
SUMMARY_MIN, SUMMARY_MAX = 10, 500
BROADCAST_PRIORITY = 1
_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")


class HonourRefused(Exception):
    """Why a story cannot be honoured: "not_found", "not_approved" or "already"."""

    def __init__(self, reason: str, sub: Submission | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sub = sub


async def honour(
    session: AsyncSession,
    services: Services,
    code: str,
    *,
    decision_number: str,
    decision_date: date,
    summary: str,
    actor_id: int | None,
    channel: str,
    progress_chat: tuple[str, str] | None = None,
) -> tuple[Honour, Broadcast]:
    """Honour an approved story and start broadcasting it; refuses anything else."""
    sub = await repo.by_code(session, code)
    if sub is None:
        raise HonourRefused("not_found")
    if await honours.for_submission(session, sub.id) is not None:
        raise HonourRefused("already", sub)
    now = services.now()
    if not await repo.transition(
        session, sub, (repo.APPROVED,), repo.HONOURED, sub.version, now, decided_by_id=actor_id
    ):
        raise HonourRefused("already" if sub.status == repo.HONOURED else "not_approved", sub)
    row = await honours.create(
        session,
        sub,
        decision_number=decision_number,
        decision_date=decision_date,
        summary=summary,
        slug=page_slug(sub),
        honoured_by_id=actor_id,
        at=now,
    )
    await events.record(
        session,
        at=now,
        subject="submission",
        subject_id=sub.id,
        action="honoured",
        actor_id=actor_id,
        channel=channel,
        from_status=repo.APPROVED,
        to_status=repo.HONOURED,
        data={
            "decision": decision_number,
            "decision_date": decision_date.isoformat(),
            "slug": row.slug,
        },
    )
    notifier = Notifier(session, services)
    told = Reply(services.texts.render("broadcast.honoured_author", sub=sub, honour=row))
    await notifier.to_chat(sub.channel, sub.chat_id, told)
    if sub.unit_id:
        for head in await roles.unit_heads(session, sub.unit_id):
            await notifier.to_person(head, told)
    broadcast = await start_broadcast(session, services, sub, row, actor_id, channel, progress_chat)
    return row, broadcast


async def start_broadcast(
    session: AsyncSession,
    services: Services,
    sub: Submission,
    row: Honour,
    actor_id: int | None,
    channel: str,
    progress_chat: tuple[str, str] | None,
) -> Broadcast:
    """One outbox row per active audience member, written before anything is sent."""
    now = services.now()
    members = list(
        await session.scalars(
            select(AudienceMember)
            .where(AudienceMember.active.is_(True))
            .order_by(AudienceMember.id)
        )
    )
    broadcast = Broadcast(
        submission_id=sub.id,
        created_by_id=actor_id,
        created_at=now,
        total=len(members),
        progress_channel=progress_chat[0] if progress_chat else None,
        progress_chat_id=progress_chat[1] if progress_chat else None,
    )
    session.add(broadcast)
    await session.flush()
    payload = reply_to_payload(post(services, sub, row), services.media_dir)
    await outbox.enqueue_many(
        session,
        [
            {
                "channel": m.channel,
                "chat_id": m.chat_id,
                "kind": "send",
                "payload": payload,
                "status": outbox.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "message_ids": {},
                "priority": BROADCAST_PRIORITY,
                "broadcast_id": broadcast.id,
                "audience_id": m.id,
            }
            for m in members
        ],
    )
    if progress_chat:
        await outbox.enqueue(
            session,
            progress_chat[0],
            progress_chat[1],
            {"text": progress_text(services, broadcast, {}, False), "choices": [], "photos": []},
            now=now,
            stage="progress",
            broadcast_id=broadcast.id,
        )
    await events.record(
        session,
        at=now,
        subject="submission",
        subject_id=sub.id,
        action="broadcast_started",
        actor_id=actor_id,
        channel=channel,
        data={"broadcast_id": broadcast.id, "total": len(members)},
    )
    return broadcast


def page_slug(sub: Submission) -> str:
    """The story page's readable, unique address: "nguyen-thi-lan-gs-2024-0001".

    A phone typed into the exemplar's name is hidden first, so it never appears in a URL.
    """
    name = mask_phones(str(sub.values.get("exemplar_name") or ""))
    words = "".join(ch if ch.isalnum() else " " for ch in fold(f"{name} {sub.code or ''}"))
    return "-".join(words.split())[:120]


def public_fields(sub: Submission, row: Honour) -> dict[str, str]:
    """What a post shows of an honoured story, with any phone number hidden."""
    values = sub.values
    return {
        key: mask_phones(str(value or ""))
        for key, value in {
            "exemplar": values.get("exemplar_name"),
            "address": values.get("exemplar_address"),
            "title": values.get("title"),
            "summary": row.summary,
            "decision_number": row.decision_number,
        }.items()
    }


def post(services: Services, sub: Submission, row: Honour) -> Reply:
    """The broadcast post: never the story in full, never a phone number; a link instead.

    The template gets only the public fields, phones hidden, so it cannot show one by mistake.
    """
    photos = [a for a in sub.attachments if a.kind == "photo"]
    text = services.texts.render(
        "broadcast.post",
        story=public_fields(sub, row),
        decision_date=row.decision_date,
        link=f"{services.public_url}/exemplars/{row.slug}",
    )
    return Reply(text, photos=[services.media_dir / photos[0].stored_path] if photos else [])


def progress_text(
    services: Services, broadcast: Broadcast, counts: dict[str, int], done: bool
) -> str:
    """ "đã gửi 1.200 / 5.000" while running; the report once finished."""
    sent = counts.get(outbox.SENT, 0)
    finished = broadcast.finished_at or services.now()
    seconds = max((finished - broadcast.created_at).total_seconds(), 0.001)
    return services.texts.render(
        "broadcast.report" if done else "broadcast.progress",
        broadcast=broadcast,
        sent=sent,
        failed=counts.get(outbox.FAILED, 0),
        blocked=counts.get(outbox.BLOCKED, 0),
        seconds=round(seconds),
        rate=sent / seconds,
    )


async def set_subscription(
    session: AsyncSession,
    services: Services,
    channel: str,
    chat_id: str,
    person_id: int | None,
    on: bool,
    kind: str = "person",
) -> tuple[AudienceMember, bool]:
    """Add or (de)activate an audience member; returns it and whether anything changed."""
    member = await session.scalar(
        select(AudienceMember).where(
            AudienceMember.channel == channel, AudienceMember.chat_id == chat_id
        )
    )
    if member is None:
        if not on:
            return AudienceMember(channel=channel, chat_id=chat_id, active=False), False
        member = AudienceMember(
            channel=channel,
            chat_id=chat_id,
            kind=kind,
            person_id=person_id,
            active=True,
            added_at=services.now(),
        )
        session.add(member)
        await session.flush()
        return member, True
    changed = member.active != on
    member.active = on
    member.inactive_reason = None if on else "unsubscribed"
    return member, changed


def decline_offer(ctx: Ctx) -> None:
    """ "No, thanks" to the offer after registration: nothing changes, and it says how to
    subscribe later."""
    ctx.say("broadcast.offer_declined")


async def subscribe(ctx: Ctx, on: bool) -> None:
    """/subscribe and /unsubscribe (and the button offered after registration)."""
    event = ctx.event
    _member, changed = await set_subscription(
        ctx.session,
        ctx.services,
        event.channel,
        event.chat_id,
        ctx.person.id if ctx.person else None,
        on,
    )
    if changed and ctx.person:
        await events.record(
            ctx.session,
            at=ctx.services.now(),
            subject="person",
            subject_id=ctx.person.id,
            action="subscribed" if on else "unsubscribed",
            actor_id=ctx.person.id,
            channel=event.channel,
        )
    ctx.say("broadcast.subscribed" if on else "broadcast.unsubscribed", changed=changed)


async def start_honour(ctx: Ctx, code: str) -> None:
    """/honour GS-…: admins give the decision number, its date and a summary, then confirm."""
    if not await invites.is_admin(ctx):
        ctx.say("broadcast.admins_only")
        return
    if not code.strip():
        # Which stories can be honoured is what the admin needs to know to type a code.
        waiting = await ctx.session.scalars(
            select(Submission)
            .where(Submission.status == repo.APPROVED)
            .order_by(Submission.status_since, Submission.id)
            .limit(20)
        )
        ctx.say("broadcast.choose_story", stories=list(waiting))
        return
    sub = await repo.by_code(ctx.session, code.strip())
    problem = await _honour_problem(ctx, sub)
    if problem:
        ctx.say("broadcast.refused", reason=problem, code=code.strip()[:30], sub=sub)
        return
    assert sub is not None
    ctx.goto(NUMBER_STEP, code=sub.code)
    ctx.say("broadcast.ask_number", sub=sub)


async def _honour_problem(ctx: Ctx, sub: Submission | None) -> str:
    if sub is None:
        return "not_found"
    if sub.status == repo.HONOURED or await honours.for_submission(ctx.session, sub.id):
        return "already"
    if sub.status != repo.APPROVED:
        return "not_approved"
    return ""


@invites.admin_step("broadcast.admins_only")
async def on_number(ctx: Ctx) -> None:
    """The decision's number, e.g. 1625/QĐ-UBND."""
    text = clean_line(ctx.event.text) if ctx.event.kind == "text" else ""
    # A decision's number has digits ("1625/QĐ-UBND"): a word typed by mistake is not one.
    if not 3 <= len(text) <= 100 or not any(ch.isdigit() for ch in text):
        ctx.say("broadcast.ask_number_again")
        return
    ctx.update(number=text)
    if await _back_to_confirm(ctx):
        return
    ctx.goto(DATE_STEP, **ctx.data)
    today = ctx.services.today()
    ctx.say("broadcast.ask_date", choices=[ctx.button("today", "today", day=today)])


@invites.admin_step("broadcast.admins_only")
async def on_date(ctx: Ctx) -> None:
    """The decision's date: dd/mm/yyyy, or "today"."""
    event, today = ctx.event, ctx.services.today()
    day: date | None = None
    if event.kind == "button" and event.button == "today":
        day = today
    elif event.kind == "text":
        day = parse_date(event.text)
    if day is None or day > today:
        ctx.say(
            "broadcast.bad_date", today=today, choices=[ctx.button("today", "today", day=today)]
        )
        return
    ctx.update(date=day.isoformat())
    if await _back_to_confirm(ctx):
        return
    ctx.goto(SUMMARY_STEP, **ctx.data)
    ctx.say("broadcast.ask_summary", low=SUMMARY_MIN, high=SUMMARY_MAX)


@invites.admin_step("broadcast.admins_only")
async def on_summary(ctx: Ctx) -> None:
    """The achievement summary, then a preview of the post with the audience's size."""
    text = clean_story(ctx.event.text) if ctx.event.kind == "text" else ""
    if not SUMMARY_MIN <= len(text) <= SUMMARY_MAX:
        ctx.say("broadcast.bad_summary", length=len(text), low=SUMMARY_MIN, high=SUMMARY_MAX)
        return
    ctx.update(summary=text)
    if not await _back_to_confirm(ctx):
        ctx.goto(CONFIRM_STEP, **ctx.data)
        await _confirm(ctx)


# What each "change" button at the confirmation goes back to ask.
EDITS = {"edit_number": NUMBER_STEP, "edit_date": DATE_STEP, "edit_summary": SUMMARY_STEP}


async def _back_to_confirm(ctx: Ctx) -> bool:
    """After one part was changed from the confirmation, show the confirmation again
    rather than asking the later parts anew (they are kept)."""
    if not ctx.data.get("editing"):
        return False
    data = {k: v for k, v in ctx.data.items() if k != "editing"}
    ctx.goto(CONFIRM_STEP, **data)
    await _confirm(ctx)
    return True


async def _confirm(ctx: Ctx) -> None:
    data = ctx.data
    sub = await repo.by_code(ctx.session, data["code"])
    assert sub is not None
    preview = Honour(
        decision_number=data["number"],
        decision_date=date.fromisoformat(data["date"]),
        summary=data["summary"],
        slug=page_slug(sub),
    )
    audience = await ctx.session.scalar(
        select(func.count()).select_from(AudienceMember).where(AudienceMember.active.is_(True))
    )
    ctx.response.replies.append(post(ctx.services, sub, preview))
    ctx.say(
        "broadcast.ask_confirm",
        audience=audience,
        phones_hidden=story_has_phone(sub.values, data["summary"]),
        choices=[
            ctx.button("honour_go", "go", audience=audience),
            *(ctx.button(f"honour_{edit}", edit) for edit in EDITS),
            ctx.button("honour_cancel", "cancel"),
        ],
    )


@invites.admin_step("broadcast.admins_only")
async def on_confirm(ctx: Ctx) -> None:
    """Honour and broadcast, or cancel."""
    event, data = ctx.event, ctx.data
    if event.kind == "button" and event.button == "cancel":
        ctx.goto("idle")
        ctx.say("common.cancelled")
        return
    if event.kind == "button" and event.button in EDITS:
        # A typo in one part should not cost retyping the others.
        ctx.goto(EDITS[event.button], **data, editing=True)
        await resume(ctx)
        return
    if not (event.kind == "button" and event.button == "go"):
        ctx.say("common.use_buttons")
        await _confirm(ctx)
        return
    ctx.goto("idle")
    try:
        row, broadcast = await honour(
            ctx.session,
            ctx.services,
            data["code"],
            decision_number=data["number"],
            decision_date=date.fromisoformat(data["date"]),
            summary=data["summary"],
            actor_id=(await invites.acting_person(ctx)).id,
            channel=event.channel,
            progress_chat=(event.channel, event.chat_id),
        )
    except HonourRefused as exc:
        ctx.say("broadcast.refused", reason=exc.reason, code=data["code"], sub=exc.sub)
        return
    ctx.say(
        "broadcast.started",
        honour=row,
        total=broadcast.total,
        link=f"{ctx.services.public_url}/exemplars/{row.slug}",
    )


async def resume(ctx: Ctx) -> None:
    """Ask again what the /honour conversation waits for."""
    step, data = ctx.conv.step, ctx.data
    # While changing one part from the confirmation, its current value is shown to copy.
    current = data.get("editing") and {
        NUMBER_STEP: data.get("number"),
        DATE_STEP: data.get("date") and date.fromisoformat(data["date"]),
        SUMMARY_STEP: data.get("summary"),
    }.get(step)
    if step == NUMBER_STEP:
        ctx.say("broadcast.ask_number_again", current=current)
    elif step == DATE_STEP:
        ctx.say(
            "broadcast.ask_date",
            current=current,
            choices=[ctx.button("today", "today", day=ctx.services.today())],
        )
    elif step == SUMMARY_STEP:
        ctx.say("broadcast.ask_summary", low=SUMMARY_MIN, high=SUMMARY_MAX, current=current)
    else:
        await _confirm(ctx)


def parse_date(text: str) -> date | None:
    """dd/mm/yyyy (also with dots or dashes), or yyyy-mm-dd; None when not a real date."""
    raw = text.strip()
    try:
        match = _DATE.fullmatch(raw)
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        return None
