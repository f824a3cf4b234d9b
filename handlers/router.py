"""The core's entry: one event in, one response out, inside one database transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from handlers import (
    admin,
    broadcast,
    files,
    groups,
    invites,
    ladder,
    month,
    numbered,
    office_menu,
    queues,
    registration,
    review,
    submission,
    website,
)
from handlers.context import Ctx
from handlers.emulation import chat as emulation
from handlers.ids import parse_id
from handlers.ladder_press import LADDER
from handlers.menu import command_for, main_menu
from handlers.services import Services
from handlers.types import Choice, Event, Reply, Response
from storage import conversations, outbox, roles, updates

log = logging.getLogger(__name__)

Handler = Callable[[Ctx], Awaitable[None]]

STEPS: dict[str, tuple[Handler, Handler]] = {
    # step: (take an input, ask again)
    registration.STEP: (registration.on_step, registration.resume),
    registration.MENU_STEP: (registration.on_menu, registration.show),
    submission.CAMPAIGN_STEP: (submission.on_pick_campaign, submission.resume),
    submission.FORM_STEP: (submission.on_form, submission.resume),
    submission.PREVIEW_STEP: (submission.on_preview, submission.resume),
    submission.EDIT_STEP: (submission.on_edit_menu, submission.resume),
    submission.DISCARD_STEP: (submission.on_discard, submission.resume),
    submission.NEW_STEP: (submission.on_keep_draft, submission.resume),
    submission.DRAFTS_STEP: (submission.on_drafts, submission.resume),
    review.NOTE_STEP: (review.on_note, review.resume_note),
    ladder.NOTE_STEP: (ladder.on_note, ladder.resume_note),
    invites.ROLE_STEP: (invites.on_role, invites.resume),
    invites.UNIT_STEP: (invites.on_unit, invites.resume),
    invites.LEVELS_STEP: (invites.on_levels, invites.resume),
    invites.ORGANISATION_STEP: (invites.on_organisation, invites.resume),
    invites.NAME_STEP: (invites.on_name, invites.resume_name),
    invites.TITLE_STEP: (invites.on_title, invites.resume_title),
    broadcast.NUMBER_STEP: (broadcast.on_number, broadcast.resume),
    broadcast.DATE_STEP: (broadcast.on_date, broadcast.resume),
    broadcast.SUMMARY_STEP: (broadcast.on_summary, broadcast.resume),
    broadcast.CONFIRM_STEP: (broadcast.on_confirm, broadcast.resume),
    emulation.STEP: (emulation.on_step, emulation.resume),
    month.PICK_STEP: (month.on_pick, month.resume),
    month.REASON_STEP: (month.on_reason, month.resume),
    office_menu.STEP: (office_menu.on_step, office_menu.resume),
}
# Steps people with a role but no registration (reviewers, admins) can be in.
ROLE_COMMANDS = (
    "pending", "history", "invite", "join", "honour", "subscribe", "unsubscribe", "report",
    "campaigns", emulation.COMMAND, office_menu.COMMAND, month.COMMAND, month.LIST_COMMAND,
    *review.TYPED, *ladder.TYPED, *website.COMMANDS,
)  # fmt: skip
NO_REGISTRATION = (
    registration.STEP, review.NOTE_STEP, ladder.NOTE_STEP, *invites.STEPS, *broadcast.STEPS,
    emulation.STEP, office_menu.STEP, *month.STEPS,
)  # fmt: skip


async def handle(services: Services, event: Event) -> Response:
    """Handle one event; the step and draft are committed before the response is returned."""
    taken, tell = services.flood.admit(event.channel, event.user_id)
    if not taken:
        # Nothing is read or written for a message refused here.
        return _too_fast(services, event, tell)
    await _prefetch(event, services.max_upload_bytes)
    async with services.db.transaction() as session:
        await conversations.lock_chat(session, event.channel, event.chat_id)
        taken, tell = await services.flood.admit_shared(session, event.channel, event.user_id)
        if not taken:
            # Only the spent budget is saved: the message itself is not claimed or handled.
            return _too_fast(services, event, tell)
        if event.update_key and not await updates.claim(session, event.channel, event.update_key):
            log.info("duplicate update %s/%s ignored", event.channel, event.update_key)
            return Response()
        # The step as plain values, written once below: no ORM object per update for it.
        conv, person = await conversations.load_step(
            session, event.channel, event.chat_id, event.user_id
        )
        ctx = Ctx(services, session, event, conv, person)
        step_before, seq_before = conv.step, conv.prompt_seq
        await _dispatch(ctx)
        # Whatever the person did, the notifications before it count as read.
        numbered.seen(conv)
        _number_choices(ctx, step_changed=conv.step != step_before, seq=seq_before)
        await conversations.save_step(session, conv)
    ctx.response.queued = outbox.queued(session)
    return ctx.response


async def act_outside(ctx: Ctx, action: Handler) -> None:
    """Run `action` on a chat's conversation outside an update from it (the web editor's
    "Xong"), its choices numbered as an answer's are, so the chat's next press or typed
    number acts on them. The caller holds the chat's lock and sends the replies."""
    step_before, seq_before = ctx.conv.step, ctx.conv.prompt_seq
    await action(ctx)
    _number_choices(ctx, step_changed=ctx.conv.step != step_before, seq=seq_before)


