"""The nomination ladder (letters 001 and 002): a story approved at one level is sent up to
the next, whose reviewers decide in turn (select, send back, not select).

Level 0 is the campaign's own review, whose state is the submission's status; every level
above keeps its state in a nominations row, so campaigns without a ladder are untouched.
Who may act is checked on every press and typed command: the reviewers of a level are those
invited for its organisation (`guongsang invite --role reviewer --organisation NAME`).
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import invites, ladder_rules, review
from handlers.context import Ctx
from handlers.fields import clean_story
from handlers.ladder_press import (
    NOT_SELECTED,
    RETURN,
    SELECT,
    UP,
    LadderPress,
    offer_up,
    stage,
    up_choices,
)
from handlers.notify import Notifier
from handlers.reports import month_bounds
from handlers.services import Services
from handlers.text_rules import excerpt
from handlers.types import Choice, Reply
from storage import conversations, events, nominations, roles
from storage import submissions as repo
from storage.models import Nomination, Person, Submission, Unit

NOTE_STEP = "ladder_note"
# Typed where there are no buttons (Zalo): command → action.
TYPED = {"guilen": UP, "chon": SELECT, "tracapduoi": RETURN, "khongchon": NOT_SELECTED}
OUTCOMES = {
    SELECT: nominations.SELECTED,
    RETURN: nominations.RETURNED,
    NOT_SELECTED: nominations.NOT_SELECTED,
}


def ladder_of(services: Services, sub: Submission) -> tuple[str, ...]:
    """The organisations the story's campaign runs through, lowest first."""
    return review.campaign_of(services, sub).ladder


def acting_level(press: LadderPress) -> int:
    """The level whose reviewers may make this press: sending up is the level below's."""
    return press.level - 1 if press.action == UP else press.level


async def may_act(ctx: Ctx, sub: Submission, level: int) -> bool:
    """Whether the sender decides at `level`: level 0 as today's review does; above it,
    reviewers invited for that level's organisation, or admins."""
    grants = await roles.of(ctx.session, ctx.person.id) if ctx.person else []
    if level == 0:
        return (await review.allowed(ctx.session, grants, ctx.is_admin, sub, review.REVIEW))[0]
    if ctx.is_admin or any(g.role == roles.ADMIN for g in grants):
        return True
    org = await nominations.organisation_named(ctx.session, ladder_of(ctx.services, sub)[level])
    return org is not None and any(
        g.role == roles.REVIEWER and g.organisation_id == org.id for g in grants
    )


async def may_see(ctx: Ctx, sub: Submission) -> bool:
    """Whether the sender decides at a level the story was sent up to (its history is theirs)."""
    for row in await nominations.of_submission(ctx.session, sub.id):
        if await may_act(ctx, sub, row.level):
            return True
    return False


def is_decision(payload: str) -> bool:
    """Whether a numbered choice is a ladder step (which must not land on the wrong card)."""
    return LadderPress.parse(payload) is not None


async def ask_for_code(ctx: Ctx, payload: str) -> None:
    """A number answered one of several cards: ask for the step typed with the story's code."""
    press = LadderPress.parse(payload)
    assert press is not None
    sub = await repo.get(ctx.session, press.submission_id)
    command = next(c for c, action in TYPED.items() if action == press.action)
    ctx.say(
        "review.number_ambiguous",
        command=command,
        code=sub.code if sub else "",
        needs_note=press.action != SELECT,
    )


async def on_press(ctx: Ctx) -> None:
    """A ladder button: send a story up, or decide at a level, after checking who pressed."""
    press = LadderPress.parse(ctx.event.button)
    sub = await repo.get(ctx.session, press.submission_id) if press else None
    if press is None or sub is None or sub.code is None:
        _refuse(ctx, "review.bad_button")
        return
    ladder = ladder_of(ctx.services, sub)
    if not 1 <= press.level < len(ladder):
        _refuse(ctx, "review.bad_button")
        return
    await _act(ctx, sub, press, note=None, typed=False)


