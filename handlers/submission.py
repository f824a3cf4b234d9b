"""The story form: new draft, the wizard, preview, edits, discard, submit; /continue and /mine."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import fields, review
from handlers.campaigns import CampaignSpec
from handlers.context import Ctx
from handlers.forms import FieldKind, Form, form_for
from handlers.ids import parse_id
from handlers.menu import main_menu
from handlers.services import Services
from handlers.text_rules import count_words, excerpt
from storage import drafts, events, roles, units
from storage import submissions as repo
from storage import units as units_repo
from storage.drafts import DraftRecord
from storage.models import Submission

FORM_STEP = "form"
PREVIEW_STEP = "preview"
EDIT_STEP = "edit_menu"
DISCARD_STEP = "confirm_discard"
NEW_STEP = "confirm_new"
CAMPAIGN_STEP = "pick_campaign"
DRAFTS_STEP = "drafts"
# Steps in which the conversation holds a draft in `data["submission_id"]`.
DRAFT_STEPS = (FORM_STEP, PREVIEW_STEP, EDIT_STEP, DISCARD_STEP)
OPENING_WORDS = 60
# However the story was stored (one "word" may be 100,000 characters), its opening in the
# preview and on cards stays a few lines: the message around it is one, not dozens.
OPENING_CHARS = 400
# A draft as the form reads it: plain values on the per-update path (`storage.drafts`), the
# ORM row where a story's status changes. Both have the attributes the form reads.
Draft = DraftRecord | Submission


async def new(ctx: Ctx) -> None:
    """/new: start a story, first asking what to do with a draft in progress."""
    if ctx.conv.step in DRAFT_STEPS:
        draft = await _current(ctx)
        if draft is not None:
            ctx.goto(NEW_STEP, submission_id=draft.id)
            ctx.say(
                "form.ask_keep_draft",
                title=_title(draft),
                choices=[
                    ctx.button("continue_draft", "continue"),
                    ctx.button("keep_and_new", "keep_new"),
                    ctx.button("discard_and_new", "discard_new"),
                ],
            )
            return
    await start_new(ctx)


async def start_new(ctx: Ctx) -> None:
    """Open a new draft in the open campaign, asking which one when several are open."""
    open_now = ctx.services.open_campaigns()
    if not open_now:
        ctx.goto("idle")
        ctx.say("form.no_open_campaign", campaigns=ctx.services.campaigns, menu=main_menu(ctx))
        return
    if len(open_now) == 1:
        await _create_draft(ctx, open_now[0])
        return
    ctx.goto(CAMPAIGN_STEP)
    ctx.say(
        "form.pick_campaign",
        campaigns=open_now,
        choices=[ctx.button("campaign", f"camp:{c.slug}", campaign=c) for c in open_now],
    )


async def on_pick_campaign(ctx: Ctx) -> None:
    """A press choosing the campaign for a new story."""
    event = ctx.event
    if event.kind == "button" and event.button.startswith("camp:"):
        campaign = ctx.services.campaign(event.button[5:])
        if campaign is not None and campaign.is_open(ctx.services.today()):
            await _create_draft(ctx, campaign)
            return
        ctx.say("form.campaign_closed_now")
    else:
        ctx.say("common.use_buttons")
    await start_new(ctx)


async def on_keep_draft(ctx: Ctx) -> None:
    """The answer to "you have a draft in progress" after a second /new."""
    draft = await _current(ctx)
    choice = ctx.event.button if ctx.event.kind == "button" else ""
    if draft is None or choice == "keep_new":
        if draft is not None:
            ctx.say("form.draft_kept", title=_title(draft))
        await start_new(ctx)
    elif choice == "continue":
        await open_draft(ctx, draft)
    elif choice == "discard_new":
        await _discard(ctx, draft)
        await start_new(ctx)
    else:
        ctx.say("common.use_buttons")
        ctx.goto(FORM_STEP, submission_id=draft.id)
        await new(ctx)


async def _create_draft(ctx: Ctx, campaign: CampaignSpec) -> None:
    person = ctx.person
    assert person is not None
    draft = await drafts.create(
        ctx.session,
        campaign_id=ctx.services.campaign_ids[campaign.slug],
        author_id=person.id,
        unit_id=person.unit_id,
        status=repo.DRAFT,
        channel=ctx.event.channel,
        chat_id=ctx.event.chat_id,
    )
    await _log(ctx, draft, "created", None, repo.DRAFT)
    ctx.say("form.intro", campaign=campaign, steps=len(form_for(campaign).fields))
    await _goto_field(ctx, draft, 0, editing=False)


async def on_form(ctx: Ctx) -> None:
    """An answer to the form field being asked."""
    draft = await _current(ctx)
    if draft is None:
        return
    _, form = _form_of(ctx, draft)
    index, editing = ctx.data["index"], bool(ctx.data.get("editing"))
    fc = _field_ctx(ctx, draft, form, index, editing)
    outcome = await fields.take(fc)
    # The answer and how far the form got are written together: one write a step.
    changes = {fc.field.key: outcome.value} if outcome.changed else {}
    if not outcome.done:
        await _set_values(ctx, draft, changes)
        ctx.update(field_state=fc.state)
        if outcome.reprompt:
            fields.ask(fc)
        return
    reached = max(int(draft.values.get("_reached", -1)), index)
    if reached != draft.values.get("_reached"):
        changes["_reached"] = reached
    await _set_values(ctx, draft, changes)
    if editing:
        await show_preview(ctx, draft)
        return
    next_index = _first_unfinished(ctx, draft, form, start=index + 1)
    if next_index is None:
        await show_preview(ctx, draft)
    else:
        await _goto_field(ctx, draft, next_index, editing=False)


async def show_preview(ctx: Ctx, draft: Draft) -> None:
    """Every field, the word count and the photos, with submit / edit / later / discard."""
    campaign, form = _form_of(ctx, draft)
    ctx.goto(PREVIEW_STEP, submission_id=draft.id)
    to_unit = _status_after_submit(campaign, draft.status) == repo.SUBMITTED
    own_head = to_unit and await _heads_own_unit(ctx)
    ctx.say(
        "form.preview",
        rows=await _rows(ctx, draft, form),
        words=draft.word_count,
        limit=campaign.max_words,
        campaign=campaign,
        photos=[ctx.services.media_dir / a.stored_path for a in _photos(draft)],
        # Where "Gửi bài" sends it: a fix the reviewers asked for may go straight to them,
        # and a unit head's own needs no confirmation by themselves.
        to_unit=to_unit and not own_head,
        own_head=own_head,
        unit=await _unit_of(ctx, draft),
        choices=_preview_buttons(ctx, campaign),
        columns=2,
    )


async def on_preview(ctx: Ctx) -> None:
    """A press on the preview's buttons."""
    draft = await _current(ctx)
    if draft is None:
        return
    choice = ctx.event.button if ctx.event.kind == "button" else ""
    if choice == "submit":
        await _submit(ctx, draft)
    elif choice == "edit":
        _, form = _form_of(ctx, draft)
        ctx.goto(EDIT_STEP, submission_id=draft.id)
        ctx.say(
            "form.edit_menu",
            choices=[ctx.button("edit_field", f"edit:{f.key}", key=f.key) for f in form.fields]
            + [ctx.button("back_to_preview", "back")],
            columns=2,
        )
    elif choice == "later":
        ctx.goto("idle")
        ctx.say("form.saved_for_later", title=_title(draft), menu=main_menu(ctx))
    elif choice == "discard":
        ctx.goto(DISCARD_STEP, submission_id=draft.id)
        ctx.say(
            "form.ask_discard",
            title=_title(draft),
            choices=[ctx.button("discard_yes", "yes"), ctx.button("discard_no", "no")],
        )
    else:
        campaign, _ = _form_of(ctx, draft)
        ctx.say("form.preview_use_buttons", choices=_preview_buttons(ctx, campaign), columns=2)