def _too_fast(services: Services, event: Event, tell: bool) -> Response:
    """The answer to a message over the person's budget. They are told once per pause what
    was not taken and when to resend, so nothing is dropped without a word."""
    log.warning("flood: %s/%s message refused", event.channel, event.user_id)
    if not tell:
        return Response()
    text = services.texts.render("common.too_fast", seconds=services.flood.cooldown)
    return Response(replies=[Reply(text)], notice=text, press_accepted=False)


async def _prefetch(event: Event, max_bytes: int) -> None:
    """Download files before the transaction, so no database lock is held during network I/O.

    Files over the limit are left alone: the handler refuses them without downloading. A
    download that fails is not tried again inside the transaction: the handler gets the error.
    """
    for incoming in event.files:
        if incoming.size is not None and incoming.size > max_bytes:
            continue
        try:
            data = await incoming.fetch()
        except files.FileTooLarge as exc:
            incoming.size = exc.size
            continue
        except Exception as exc:
            log.warning("download of %s failed: %r", incoming.file_id, exc)
            failure = exc if isinstance(exc, files.FileUnavailable) else None

            async def failed(failure: Exception | None = failure) -> bytes:
                raise files.FileUnavailable(str(failure)) from failure

            incoming.fetch = failed
            continue

        async def cached(data: bytes = data) -> bytes:
            return data

        incoming.fetch = cached
        await files.prepare(incoming, data)


async def _dispatch(ctx: Ctx) -> None:
    event = ctx.event
    if event.in_group:
        await groups.on_message(ctx)
        return
    if event.kind == "text" and not event.has_buttons and not await _numbered_answer(ctx):
        return
    if event.kind == "button" and event.button.startswith("!"):
        await _global_button(ctx)
        return
    if event.kind == "button" and not _unwrap_button(ctx):
        ctx.notice("common.stale_button")
        ctx.response.press_accepted = False
        await _resume(ctx, stale=True)
        return
    if event.kind == "text":
        command = command_for(ctx, event.text)
        if command:
            event.kind, event.command, event.args = "command", command, ""
    if event.kind == "command":
        await _command(ctx)
        return
    if await _must_register(ctx):
        await registration.start(ctx)
        return
    handlers = STEPS.get(ctx.conv.step)
    if handlers is None:
        await _idle(ctx)
        return
    await handlers[0](ctx)


async def _must_register(ctx: Ctx) -> bool:
    """Newcomers register first; people given a role by invitation need not (until /new)."""
    if _registered(ctx) or ctx.conv.step in NO_REGISTRATION:
        return False
    if ctx.person is not None and await roles.of(ctx.session, ctx.person.id):
        return False
    return not await registration.news_only(ctx)