async def on_command(ctx: Ctx, command: str, args: str) -> None:
    """A ladder step typed with the story's code ("/guilen GS-2024-0001 ghi chú"), for
    channels without buttons; the level is where the story stands, and is checked as a
    press is."""
    action = TYPED[command]
    code, *rest = args.split(None, 1) or [""]
    if not code:
        ctx.say("ladder.typed_usage", command=command)
        return
    sub = await repo.by_code(ctx.session, code.upper())
    if sub is None:
        ctx.say("review.no_such_code", code=code[: review.CODE_ECHO])
        return
    ladder = ladder_of(ctx.services, sub)
    if not ladder:
        ctx.say("ladder.no_ladder", code=sub.code)
        return
    rows = await nominations.of_submission(ctx.session, sub.id)
    if action == UP:
        # From where the story stands: a level still deciding is "not ready" to send on.
        live = (nominations.PENDING, nominations.SELECTED)
        level = 1 + max((r.level for r in rows if r.status in live), default=0)
        if level >= len(ladder):
            ctx.say("ladder.at_top", code=sub.code)
            return
    else:
        if not rows:
            ctx.say("ladder.nothing_pending", code=sub.code)
            return
        # The level deciding now; else the last one that decided, which says who did.
        pending = [r.level for r in rows if r.status == nominations.PENDING]
        level = pending[0] if pending else rows[-1].level
    press = LadderPress(action, sub.id, level)
    await _act(ctx, sub, press, note=clean_story(rest[0]) if rest else None, typed=True)


async def _act(
    ctx: Ctx, sub: Submission, press: LadderPress, note: str | None, typed: bool
) -> None:
    ladder = ladder_of(ctx.services, sub)
    if not await may_act(ctx, sub, acting_level(press)):
        _tell(ctx, typed, "ladder.not_allowed", code=sub.code, name=ladder[acting_level(press)])
        return
    await review.leave_note_step(ctx)
    if not await _still_open(ctx, sub, press, typed):
        return
    if press.action == SELECT:
        await apply(ctx, sub, press, None)
        return
    if not note:
        await _ask_note(ctx, sub, press)
        return
    if not review.note_fits(ctx, note):
        return
    await apply(ctx, sub, press, note)


async def _still_open(ctx: Ctx, sub: Submission, press: LadderPress, typed: bool) -> bool:
    """Whether the press can still take effect; if not, say why (and who came first)."""
    ladder = ladder_of(ctx.services, sub)
    row = await nominations.at_level(ctx.session, sub.id, press.level)
    if press.action == UP:
        below = press.level - 1
        if below == 0:
            ready = sub.status in (repo.APPROVED, repo.HONOURED)
        else:
            lower = await nominations.at_level(ctx.session, sub.id, below)
            ready = lower is not None and lower.status == nominations.SELECTED
        if not ready:
            _tell(ctx, typed, "ladder.not_ready", code=sub.code)
            return False
        if row is not None and row.status != nominations.RETURNED:
            await _already(ctx, sub, row, ladder, typed)
            return False
        return await _within_rules(ctx, sub, press, typed)
    if row is None:
        _tell(ctx, typed, "ladder.nothing_pending", code=sub.code)
        return False
    if row.status != nominations.PENDING:
        await _already(ctx, sub, row, ladder, typed)
        return False
    return await _within_rules(ctx, sub, press, typed)