async def on_edit_menu(ctx: Ctx) -> None:
    """A press choosing which field to change."""
    draft = await _current(ctx)
    if draft is None:
        return
    _, form = _form_of(ctx, draft)
    event = ctx.event
    if event.kind == "button" and event.button.startswith("edit:") and form.get(event.button[5:]):
        await _goto_field(ctx, draft, form.index(event.button[5:]), editing=True)
    elif event.kind == "button" and event.button == "back":
        await show_preview(ctx, draft)
    else:
        ctx.say("common.use_buttons")
        ctx.goto(PREVIEW_STEP, submission_id=draft.id)
        ctx.event.button = "edit"
        await on_preview(ctx)


async def on_discard(ctx: Ctx) -> None:
    """The answer to "discard this draft?"."""
    draft = await _current(ctx)
    if draft is None:
        return
    if ctx.event.kind == "button" and ctx.event.button == "yes":
        await _discard(ctx, draft)
        ctx.goto("idle")
        ctx.say("form.discarded", title=_title(draft), menu=main_menu(ctx))
    else:
        await show_preview(ctx, draft)


async def resume(ctx: Ctx) -> None:
    """Ask again whatever the conversation is waiting for in the story form."""
    step = ctx.conv.step
    if step == CAMPAIGN_STEP:
        await start_new(ctx)
        return
    if step == DRAFTS_STEP:
        await continue_drafts(ctx)
        return
    draft = await _current(ctx)
    if draft is None:
        return
    if step == FORM_STEP:
        _, form = _form_of(ctx, draft)
        fields.ask(_field_ctx(ctx, draft, form, ctx.data["index"], bool(ctx.data.get("editing"))))
    elif step == NEW_STEP:
        ctx.goto(FORM_STEP, submission_id=draft.id)
        await new(ctx)
    else:
        await show_preview(ctx, draft)