async def _global_button(ctx: Ctx) -> None:
    """Buttons that act on a story rather than on this chat's current step ("!…")."""
    kind, _, rest = ctx.event.button[1:].partition(":")
    number = parse_id(rest)
    if kind in (review.UNIT, review.REVIEW):
        await review.on_press(ctx)
    elif kind == LADDER:
        await ladder.on_press(ctx)
    elif kind == month.BUTTON:
        await month.on_press(ctx)
    elif kind == website.WEB:
        await website.on_press(ctx)
    elif kind == "pd" and number is not None:
        await queues.pending(ctx, number)
    elif kind == "op" and number is not None:
        await queues.open_card(ctx, number)
    elif kind == "sub" and rest in ("on", "off"):
        await registration.subscribe(ctx, rest == "on")
    elif kind == "sub" and rest == "no":
        broadcast.decline_offer(ctx)
    elif kind == "ed" and number is not None:
        await review.leave_note_step(ctx)
        await submission.open_for_changes(ctx, number)
    else:
        ctx.notice("review.bad_button")
        ctx.response.press_accepted = False


async def _command(ctx: Ctx) -> None:
    command, step, args = ctx.event.command, ctx.conv.step, ctx.event.args
    registered = _registered(ctx)
    if command in ("start", "join") and args:
        await invites.redeem(ctx, args)
        return
    if command in ROLE_COMMANDS:
        await _role_command(ctx, command, args)
        return
    if command == "help":
        held = {g.role for g in await roles.of(ctx.session, ctx.person.id)} if ctx.person else set()
        if ctx.is_admin:
            held.add(roles.ADMIN)
        ctx.say(
            "common.help",
            campaigns=ctx.services.open_campaigns(),
            roles=held,
            # Without a menu to set, the menu's stand-in would list the commands again.
            menu=main_menu(ctx) if ctx.event.has_menu else None,
        )
        if step in STEPS:
            await _resume(ctx)
        return
    if command == "cancel":
        note_steps = (review.NOTE_STEP, ladder.NOTE_STEP)
        if step in (
            *note_steps,
            *invites.STEPS,
            *broadcast.STEPS,
            emulation.STEP,
            office_menu.STEP,
            *month.STEPS,
        ):
            ctx.goto("idle")
            ctx.say("common.cancelled", menu=main_menu(ctx) if registered else None)
        elif step == registration.STEP and not registered:
            ctx.goto("idle")
            ctx.say("profile.cancelled")
        elif step in (registration.STEP, registration.MENU_STEP):
            ctx.goto("idle")
            ctx.say("common.cancelled", menu=main_menu(ctx))
        elif not await submission.cancel(ctx):
            ctx.goto("idle")
            ctx.say("common.nothing_to_cancel", menu=main_menu(ctx))
        return
    if command in ("start", "new", "continue", "mine", "profile") and not registered:
        if step == registration.STEP:
            ctx.say("profile.finish_first")
            await registration.resume(ctx)
        else:
            await registration.start(ctx, then="new" if command == "new" else None)
        return
    match command:
        case "start":
            ctx.say("common.welcome_back", person=ctx.person, menu=main_menu(ctx))
            if step in STEPS:
                await _resume(ctx)
        case "new":
            await submission.new(ctx)
        case "continue":
            await submission.continue_drafts(ctx)
        case "mine":
            await submission.mine(ctx)
            if step in STEPS:
                await _resume(ctx)
        case "profile":
            await registration.show(ctx)
        case _:
            ctx.say("common.unknown_command", command=command)
            if step in STEPS:
                await _resume(ctx)


