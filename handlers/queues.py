"""What waits for whom: /pending, /history, and daily reminders of stories waiting too long."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import ladder, review
from handlers.context import Ctx
from handlers.ladder_press import stage as ladder_stage
from handlers.notify import Notifier
from handlers.services import Services
from handlers.types import Choice
from storage import events, marks, roles
from storage import submissions as repo
from storage.models import Person, Submission, Unit

PAGE_SIZE = 5


async def waiting_for(ctx: Ctx) -> list[tuple[Submission, str, datetime, str]]:
    """Stories waiting for the sender to act, oldest first, with the stage they wait in,
    since when, and (at a level of the nomination ladder) the level's name."""
    found: list[tuple[Submission, str, datetime, str]] = []
    for sub in await repo.waiting(ctx.session, (repo.SUBMITTED, repo.IN_REVIEW)):
        stage = review.UNIT if sub.status == repo.SUBMITTED else review.REVIEW
        allowed, _ = await review.may_act(ctx, sub, stage)
        if allowed:
            found.append((sub, stage, sub.status_since or sub.created_at, ""))
    for sub, row, name in await ladder.waiting_for(ctx):
        found.append((sub, ladder_stage(row.level), row.nominated_at, name))
    found.sort(key=lambda item: item[2])
    return found


async def pending(ctx: Ctx, page: int = 0) -> None:
    """/pending: one page of what waits, with a button per story and page buttons."""
    items = await waiting_for(ctx)
    if not items:
        ctx.say("queue.empty")
        return
    pages = (len(items) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    shown = items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    now = ctx.services.now()
    rows = [(sub, stage, (now - since).days, name) for sub, stage, since, name in shown]
    choices = [Choice(ctx.text("buttons.open_item", sub=sub), f"!op:{sub.id}") for sub, *_ in shown]
    if page > 0:
        choices.append(ctx.button("page_prev", f"!pd:{page - 1}"))
    if page < pages - 1:
        choices.append(ctx.button("page_next", f"!pd:{page + 1}"))
    ctx.say("queue.page", rows=rows, page=page + 1, pages=pages, total=len(items), choices=choices)


async def open_card(ctx: Ctx, submission_id: int) -> None:
    """Send the story's card, with its decision buttons, to whoever may act on it."""
    sub = await repo.get(ctx.session, submission_id)
    # Approved at the review, it may wait at a level of the ladder the sender decides at.
    waits = (repo.SUBMITTED, repo.IN_REVIEW)
    if sub is not None and sub.status not in waits and await ladder.open_card(ctx, sub):
        return
    if sub is None or sub.status not in (repo.SUBMITTED, repo.IN_REVIEW):
        ctx.notice("queue.not_waiting")
        ctx.response.press_accepted = False
        return
    stage = review.UNIT if sub.status == repo.SUBMITTED else review.REVIEW
    allowed, _ = await review.may_act(ctx, sub, stage)
    if not allowed:
        ctx.notice("review.not_allowed", **await review.not_allowed_values(ctx, stage, sub))
        ctx.response.press_accepted = False
        return
    reply = await review.card(ctx.session, ctx.services, sub, stage)
    # Through the outbox, so the card is edited with the others when the story is decided.
    await Notifier(ctx.session, ctx.services).to_chat(
        ctx.event.channel,
        ctx.event.chat_id,
        reply,
        submission_id=sub.id,
        stage=stage,
        version=sub.version,
    )
    ctx.response.press_accepted = False


async def history(ctx: Ctx, code: str) -> None:
    """/history GS-…: the story's event log, for reviewers, the unit's heads and admins."""
    sub = await repo.by_code(ctx.session, code.strip()) if code.strip() else None
    if sub is None:
        ctx.say("queue.history_unknown", code=code.strip()[:30])
        return
    # Only what the sender may decide on: the unit's heads, reviewers whose levels and
    # organisation cover the unit, admins (named in GUONGSANG_ADMINS or granted) everything.
    unit_ok, _ = await review.may_act(ctx, sub, review.UNIT)
    review_ok, _ = await review.may_act(ctx, sub, review.REVIEW)
    # A level the story was sent up to sees how it got there.
    if not (unit_ok or review_ok or await ladder.may_see(ctx, sub)):
        ctx.say("queue.history_not_allowed", code=sub.code, held=await review.held_roles(ctx))
        return
    log = await events.history(ctx.session, "submission", sub.id)
    names: dict[int, str] = {}
    for event in log:
        if event.actor_id and event.actor_id not in names:
            names[event.actor_id] = await _name_of(ctx, event.actor_id)
    ctx.say(
        "queue.history",
        sub=sub,
        # The unit's type names who confirmed ("Chủ tịch công đoàn xác nhận").
        unit=await ctx.session.get(Unit, sub.unit_id) if sub.unit_id else None,
        rows=[(e, names.get(e.actor_id or 0, ""), ctx.services.local(e.at)) for e in log],
    )


async def _name_of(ctx: Ctx, person_id: int) -> str:
    """A person's full name; for an admin who acted without registering, their chat name."""
    person = await ctx.session.get(Person, person_id)
    if person is None:
        return ""
    if person.full_name:
        return person.full_name
    accounts = await roles.identities(ctx.session, person_id)
    return next((a.display_name for a in accounts if a.display_name), "")


async def remind_waiting(session: AsyncSession, services: Services) -> int:
    """Remind, at most once a day per story, whoever a story has waited for too long."""
    now, today = services.now(), services.today()
    reminded = 0
    for sub in await repo.waiting(session, (repo.SUBMITTED, repo.IN_REVIEW)):
        days = review.campaign_of(services, sub).review.remind_after_days
        since = sub.status_since or sub.submitted_at or sub.created_at
        if now - since < timedelta(days=days):
            continue
        key = f"{sub.id}:{sub.status}:{sub.version}"
        if not await marks.once(session, "waiting", key, today, now):
            continue
        await review.send_for_review(session, services, sub, reminder=(now - since).days)
        reminded += 1
    return reminded