async def continue_drafts(ctx: Ctx) -> None:
    """/continue: reopen the draft in progress, or list the person's drafts and the stories
    sent back to them for changes (those are work to continue too)."""
    person = ctx.person
    assert person is not None
    drafts = await repo.drafts_of(ctx.session, person.id)
    sent_back = [s for s in await repo.sent_by(ctx.session, person.id) if s.status in repo.EDITABLE]
    if not drafts and not sent_back:
        ctx.goto("idle")
        ctx.say("form.no_drafts", menu=main_menu(ctx))
        return
    if len(drafts) == 1 and not sent_back:
        await open_draft(ctx, drafts[0])
        return
    shown = [(d, _title(d), ctx.services.local(d.updated_at)) for d in drafts[:10]]
    ctx.goto(DRAFTS_STEP)
    ctx.say(
        "form.drafts",
        drafts=shown,
        sent_back=[(s, _title(s)) for s in sent_back],
        choices=[
            *(
                ctx.button("open_draft", f"open:{d.id}", title=title, touched=touched)
                for d, title, touched in shown
            ),
            *(ctx.button("edit_sent", f"!ed:{s.id}", code=s.code) for s in sent_back),
        ],
    )


async def on_drafts(ctx: Ctx) -> None:
    """A press choosing a draft from the /continue list."""
    event = ctx.event
    draft_id = parse_id(event.button[5:]) if event.button.startswith("open:") else None
    if event.kind == "button" and draft_id is not None:
        draft = await repo.get(ctx.session, draft_id)
        person = ctx.person
        if draft and person and draft.author_id == person.id and draft.status == repo.DRAFT:
            await open_draft(ctx, draft)
            return
        ctx.say("form.draft_gone")
    else:
        ctx.say("common.use_buttons")
    await continue_drafts(ctx)