async def _role_command(ctx: Ctx, command: str, args: str) -> None:
    match command:
        case "pending":
            await queues.pending(ctx)
        case "history":
            await queues.history(ctx, args)
        case "invite":
            await invites.start(ctx)
        case "join":
            ctx.say("invites.join_needs_code")
        case "honour":
            await broadcast.start_honour(ctx, args)
        case "subscribe" | "unsubscribe":
            await registration.subscribe(ctx, command == "subscribe")
        case "report":
            await admin.report(ctx, args)
        case "campaigns":
            await admin.campaigns(ctx)
        case emulation.COMMAND:
            await emulation.start(ctx, args)
        case month.COMMAND:
            await month.start(ctx)
        case month.LIST_COMMAND:
            await month.show_list(ctx, args)
        case office_menu.COMMAND:
            await office_menu.start(ctx, args)
        case typed if typed in review.TYPED:
            await review.on_command(ctx, typed, args)
        case typed if typed in ladder.TYPED:
            await ladder.on_command(ctx, typed, args)
        case typed if typed in website.COMMANDS:
            await website.on_command(ctx, typed, args)


async def _idle(ctx: Ctx) -> None:
    event = ctx.event
    if event.kind == "button":
        ctx.notice("common.stale_button")
        ctx.response.press_accepted = False
    if await registration.news_only(ctx):
        ctx.say("common.idle_subscriber", menu=main_menu(ctx))
    elif event.kind in ("photo", "document"):
        ctx.say("common.idle_file", menu=main_menu(ctx))
    else:
        ctx.say("common.idle", menu=main_menu(ctx))


async def _resume(ctx: Ctx, stale: bool = False) -> None:
    handlers = STEPS.get(ctx.conv.step)
    if handlers is None:
        if stale:
            ctx.say("common.idle", menu=main_menu(ctx))
        return
    if await _must_register(ctx):
        await registration.start(ctx)
        return
    await handlers[1](ctx)


def _registered(ctx: Ctx) -> bool:
    return ctx.person is not None and ctx.person.registered


def _unwrap_button(ctx: Ctx) -> bool:
    """Check the press belongs to the newest buttons shown in this chat, and strip its number.

    Every set of buttons carries the conversation's prompt number, so a press on an older
    message (or forged data) is recognised instead of being taken for the current step.
    """
    seq, sep, payload = ctx.event.button.partition("|")
    if not sep or parse_id(seq) != ctx.conv.prompt_seq:
        return False
    ctx.event.button = payload
    return True


async def _numbered_answer(ctx: Ctx) -> bool:
    """On channels without buttons, "2" or an option's text picks from the last numbered list.

    Returns False when the pick is refused: a decision by number after several cards came in
    could be meant for any of them, so it must be typed with the story's code.
    """
    chosen = numbered.pick(ctx.conv, ctx.event.text)
    ambiguous = numbered.ambiguous(ctx.conv)
    if chosen is None:
        return True
    if ambiguous and review.is_decision(chosen):
        await review.ask_for_code(ctx, chosen)
        return False
    if ambiguous and ladder.is_decision(chosen):
        await ladder.ask_for_code(ctx, chosen)
        return False
    if ambiguous and website.is_press(chosen):
        await website.ask_for_code(ctx, chosen)
        return False
    ctx.event.kind, ctx.event.button = "button", chosen
    return True


def _number_choices(ctx: Ctx, step_changed: bool, seq: int) -> None:
    """Stamp new buttons with a fresh prompt number and remember them for numbered answers."""
    with_choices = [r for r in ctx.response.replies if r.choices]
    conv = ctx.conv
    if not with_choices:
        if step_changed:
            # Buttons shown for the previous step must not act on the new one.
            conv.prompt_seq = seq + 1
            numbered.forget(conv)
        return
    conv.prompt_seq = seq + 1
    for reply in with_choices:
        # "!" buttons act on a story, not on this chat's step, and stay valid on old messages.
        reply.choices = [
            c if c.payload.startswith("!") else Choice(c.label, f"{conv.prompt_seq}|{c.payload}")
            for c in reply.choices
        ]
    numbered.remember(conv, with_choices[-1].choices)