async def _within_rules(ctx: Ctx, sub: Submission, press: LadderPress, typed: bool) -> bool:
    """Whether the level's dates and monthly quota allow the press (issue 20); if not, say
    why, politely, and record the refusal."""
    spec = review.campaign_of(ctx.services, sub)
    today = ctx.services.today()
    if press.action == UP:
        used = 0
        if ladder_rules.quota_applies(spec, press.level):
            since, until = month_bounds(today, ctx.services.tz)
            await nominations.hold_quota(ctx.session, sub.campaign_id, press.level)
            used = await nominations.sent_up(
                ctx.session, sub.campaign_id, press.level, since, until
            )
        refusal = ladder_rules.send_up_refusal(spec, press.level, today, used)
    else:
        refusal = ladder_rules.lock_level(spec, press.level, today)
    if refusal is None:
        return True
    # Nothing changes, but the office sees that (and why) a step was tried and refused; only
    # someone allowed to act gets here, so an admin who never wrote is recorded as decisions are.
    person = await invites.acting_person(ctx)
    await events.record(
        ctx.session,
        at=ctx.services.now(),
        subject="submission",
        subject_id=sub.id,
        action="ladder_refused",
        actor_id=person.id,
        channel=ctx.event.channel,
        reason=refusal.reason,
        data={
            "level": press.level,
            "organisation": refusal.name,
            "press": press.action,
            "used": refusal.used,
            "quota": refusal.quota,
        },
    )
    _tell(ctx, typed, "ladder.refused", code=sub.code, up=press.action == UP, r=refusal)
    return False


async def _already(
    ctx: Ctx, sub: Submission, row: Nomination, ladder: tuple[str, ...], typed: bool
) -> None:
    decided = row.status in nominations.DECIDED
    who_id = row.decided_by_id if decided else row.nominated_by_id
    who = await ctx.session.get(Person, who_id) if who_id else None
    at = row.decided_at if decided else row.nominated_at
    _tell(
        ctx,
        typed,
        "ladder.already_decided" if decided else "ladder.already_sent",
        code=sub.code,
        name=ladder[row.level],
        who=who.full_name if who else "",
        when=ctx.services.local(at) if at else None,
    )


async def _ask_note(ctx: Ctx, sub: Submission, press: LadderPress) -> None:
    """Ask for the nomination's note or the decision's reason in the presser's private chat."""
    event = ctx.event
    name = ladder_of(ctx.services, sub)[press.level]
    data = {"submission_id": sub.id, "level": press.level, "action": press.action}
    prompt = f"ladder.ask_note_{press.action}"
    if event.chat_id == event.user_id:
        ctx.goto(NOTE_STEP, **data)
        cancel = Choice(ctx.text("ladder.button_cancel"), "cancel")
        ctx.say(prompt, code=sub.code, name=name, choices=[cancel])
        return
    conv = await conversations.load(ctx.session, event.channel, event.user_id)
    conv.step, conv.data = NOTE_STEP, data
    await Notifier(ctx.session, ctx.services).to_chat(
        event.channel, event.user_id, Reply(ctx.text(prompt, code=sub.code, name=name))
    )
    ctx.notice("ladder.note_in_private", code=sub.code)


async def on_note(ctx: Ctx) -> None:
    """The note typed after pressing "send up", "send back" or "not selected"."""
    note = await review.typed_note(ctx, "ladder", resume_note)
    if note is None:
        return
    data = ctx.data
    sub = await repo.get(ctx.session, data["submission_id"])
    ctx.goto("idle")
    if sub is None or not 1 <= data["level"] < len(ladder_of(ctx.services, sub)):
        return
    press = LadderPress(data["action"], sub.id, data["level"])
    await _act(ctx, sub, press, note=note, typed=True)


async def resume_note(ctx: Ctx) -> None:
    """Ask again for the note being waited for."""
    data = ctx.data
    sub = await repo.get(ctx.session, data["submission_id"])
    if sub is None:
        ctx.goto("idle")
        return
    name = ladder_of(ctx.services, sub)[data["level"]]
    cancel = Choice(ctx.text("ladder.button_cancel"), "cancel")
    ctx.say(f"ladder.ask_note_{data['action']}", code=sub.code, name=name, choices=[cancel])