async def open_for_changes(ctx: Ctx, submission_id: int) -> None:
    """The author opens a story sent back to them ("✏️ Sửa bài" or /mine) at its preview."""
    draft = await repo.get(ctx.session, submission_id)
    person = ctx.person
    if draft is None or person is None or draft.author_id != person.id:
        ctx.notice("form.not_yours")
        ctx.response.press_accepted = False
        return
    if draft.status not in repo.EDITABLE:
        ctx.notice("form.not_editable", status=draft.status)
        ctx.say("form.not_editable", status=draft.status)
        ctx.response.press_accepted = False
        return
    # What was asked is shown again: the notification that carried it may be far up the chat.
    ctx.say(
        "form.editing_returned",
        code=draft.code,
        title=_title(draft),
        note=await _note_sent_back(ctx, draft),
    )
    await show_preview(ctx, draft)


async def _note_sent_back(ctx: Ctx, story: Submission) -> str | None:
    """What the reviewer or the principal wrote when sending the story back, if they did."""
    asked = await events.latest(
        ctx.session, "submission", story.id, ("changes_requested", "returned")
    )
    return asked.reason if asked is not None else None


async def open_draft(ctx: Ctx, draft: Draft) -> None:
    """Resume a draft at its first unanswered field, or at the preview when it is complete."""
    _, form = _form_of(ctx, draft)
    ctx.say("form.resuming", title=_title(draft))
    index = _first_unfinished(ctx, draft, form, start=0)
    if index is None:
        await show_preview(ctx, draft)
    else:
        await _goto_field(ctx, draft, index, editing=False)


async def mine(ctx: Ctx) -> None:
    """/mine: the person's submissions with their status, and how many drafts wait."""
    person = ctx.person
    assert person is not None
    sent = await repo.sent_by(ctx.session, person.id)
    drafts = await repo.drafts_of(ctx.session, person.id)
    editable = [s for s in sent if s.status in repo.EDITABLE]
    notes = {s.id: await _note_sent_back(ctx, s) for s in editable}
    ctx.say(
        "form.mine",
        sent=[
            (s, _title(s), ctx.services.local(s.submitted_at or s.created_at), notes.get(s.id))
            for s in sent
        ],
        drafts=len(drafts),
        choices=[ctx.button("edit_sent", f"!ed:{s.id}", code=s.code) for s in editable],
    )


async def cancel(ctx: Ctx) -> bool:
    """/cancel inside the form: leave it, keeping the draft. False when not in the form."""
    if ctx.conv.step not in (*DRAFT_STEPS, NEW_STEP):
        return False
    draft = await _current(ctx, quiet=True)
    ctx.goto("idle")
    ctx.say("form.cancelled", title=_title(draft) if draft else "", menu=main_menu(ctx))
    return True


async def _submit(ctx: Ctx, draft: Draft) -> None:
    campaign, form = _form_of(ctx, draft)
    missing = _first_unfinished(ctx, draft, form, start=0, strict=True)
    if missing is not None:
        ctx.say("form.missing_field", key=form.fields[missing].key)
        await _goto_field(ctx, draft, missing, editing=True)
        return
    today = ctx.services.today()
    first = draft.status == repo.DRAFT
    # The dates bound first submissions only: a story that came in on time and was sent
    # back (by a reviewer or the principal) may come back after the contest has closed.
    if first and not campaign.is_open(today):
        ctx.say("form.campaign_not_open", campaign=campaign, today=today)
        await show_preview(ctx, draft)
        return
    person = ctx.person
    assert person is not None
    now = ctx.services.now()
    before = draft.status
    status = _status_after_submit(campaign, before)
    own_head = status == repo.SUBMITTED and await _heads_own_unit(ctx)
    # Its unit's name goes with the story (the unit read once: the texts below show it too).
    unit = await units.brief(ctx.session, person.unit_id)
    author = {
        "full_name": person.full_name,
        "phone": person.phone,
        "unit": unit.name if unit else None,
        "unit_id": person.unit_id,
    }
    code = await repo.next_code(ctx.session, ctx.services.local(now).year) if first else draft.code
    # The unit's head sending their own unit's entry is the unit standing behind it: a card
    # asking them to confirm what they just sent would be a step for nothing, so the story
    # goes on to review at once, confirmed by them.
    await repo.send(
        ctx.session,
        draft,
        code=code,
        status=repo.IN_REVIEW if own_head else status,
        version=draft.version if first else draft.version + 1,
        unit_id=person.unit_id if first else draft.unit_id,
        channel=ctx.event.channel,
        chat_id=ctx.event.chat_id,
        values={**draft.values, "_author": author},
        now=now,
        submitted_at=now if first else None,
        decided_by_id=person.id if own_head else None,
    )
    await repo.snapshot(ctx.session, draft)
    await _log(
        ctx,
        draft,
        "submitted" if first else "resubmitted",
        before,
        status,
        data={"code": draft.code, "version": draft.version},
    )
    if own_head:
        await _log(
            ctx,
            draft,
            "unit_confirmed",
            repo.SUBMITTED,
            repo.IN_REVIEW,
            data={"version": draft.version, "own_submission": True},
        )
    await review.send_for_review(ctx.session, ctx.services, draft, unit=unit)
    ctx.goto("idle")
    ctx.say(
        "form.submitted",
        code=draft.code,
        title=_title(draft),
        campaign=campaign,
        version=draft.version,
        to_unit=draft.status == repo.SUBMITTED,
        own_head=own_head,
        unit=unit if draft.unit_id == person.unit_id else await _unit_of(ctx, draft),
        menu=main_menu(ctx),
    )


