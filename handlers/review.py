"""Stage 1 (the unit head confirms) and stage 2 (reviewers decide), with one decision winning.

Card buttons carry "!<stage>:<action>:<submission id>:<version>" and are checked on the server
against the presser's roles, the story's status and its version; nothing else is trusted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import invites, website
from handlers.campaigns import REVIEWERS, CampaignSpec
from handlers.context import Ctx
from handlers.fields import clean_story
from handlers.forms import FieldKind, form_for
from handlers.ids import parse_id
from handlers.ladder_press import offer_up, up_choices
from handlers.notify import Notifier
from handlers.phones import story_has_phone
from handlers.services import Services
from handlers.text_rules import excerpt
from handlers.types import Choice, Reply
from storage import conversations, events, roles, units
from storage import submissions as repo
from storage.drafts import DraftRecord
from storage.models import Person, RoleGrant, Submission

UNIT, REVIEW = "u", "r"
STAGE_NAMES = {UNIT: "unit", REVIEW: "review"}
NOTE_STEP = "review_note"
NOTE_MIN, NOTE_MAX = 3, 1000
OPENING_WORDS = 80
CODE_ECHO = 30
# Whatever a story holds, its card stays one message (see handlers.text_rules.excerpt).
OPENING_CHARS = 600
# What each decision needs: the status it starts from, where it goes, and whether it asks why.
DECISIONS: dict[tuple[str, str], tuple[str, str, bool]] = {
    (UNIT, "ok"): (repo.SUBMITTED, repo.IN_REVIEW, False),
    (UNIT, "rt"): (repo.SUBMITTED, repo.RETURNED, True),
    (REVIEW, "ok"): (repo.IN_REVIEW, repo.APPROVED, False),
    (REVIEW, "ch"): (repo.IN_REVIEW, repo.CHANGES_REQUESTED, True),
    (REVIEW, "rj"): (repo.IN_REVIEW, repo.REJECTED, True),
}

# Decisions typed as commands where there are no buttons (Zalo): command → (stage, action).
TYPED: dict[str, tuple[str, str]] = {
    "xacnhan": (UNIT, "ok"),
    "tralai": (UNIT, "rt"),
    "duyet": (REVIEW, "ok"),
    "yeucausua": (REVIEW, "ch"),
    "tuchoi": (REVIEW, "rj"),
}


@dataclass(frozen=True)
class Press:
    """A parsed card button."""

    stage: str
    action: str
    submission_id: int
    version: int

    @classmethod
    def parse(cls, payload: str) -> Press | None:
        """The press behind "!r:ok:12:2", or None for anything malformed."""
        parts = payload.lstrip("!").split(":")
        if len(parts) != 4 or parts[0] not in (UNIT, REVIEW):
            return None
        submission_id, version = parse_id(parts[2]), parse_id(parts[3])
        if submission_id is None or version is None:
            return None
        return cls(parts[0], parts[1], submission_id, version)

    def data(self) -> str:
        """The callback data for this press (well within Telegram's 64 bytes)."""
        return f"!{self.stage}:{self.action}:{self.submission_id}:{self.version}"


def is_decision(payload: str) -> bool:
    """Whether a card payload decides (rather than shows the text or photos)."""
    press = Press.parse(payload)
    return press is not None and (press.stage, press.action) in DECISIONS


async def ask_for_code(ctx: Ctx, payload: str) -> None:
    """A number answered one of several cards: ask for the decision typed with its code."""
    press = Press.parse(payload)
    assert press is not None
    sub = await repo.get(ctx.session, press.submission_id)
    command = next(c for c, key in TYPED.items() if key == (press.stage, press.action))
    ctx.say(
        "review.number_ambiguous",
        command=command,
        code=sub.code if sub else "",
        needs_note=DECISIONS[(press.stage, press.action)][2],
    )


def campaign_of(services: Services, sub: Submission | DraftRecord) -> CampaignSpec:
    """The campaign a submission belongs to, as configured; if the campaign has since left the
    campaigns file, as last stored, so its stories stay usable with their limits (a plain
    `DraftRecord` is read only for a configured campaign)."""
    spec = services.campaign_by_id(sub.campaign_id)
    if spec is not None:
        return spec
    assert isinstance(sub, Submission), "a draft of a campaign no longer configured is read whole"
    stored = sub.campaign
    return CampaignSpec(
        slug=stored.slug,
        title=stored.title,
        organisation=stored.organisation or "",
        opens=stored.opens,
        closes=stored.closes,
        form=stored.form,
        max_words=stored.settings.get("max_words", 2000),
        min_photos=stored.settings.get("min_photos", 1),
        max_photos=stored.settings.get("max_photos", 10),
        focus_areas=tuple(stored.settings.get("focus_areas", ())),
    )


async def send_for_review(
    session: AsyncSession,
    services: Services,
    sub: Submission | DraftRecord,
    reminder: int = 0,
    unit: units.UnitBrief | None = None,
) -> None:
    """Notify whoever must act next: the unit heads (or admins), or the reviewers' route.

    With `reminder` (days waited) the same people get the card again, marked as a reminder.
    `unit`, if the caller has read the story's unit already, saves reading it again.
    """
    notifier = Notifier(session, services)
    unit = await _unit(session, sub, unit)
    if sub.status == repo.SUBMITTED:
        heads = await roles.unit_heads(session, sub.unit_id) if sub.unit_id else []
        if heads:
            reply = await card(session, services, sub, UNIT, reminder=reminder, unit=unit)
            for head in heads:
                await notifier.to_person(
                    head, reply, submission_id=sub.id, stage=UNIT, version=sub.version
                )
            return
        reply = await card(
            session, services, sub, UNIT, no_unit_head=True, reminder=reminder, unit=unit
        )
        await notifier.to_admins(reply, submission_id=sub.id, stage=UNIT, version=sub.version)
        return
    if sub.status != repo.IN_REVIEW:
        return
    level = unit.level if unit else "other"
    route = campaign_of(services, sub).review.route(level)
    reply = await card(session, services, sub, REVIEW, reminder=reminder, unit=unit)
    if route != REVIEWERS:
        channel, _, chat_id = route.partition(":")
        await notifier.to_chat(
            channel, chat_id, reply, submission_id=sub.id, stage=REVIEW, version=sub.version
        )
        return
    people = await roles.reviewers(session, level, unit.organisation_id if unit else None)
    for person in people:
        await notifier.to_person(
            person, reply, submission_id=sub.id, stage=REVIEW, version=sub.version
        )
    if not people and not reminder:
        warning = Reply(services.texts.render("review.no_reviewers", code=sub.code, level=level))
        await notifier.to_admins(warning)


async def card(
    session: AsyncSession,
    services: Services,
    sub: Submission | DraftRecord,
    stage: str,
    *,
    outcome: str = "",
    no_unit_head: bool = False,
    reminder: int = 0,
    unit: units.UnitBrief | None = None,
) -> Reply:
    """The notification for a stage: summary, changes since the last version, and buttons.
    `unit`, if the caller has read the story's unit already, saves reading it again."""
    # The author's name as submitted goes with the story; their row only for older stories.
    author = sub.values.get("_author", {}).get("full_name")
    if not author:
        row = await session.get(Person, sub.author_id)
        author = row.full_name if row else None
    unit = await _unit(session, sub, unit)
    changes = await _changes(session, services, sub)
    form = form_for(campaign_of(services, sub))
    shown = [
        (f.key, sub.values.get(f.key) or "—")
        for f in form.fields
        if f.kind not in (FieldKind.LONG_TEXT, FieldKind.PHOTOS) and f.key != "title"
    ]
    text = services.texts.render(
        "review.card",
        # The outcome line is rendered chat HTML already; escaping it again would show tags.
        sub=sub,
        stage=stage,
        campaign=campaign_of(services, sub),
        author=author,
        unit=unit,
        opening=excerpt(sub.values.get("story", ""), OPENING_WORDS, OPENING_CHARS),
        photos=sum(1 for a in sub.attachments if a.kind == "photo"),
        changes=changes,
        outcome=Markup(outcome),
        no_unit_head=no_unit_head,
        reminder=reminder,
        rows=shown,
        is_story=form.name == "story",
        has_phone=form.name == "story" and story_has_phone(sub.values),
    )
    if outcome:
        return Reply(text)
    actions = ("ok", "rt") if stage == UNIT else ("ok", "ch", "rj")
    choices = [
        Choice(
            services.texts.render(f"buttons.card_{stage}_{a}"),
            Press(stage, a, sub.id, sub.version).data(),
        )
        for a in (*actions, "tx", "ph")
    ]
    hint = services.texts.render("review.typed_actions", stage=stage, code=sub.code)
    return Reply(text, choices=choices, columns=2 if stage == UNIT else 3, typed_hint=hint)


async def _unit(
    session: AsyncSession, sub: Submission | DraftRecord, known: units.UnitBrief | None
) -> units.UnitBrief | None:
    """The story's unit: `known` if it is that one, else read."""
    if known is not None and known.id == sub.unit_id:
        return known
    return await units.brief(session, sub.unit_id)


async def _changes(
    session: AsyncSession, services: Services, sub: Submission | DraftRecord
) -> dict[str, object] | None:
    """What the author changed since the version reviewers saw last."""
    if sub.version <= 1:
        return None
    before = await repo.version(session, sub.id, sub.version - 1)
    if before is None:
        return None
    form = form_for(campaign_of(services, sub))
    changed = [
        f.key
        for f in form.fields
        if f.key != "photos" and before.values.get(f.key) != sub.values.get(f.key)
    ]
    photos_now = [a.sha256 for a in sub.attachments if a.kind == "photo"]
    photos_before = before.values.get(repo.PHOTOS_KEY)
    if photos_before is None:  # a version kept before photos were: compare the counts
        swapped = len(photos_now) != before.photo_count
    else:
        swapped = photos_now != [sha for sha, _path in photos_before]
    if swapped:
        changed.append("photos")
    return {
        "fields": changed,
        "words_before": before.word_count,
        "words_after": sub.word_count,
        "version": sub.version,
    }


async def on_press(ctx: Ctx) -> None:
    """A card button: view the story, or decide, after checking who pressed it."""
    press = Press.parse(ctx.event.button)
    if press is None or (press.stage, press.action) not in {
        *DECISIONS,
        (UNIT, "tx"),
        (UNIT, "ph"),
        (REVIEW, "tx"),
        (REVIEW, "ph"),
    }:
        _refuse(ctx, "review.bad_button")
        return
    sub = await repo.get(ctx.session, press.submission_id)
    if sub is None or sub.code is None:
        _refuse(ctx, "review.bad_button")
        return
    allowed, on_behalf = await may_act(ctx, sub, press.stage)
    if not allowed:
        _refuse(ctx, "review.not_allowed", **await not_allowed_values(ctx, press.stage, sub))
        return
    await leave_note_step(ctx, keep=press)
    if press.action == "tx":
        await _send_full_text(ctx, sub)
        return
    if press.action == "ph":
        await _send_photos(ctx, sub)
        return
    if not await _still_open(ctx, sub, press):
        return
    if DECISIONS[(press.stage, press.action)][2]:
        await _ask_note(ctx, sub, press)
        return
    await decide(ctx, sub, press, note=None, on_behalf=on_behalf)


async def on_command(ctx: Ctx, command: str, args: str) -> None:
    """A decision typed as a command ("/duyet GS-2024-0001", "/tuchoi GS-… lý do"), for
    channels without buttons; checked exactly like a press on the card."""
    stage, action = TYPED[command]
    code, *rest = args.split(None, 1) or [""]
    note = rest[0] if rest else ""
    if not code:
        ctx.say("review.typed_usage", command=command, needs_note=DECISIONS[(stage, action)][2])
        return
    sub = await repo.by_code(ctx.session, code.upper())
    if sub is None:
        # Echoed back cut short: whatever was typed, the answer stays one short message.
        ctx.say("review.no_such_code", code=code[:CODE_ECHO])
        return
    press = Press(stage, action, sub.id, sub.version)
    allowed, on_behalf = await may_act(ctx, sub, stage)
    if not allowed:
        ctx.say("review.not_allowed", **await not_allowed_values(ctx, stage, sub))
        return
    await leave_note_step(ctx, keep=press)
    if not await _still_open(ctx, sub, press):
        if ctx.response.notice and not ctx.response.replies:
            ctx.response.replies.append(Reply(ctx.response.notice))
        return
    note = clean_story(note)
    if DECISIONS[(stage, action)][2]:
        if not note:
            await _ask_note(ctx, sub, press)
            return
        if not note_fits(ctx, note):
            return
    await decide(ctx, sub, press, note=note or None, on_behalf=on_behalf)


async def may_act(ctx: Ctx, sub: Submission, stage: str) -> tuple[bool, bool]:
    """(allowed, on the unit's behalf): unit heads of the unit or admins confirm; reviewers
    whose levels and organisation cover the unit, or admins, review."""
    # An admin named in GUONGSANG_ADMINS needs no registration, so no person row either.
    grants = await roles.of(ctx.session, ctx.person.id) if ctx.person else []
    return await allowed(ctx.session, grants, ctx.is_admin, sub, stage)


async def held_roles(ctx: Ctx) -> set[str]:
    """The roles the sender holds, GUONGSANG_ADMINS counting as the admin role."""
    held = {g.role for g in await roles.of(ctx.session, ctx.person.id)} if ctx.person else set()
    if ctx.is_admin:
        held.add(roles.ADMIN)
    return held


async def not_allowed_values(ctx: Ctx, stage: str, sub: Submission) -> dict[str, object]:
    """What the refusal of a press or typed decision says: someone with no role at all is
    not told about "this level", which would suggest another level might be theirs."""
    return {"stage": stage, "code": sub.code, "held": await held_roles(ctx)}


async def allowed(
    session: AsyncSession, grants: list[RoleGrant], named_admin: bool, sub: Submission, stage: str
) -> tuple[bool, bool]:
    """`may_act` for given role grants, with or without a chat event (digests use it too)."""
    admin = named_admin or any(g.role == roles.ADMIN for g in grants)
    if stage == UNIT:
        head = any(g.role == roles.UNIT_HEAD and g.unit_id == sub.unit_id for g in grants)
        return head or admin, admin and not head
    unit = await units.brief(session, sub.unit_id)
    level = unit.level if unit else "other"
    organisation = unit.organisation_id if unit else None
    reviewer = any(
        g.role == roles.REVIEWER
        and roles.covers_level(g, level)
        and g.organisation_id in (None, organisation)
        for g in grants
    )
    return reviewer or admin, False


async def _still_open(ctx: Ctx, sub: Submission, press: Press) -> bool:
    """Whether the press is for the story's current version and stage; if not, say why."""
    expected = DECISIONS[(press.stage, press.action)][0]
    if sub.version != press.version:
        _refuse(ctx, "review.old_version", code=sub.code, version=sub.version)
        return False
    if sub.status != expected:
        await _already_decided(ctx, sub)
        return False
    return True


async def _already_decided(ctx: Ctx, sub: Submission) -> None:
    who = await ctx.session.get(Person, sub.decided_by_id) if sub.decided_by_id else None
    when = ctx.services.local(sub.decided_at) if sub.decided_at else None
    _refuse(
        ctx,
        "review.already_decided",
        code=sub.code,
        status=sub.status,
        who=who.full_name if who else "",
        when=when,
    )
    ctx.say(
        "review.already_decided",
        code=sub.code,
        status=sub.status,
        who=who.full_name if who else "",
        when=when,
    )


async def _ask_note(ctx: Ctx, sub: Submission, press: Press) -> None:
    """Ask for the comment or reason in the presser's private chat."""
    event = ctx.event
    private = event.chat_id == event.user_id
    step_data = {
        "submission_id": sub.id,
        "version": press.version,
        "stage": press.stage,
        "action": press.action,
    }
    prompt_name = f"review.ask_note_{press.stage}_{press.action}"
    if private:
        ctx.goto(NOTE_STEP, **step_data)
        ctx.say(prompt_name, code=sub.code, choices=[ctx.button("cancel_note", "cancel")])
        return
    conv = await conversations.load(ctx.session, event.channel, event.user_id)
    conv.step, conv.data = NOTE_STEP, step_data
    await Notifier(ctx.session, ctx.services).to_chat(
        event.channel, event.user_id, Reply(ctx.text(prompt_name, code=sub.code))
    )
    ctx.notice("review.note_in_private", code=sub.code)


def note_fits(ctx: Ctx, note: str) -> bool:
    """Whether a note's length is within bounds; says the bounds when it is not."""
    if len(note) < NOTE_MIN or len(note) > NOTE_MAX:
        ctx.say("review.note_length", length=len(note), low=NOTE_MIN, high=NOTE_MAX)
        return False
    return True


async def typed_note(ctx: Ctx, texts: str, resume: Callable[[Ctx], Awaitable[None]]) -> str | None:
    """The note typed at a note step, cleaned; None when the person was already answered
    (cancelled, sent something other than text, or a note of the wrong length).

    `texts` is the template group ("review" or "ladder") whose cancel and wants-text lines
    are said; `resume` asks again for the note."""
    event = ctx.event
    if event.kind == "button" and event.button == "cancel":
        ctx.goto("idle")
        ctx.say(f"{texts}.note_cancelled")
        return None
    if event.kind != "text":
        ctx.say(f"{texts}.note_wants_text")
        await resume(ctx)
        return None
    note = clean_story(event.text)
    if not note_fits(ctx, note):
        return None
    return note


async def on_note(ctx: Ctx) -> None:
    """The comment or reason, typed after pressing "request changes", "reject" or "return"."""
    data = ctx.data
    note = await typed_note(ctx, "review", resume_note)
    if note is None:
        return
    sub = await repo.get(ctx.session, data["submission_id"])
    ctx.goto("idle")
    if sub is None:
        return
    press = Press(data["stage"], data["action"], sub.id, data["version"])
    allowed, on_behalf = await may_act(ctx, sub, press.stage)
    if not allowed:
        ctx.say("review.not_allowed", **await not_allowed_values(ctx, press.stage, sub))
        return
    if await _still_open(ctx, sub, press):
        await decide(ctx, sub, press, note=note, on_behalf=on_behalf)


async def resume_note(ctx: Ctx) -> None:
    """Ask again for the note being waited for."""
    data = ctx.data
    sub = await repo.get(ctx.session, data["submission_id"])
    code = sub.code if sub else ""
    ctx.say(
        f"review.ask_note_{data['stage']}_{data['action']}",
        code=code,
        choices=[ctx.button("cancel_note", "cancel")],
    )


async def leave_note_step(ctx: Ctx, keep: Press | None = None) -> None:
    """Another card was pressed while a note was awaited: say the note is no longer expected."""
    if ctx.conv.step != NOTE_STEP:
        return
    data = ctx.data
    if (
        keep
        and keep.submission_id == data.get("submission_id")
        and keep.action == data.get("action")
    ):
        return
    sub = await repo.get(ctx.session, data["submission_id"])
    ctx.goto("idle")
    start = DECISIONS.get((data.get("stage"), data.get("action")), (None,))[0]
    if sub is not None and sub.status == start:
        ctx.say("review.note_dropped", code=sub.code)
    # Otherwise the story was decided meanwhile (a typed decision with its reason, say): no
    # note is missing, and "still waiting" would be untrue.


async def decide(
    ctx: Ctx, sub: Submission, press: Press, note: str | None, on_behalf: bool
) -> None:
    """Apply a decision with compare-and-set; the loser of a race is told who won."""
    start, target, _ = DECISIONS[(press.stage, press.action)]
    person = await invites.acting_person(ctx)
    now = ctx.services.now()
    won = await repo.transition(
        ctx.session, sub, (start,), target, press.version, now, decided_by_id=person.id
    )
    if not won:
        await _already_decided(ctx, sub)
        return
    action = {
        (UNIT, "ok"): "unit_confirmed",
        (UNIT, "rt"): "returned",
        (REVIEW, "ok"): "approved",
        (REVIEW, "ch"): "changes_requested",
        (REVIEW, "rj"): "rejected",
    }[(press.stage, press.action)]
    await events.record(
        ctx.session,
        at=ctx.services.now(),
        subject="submission",
        subject_id=sub.id,
        action=action,
        actor_id=person.id,
        channel=ctx.event.channel,
        from_status=start,
        to_status=target,
        reason=note,
        data={"version": press.version, "on_behalf_of_unit": on_behalf},
    )
    when = ctx.services.local(now)
    outcome = ctx.text(
        "review.outcome",
        action=action,
        # An admin acting for a unit may never have registered: their chat name, then.
        who=person.full_name or ctx.event.user_name or ctx.event.user_id,
        when=when,
        note=note,
        on_behalf=on_behalf,
        unit=await units.brief(ctx.session, sub.unit_id),
    )
    notifier = Notifier(ctx.session, ctx.services)
    decided = await card(ctx.session, ctx.services, sub, press.stage, outcome=outcome)
    if target == repo.APPROVED:
        # On a campaign with a nomination ladder the approved card offers the level above.
        ladder = campaign_of(ctx.services, sub).ladder
        decided = offer_up(ctx.services, decided, ladder, sub.code or "", sub.id, 0)
    await notifier.edit_cards(sub.id, press.stage, decided)
    ctx.notice("review.done", action=action, code=sub.code)
    ctx.response.press_accepted = True
    up = []
    if target == repo.APPROVED:
        up = up_choices(ctx.services, campaign_of(ctx.services, sub).ladder, sub.id, 0)
    ctx.say("review.done", action=action, code=sub.code, choices=up)
    editable = target in (repo.RETURNED, repo.CHANGES_REQUESTED)
    tell = Reply(
        ctx.text(
            "review.to_author",
            action=action,
            sub=sub,
            note=note,
            who=person.full_name,
            unit=await units.brief(ctx.session, sub.unit_id),
            on_behalf=on_behalf,
        ),
        choices=[Choice(ctx.text("buttons.edit_story"), f"!ed:{sub.id}")] if editable else [],
    )
    await notifier.to_chat(sub.channel, sub.chat_id, tell)
    if target == repo.APPROVED:
        # Letter 001: the school posts stories on its website; its heads may publish this one.
        await website.offer_to_heads(ctx.session, ctx.services, sub)
    if target == repo.IN_REVIEW:
        await send_for_review(ctx.session, ctx.services, sub)


async def _send_full_text(ctx: Ctx, sub: Submission) -> None:
    target = _private_chat(ctx)
    story = str(sub.values.get("story") or "")
    # A story is taken within the campaign's character limit; one stored before that limit
    # existed is cut there, so the full text stays a few messages (the Word export has all).
    limit = campaign_of(ctx.services, sub).max_chars
    cut = len(story) > limit
    shown = excerpt(story, len(story), limit) if cut else story
    reply = Reply(ctx.text("review.full_text", sub=sub, story=shown, cut=cut))
    await _to_presser(ctx, target, reply)


async def _send_photos(ctx: Ctx, sub: Submission) -> None:
    photos = [ctx.services.media_dir / a.stored_path for a in sub.attachments if a.kind == "photo"]
    reply = Reply(ctx.text("review.photos", sub=sub, count=len(photos)), photos=photos)
    await _to_presser(ctx, _private_chat(ctx), reply)


def _private_chat(ctx: Ctx) -> str:
    return ctx.event.user_id


async def _to_presser(ctx: Ctx, chat_id: str, reply: Reply) -> None:
    if chat_id == ctx.event.chat_id:
        ctx.response.replies.append(reply)
    else:
        await Notifier(ctx.session, ctx.services).to_chat(ctx.event.channel, chat_id, reply)
        ctx.notice("review.sent_in_private")
    ctx.response.press_accepted = False  # the card keeps its buttons: viewing decides nothing


def _refuse(ctx: Ctx, name: str, **values: object) -> None:
    ctx.notice(name, **values)
    ctx.response.press_accepted = False