async def apply(ctx: Ctx, sub: Submission, press: LadderPress, note: str | None) -> None:
    """Record the step with compare-and-set, tell the next level, the author and the presser."""
    ladder = ladder_of(ctx.services, sub)
    name = ladder[press.level]
    person = await invites.acting_person(ctx)
    now = ctx.services.now()
    notifier = Notifier(ctx.session, ctx.services)
    org = await nominations.organisation_named(ctx.session, name)
    assert org is not None, "the app synchronises the ladder's organisations at start"
    if press.action == UP:
        assert note is not None
        won = await nominations.nominate(
            ctx.session, sub.id, press.level, org.id, person.id, note, now
        )
        action, before, after = "nominated", None, nominations.PENDING
    else:
        row = await nominations.at_level(ctx.session, sub.id, press.level)
        assert row is not None
        after = OUTCOMES[press.action]
        won = await nominations.decide(ctx.session, row, after, person.id, note, now)
        action, before = after, nominations.PENDING
    row = await nominations.at_level(ctx.session, sub.id, press.level)
    assert row is not None
    if not won:
        await ctx.session.refresh(row)
        await _already(ctx, sub, row, ladder, typed=ctx.event.kind != "button")
        return
    role = roles.REVIEWER if await _is_reviewer(ctx) else roles.ADMIN
    await events.record(
        ctx.session,
        at=now,
        subject="submission",
        subject_id=sub.id,
        action=f"ladder_{action}",
        actor_id=person.id,
        channel=ctx.event.channel,
        from_status=before,
        to_status=after,
        reason=note,
        data={"level": press.level, "organisation": name, "role": role, "version": sub.version},
    )
    ctx.notice("ladder.done", action=action, code=sub.code, name=name)
    ctx.response.press_accepted = True
    up = []
    if after == nominations.SELECTED:
        up = up_choices(ctx.services, ladder, sub.id, press.level)
    ctx.say("ladder.done", action=action, code=sub.code, name=name, choices=up)
    if press.action == UP:
        await _send_to_level(ctx, sub, press.level)
    else:
        who = person.full_name or ctx.event.user_name or ctx.event.user_id
        outcome = ctx.text(
            "ladder.outcome", action=action, name=name, who=who, when=ctx.services.local(now),
            note=note,
        )  # fmt: skip
        decided = await card(ctx.session, ctx.services, sub, press.level, outcome=outcome)
        if after == nominations.SELECTED:
            decided = offer_up(ctx.services, decided, ladder, sub.code or "", sub.id, press.level)
        await notifier.edit_cards(sub.id, stage(press.level), decided)
    if action == nominations.RETURNED:
        # A level sends a story back to the level below, not to its author: the office
        # that nominated it is told why, and may send it again.
        nominator = await ctx.session.get(Person, row.nominated_by_id)
        if nominator is not None:
            told = Reply(ctx.text("ladder.to_nominator", sub=sub, name=name, note=note))
            await notifier.to_person(nominator, told)
        return
    tell = Reply(ctx.text("ladder.to_author", action=action, sub=sub, name=name, note=note))
    await notifier.to_chat(sub.channel, sub.chat_id, tell)


async def _is_reviewer(ctx: Ctx) -> bool:
    """Whether the sender acted as a reviewer (rather than only as an admin), for the log."""
    grants = await roles.of(ctx.session, ctx.person.id) if ctx.person else []
    return any(g.role == roles.REVIEWER for g in grants)


async def _send_to_level(ctx: Ctx, sub: Submission, level: int) -> None:
    """The level's reviewers get the card with the lower levels' decisions and notes."""
    ladder = ladder_of(ctx.services, sub)
    org = await nominations.organisation_named(ctx.session, ladder[level])
    assert org is not None
    reply = await decision_card(ctx, sub, level)
    notifier = Notifier(ctx.session, ctx.services)
    found: dict[int, Person] = {}
    for grant, person in await roles.holders(ctx.session, roles.REVIEWER):
        if grant.organisation_id == org.id:
            found[person.id] = person
    for person in found.values():
        await notifier.to_person(
            person, reply, submission_id=sub.id, stage=stage(level), version=sub.version
        )
    if not found:
        await notifier.to_admins(
            Reply(ctx.text("ladder.no_reviewers", code=sub.code, name=ladder[level]))
        )


async def decision_card(ctx: Ctx, sub: Submission, level: int) -> Reply:
    """The card a level's reviewers decide on: the story, the lower levels, the buttons."""
    reply = await card(ctx.session, ctx.services, sub, level)
    reply.choices = [
        Choice(ctx.text(f"ladder.button_{a}"), LadderPress(a, sub.id, level).data())
        for a in (SELECT, RETURN, NOT_SELECTED)
    ]
    reply.columns = 3
    reply.typed_hint = ctx.text("ladder.typed_actions", code=sub.code)
    return reply