async def _unit_of(ctx: Ctx, draft: Draft) -> units.UnitBrief | None:
    """The story's unit, whose type names its head in the texts ("Chủ tịch công đoàn")."""
    return await units.brief(ctx.session, draft.unit_id)


async def _heads_own_unit(ctx: Ctx) -> bool:
    """Whether the sender is a head of the unit they submit for."""
    person = ctx.person
    if person is None or person.unit_id is None:
        return False
    return await roles.heads_unit(ctx.session, person.id, person.unit_id)


def _status_after_submit(campaign: CampaignSpec, before: str) -> str:
    """Where a (re)submitted story goes: the unit head first, or straight to review."""
    if not campaign.require_unit_confirmation:
        return repo.IN_REVIEW
    if before == repo.CHANGES_REQUESTED and campaign.review.resubmit_to == "review":
        return repo.IN_REVIEW
    return repo.SUBMITTED


async def _discard(ctx: Ctx, read: Draft) -> None:
    draft = await _row(ctx, read)
    before = draft.status
    draft.status = repo.DISCARDED
    draft.status_since = ctx.services.now()
    repo.touch(draft, ctx.services.now())
    await _log(ctx, draft, "discarded", before, repo.DISCARDED)


async def _row(ctx: Ctx, draft: Draft) -> Submission:
    """The draft's ORM row, to change its status, code or version."""
    if isinstance(draft, Submission):
        return draft
    row = await repo.get(ctx.session, draft.id)
    assert row is not None  # read in this transaction, which holds the write lock
    return row


async def _current(ctx: Ctx, quiet: bool = False) -> Draft | None:
    """The draft this conversation is working on, as plain values where its campaign is
    configured (the ORM row otherwise, whose stored campaign stands in); if it is gone, say
    so and go idle."""
    submission_id = ctx.data.get("submission_id")
    draft = await drafts.read(ctx.session, submission_id) if submission_id else None
    if draft is not None and ctx.services.campaign_by_id(draft.campaign_id) is None:
        draft = await repo.get(ctx.session, draft.id)
    person = ctx.person
    if draft and person and draft.author_id == person.id and draft.status in repo.EDITABLE:
        return draft
    ctx.goto("idle")
    if not quiet:
        ctx.say("form.draft_gone", menu=main_menu(ctx))
    return None


async def _goto_field(ctx: Ctx, draft: Draft, index: int, editing: bool) -> None:
    ctx.goto(FORM_STEP, submission_id=draft.id, index=index, editing=editing, field_state={})
    _, form = _form_of(ctx, draft)
    fields.ask(_field_ctx(ctx, draft, form, index, editing))


def _field_ctx(ctx: Ctx, draft: Draft, form: Form, index: int, editing: bool) -> fields.FieldCtx:
    field = form.fields[index]
    return fields.FieldCtx(
        ctx=ctx,
        field=field,
        value=draft.values.get(field.key),
        state=dict(ctx.data.get("field_state") or {}),
        editing=editing,
        submission=draft,
    )


def _form_of(ctx: Ctx, draft: Draft) -> tuple[CampaignSpec, Form]:
    campaign = review.campaign_of(ctx.services, draft)
    return campaign, form_for(campaign)


async def _set_values(ctx: Ctx, draft: Draft, changes: dict[str, Any]) -> None:
    if changes:
        await store_values(ctx.session, ctx.services, draft, changes)


async def store_value(
    session: AsyncSession, services: Services, draft: Draft, key: str, value: Any
) -> None:
    """Store one answer in a draft, as the chat and the web editor both do."""
    await store_values(session, services, draft, {key: value})


async def store_values(
    session: AsyncSession, services: Services, draft: Draft, changes: dict[str, Any]
) -> None:
    """Store several answers in a draft at once (one write)."""
    # A new dict, never the stored one mutated: the old answers stay what was read.
    values = {**draft.values, **changes}
    words = count_words(changes["story"] or "") if "story" in changes else draft.word_count
    await repo.set_values(session, draft, values, words, services.now())


def _photos(draft: Draft) -> list[Any]:
    return [a for a in draft.attachments if a.kind == "photo"]


def _first_unfinished(
    ctx: Ctx, draft: Draft, form: Form, start: int, strict: bool = False
) -> int | None:
    """The first field from `start` that is unanswered (or never reached, unless `strict`)."""
    reached = int(draft.values.get("_reached", -1))
    for index in range(start, len(form.fields)):
        field = form.fields[index]
        if field.kind == FieldKind.PHOTOS:
            done = len(_photos(draft)) >= field.min_count
        elif not field.required:
            done = index <= reached
        else:
            done = bool(draft.values.get(field.key))
        if not done or (not strict and index > reached):
            return index
    return None


async def _rows(ctx: Ctx, draft: Draft, form: Form) -> list[tuple[str, Any]]:
    """(field key, shown value) pairs for the preview."""
    rows: list[tuple[str, Any]] = []
    if form.name == "registration":
        # Letter 003 registers models per unit: the unit is the author's, shown, not asked.
        unit = await units_repo.get(ctx.session, draft.unit_id) if draft.unit_id else None
        rows.append(("unit", unit.name if unit else None))
    for field in form.fields:
        value = draft.values.get(field.key)
        if field.kind == FieldKind.LONG_TEXT:
            value = _opening(value or "")
        elif field.kind == FieldKind.PHOTOS:
            value = len(_photos(draft))
        elif field.kind == FieldKind.UNIT and value:
            unit = await units_repo.get(ctx.session, int(value))
            value = unit.name if unit else value
        rows.append((field.key, value))
    return rows


def _opening(story: str) -> str:
    return excerpt(story, OPENING_WORDS, OPENING_CHARS)


def _title(draft: Draft) -> str:
    values = draft.values
    return str(values.get("title") or values.get("exemplar_name") or values.get("model_name") or "")


def _preview_buttons(ctx: Ctx, campaign: CampaignSpec) -> list[Any]:
    return [
        ctx.button("submit", "submit", form=campaign.form),
        ctx.button("edit", "edit"),
        ctx.button("later", "later"),
        ctx.button("discard", "discard"),
    ]


async def _log(
    ctx: Ctx,
    draft: Draft,
    action: str,
    from_status: str | None,
    to_status: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    await events.record(
        ctx.session,
        at=ctx.services.now(),
        subject="submission",
        subject_id=draft.id,
        action=action,
        actor_id=ctx.person.id if ctx.person else None,
        channel=ctx.event.channel,
        from_status=from_status,
        to_status=to_status,
        data=data,
    )