async def waiting_for(ctx: Ctx) -> list[tuple[Submission, Nomination, str]]:
    """Stories waiting at a level the sender decides at, longest waiting first, with the
    nomination and the level's name (for /pending)."""
    found: list[tuple[Submission, Nomination, str]] = []
    for row in await nominations.pending(ctx.session):
        sub = await repo.get(ctx.session, row.submission_id)
        if sub is None:
            continue
        ladder = ladder_of(ctx.services, sub)
        if row.level < len(ladder) and await may_act(ctx, sub, row.level):
            found.append((sub, row, ladder[row.level]))
    return found


async def open_card(ctx: Ctx, sub: Submission) -> bool:
    """Send the card of a story waiting at the sender's level (from /pending); False when
    the story waits at no level the sender decides at."""
    for waiting, row, _name in await waiting_for(ctx):
        if waiting.id != sub.id:
            continue
        reply = await decision_card(ctx, sub, row.level)
        # Through the outbox, so the card is edited with the others when the level decides.
        await Notifier(ctx.session, ctx.services).to_chat(
            ctx.event.channel,
            ctx.event.chat_id,
            reply,
            submission_id=sub.id,
            stage=stage(row.level),
            version=sub.version,
        )
        ctx.response.press_accepted = False
        return True
    return False


async def card(
    session: AsyncSession,
    services: Services,
    sub: Submission,
    level: int,
    *,
    outcome: str = "",
) -> Reply:
    """A story's card at one level: its summary and every lower level's decision and note."""
    ladder = ladder_of(services, sub)
    author = await session.get(Person, sub.author_id)
    unit = await session.get(Unit, sub.unit_id) if sub.unit_id else None
    history: list[dict[str, object]] = []
    approved = await events.latest(session, "submission", sub.id, ("approved",))
    if approved is not None:
        step = ("approved", approved.actor_id, approved.at, approved.reason)
        history.append(await _step(session, services, ladder[0], *step))
    for row in await nominations.of_submission(session, sub.id):
        if row.level > level:
            break
        step = ("nominated", row.nominated_by_id, row.nominated_at, row.note)
        history.append(await _step(session, services, ladder[row.level - 1], *step))
        if row.level < level and row.status in nominations.DECIDED:
            step = (row.status, row.decided_by_id, row.decided_at, row.decision_note)
            history.append(await _step(session, services, ladder[row.level], *step))
    text = services.texts.render(
        "ladder.card",
        sub=sub,
        campaign=review.campaign_of(services, sub),
        author=sub.values.get("_author", {}).get("full_name") or (author and author.full_name),
        unit=unit,
        opening=excerpt(sub.values.get("story", ""), review.OPENING_WORDS, review.OPENING_CHARS),
        level=level,
        name=ladder[level],
        total=len(ladder),
        history=history,
        # Rendered chat HTML already: escaping it again would show its tags.
        outcome=Markup(outcome),
    )
    return Reply(text)


async def _step(
    session: AsyncSession,
    services: Services,
    org: str,
    action: str,
    who_id: int | None,
    at: datetime | None,
    note: str | None,
) -> dict[str, object]:
    who = await session.get(Person, who_id) if who_id else None
    return {
        "org": org,
        "action": action,
        "who": who.full_name if who and who.full_name else "—",
        "when": services.local(at) if at else None,
        "note": note,
    }


def _tell(ctx: Ctx, typed: bool, template: str, /, **values: object) -> None:
    """A refusal: a toast where a button was pressed, a message where a command was typed."""
    if typed:
        ctx.say(template, **values)
        return
    ctx.notice(template, **values)
    ctx.response.press_accepted = False


def _refuse(ctx: Ctx, template: str, /, **values: object) -> None:
    ctx.notice(template, **values)
    ctx.response.press_accepted = False
