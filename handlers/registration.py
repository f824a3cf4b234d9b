"""Registration on first contact, and /profile to change name, unit or phone."""

from __future__ import annotations

from handlers import broadcast, fields, numbered
from handlers.context import Ctx
from handlers.forms import PROFILE_FORM
from handlers.menu import main_menu
from storage import audience, events, people
from storage import units as units_repo
from storage.models import Person
from storage.units import UnitBrief

STEP = "profile"
MENU_STEP = "profile_menu"


async def ensure_person(ctx: Ctx) -> Person:
    """The sender as a person, created with their channel identity on first contact."""
    person = await ctx.person_row()
    if person is None:
        event = ctx.event
        person = ctx.person = await people.create_with_identity(
            ctx.session, event.channel, event.user_id, event.chat_id, event.user_name
        )
    return person


async def start(ctx: Ctx, then: str | None = None) -> None:
    """Begin registration; `then` names a command to carry on with afterwards."""
    # Only the name is shown here: the person as read with the step, or created as plain
    # values, with no ORM row loaded.
    person = ctx.person
    if person is None:
        event = ctx.event
        person = ctx.person = await people.create_record(
            ctx.session, event.channel, event.user_id, event.chat_id, event.user_name
        )
    ctx.goto(STEP, index=0, values={}, then=then, editing=False, field_state={})
    # A parent who only wants the news needs no name, unit or phone: offered at once.
    subscribed = await subscribed_here(ctx)
    ctx.say(
        "profile.welcome",
        # The full name once given; never the platform's login or first name ("giaovien").
        name=person.full_name or "",
        subscribed=subscribed,
        choices=[] if subscribed else [ctx.button("news_only", "!sub:on")],
    )
    await _ask(ctx)


async def subscribed_here(ctx: Ctx) -> bool:
    """Whether this chat receives the honoured stories."""
    return await audience.subscribed(ctx.session, ctx.event.channel, ctx.event.chat_id)


async def news_only(ctx: Ctx) -> bool:
    """Whether the sender never registered but receives the news: they are left in peace
    rather than asked for a name whenever they write."""
    unregistered = ctx.person is None or not ctx.person.registered
    return unregistered and await subscribed_here(ctx)


async def subscribe(ctx: Ctx, on: bool) -> None:
    """/subscribe and /unsubscribe, typed or pressed.

    The news need no registration, so subscribing ends a registration not yet finished;
    left waiting, it would take the next message ("Cảm ơn nhé") for a full name.
    """
    await broadcast.subscribe(ctx, on)
    registering = ctx.conv.step == STEP and not (ctx.person and ctx.person.registered)
    if not registering:
        return
    if on:
        ctx.goto("idle")
        # The menu replaces the share-my-phone button and offers /unsubscribe at a tap.
        ctx.say("profile.news_only", menu=main_menu(ctx))
    else:
        # Still registering: say which question the next message answers.
        await resume(ctx)


async def on_step(ctx: Ctx) -> None:
    """Take an answer for the profile field being asked."""
    data = ctx.data
    index, values = data["index"], dict(data["values"])
    if ctx.event.kind == "button" and ctx.event.button == "unit_again":
        # The unit was taken as the only match of a search; the person wants another.
        index = PROFILE_FORM.index("unit")
        ctx.update(index=index, field_state={})
        await _ask(ctx)
        return
    fc = await _field_ctx(ctx, index, values)
    outcome = await fields.take(fc)
    if outcome.changed:
        values[fc.field.key] = outcome.value
    if not outcome.done:
        ctx.update(values=values, field_state=fc.state)
        if outcome.reprompt:
            fields.ask(fc)
        return
    if data.get("editing"):
        await _save(ctx, values, action="profile_changed")
        await show(ctx, saved=True)
        return
    if index + 1 < len(PROFILE_FORM.fields):
        ctx.update(index=index + 1, values=values, field_state={})
        # A number typed from now on answers this question, not a list shown before it
        # ("1. 🔔 Chỉ nhận tin" under the greeting); the router remembers any new list.
        numbered.forget(ctx.conv)
        await _ask(ctx)
        return
    unit = await _save(ctx, values, action="registered")
    then = data.get("then")
    ctx.goto("idle")
    person = ctx.person
    assert person is not None
    ctx.say("profile.registered", person=person, unit=unit, menu=main_menu(ctx))
    # Offered once, right after registration; /subscribe and /unsubscribe work at any time.
    ctx.say(
        "broadcast.offer",
        choices=[ctx.button("subscribe", "!sub:on"), ctx.button("subscribe_no", "!sub:no")],
        columns=2,
    )
    if then == "new":
        from handlers import submission  # late: submission imports registration

        await submission.start_new(ctx)


async def resume(ctx: Ctx) -> None:
    """Ask the current profile question again."""
    await _ask(ctx)


async def show(ctx: Ctx, saved: bool = False) -> None:
    """/profile: show what we know, with a button per field to change it."""
    person = await ensure_person(ctx)
    if not person.registered:
        await start(ctx)
        return
    ctx.goto(MENU_STEP)
    choices = [
        ctx.button("edit_field", f"edit:{f.key}", key=f.key) for f in PROFILE_FORM.fields
    ] + [ctx.button("close", "close")]
    ctx.say("profile.show", person=person, saved=saved, choices=choices, columns=3)


async def on_menu(ctx: Ctx) -> None:
    """A press on the /profile menu."""
    event = ctx.event
    if event.kind == "button" and event.button.startswith("edit:"):
        key = event.button[5:]
        field = PROFILE_FORM.get(key)
        if field is not None:
            person = ctx.person
            assert person is not None
            values = {"full_name": person.full_name, "unit": person.unit_id, "phone": person.phone}
            ctx.goto(
                STEP,
                index=PROFILE_FORM.index(key),
                values=values,
                editing=True,
                then=None,
                field_state={},
            )
            await _ask(ctx)
            return
    if event.kind == "button" and event.button == "close":
        ctx.goto("idle")
        ctx.say("common.ok", menu=main_menu(ctx))
        return
    ctx.say("common.use_buttons")
    await show(ctx)


async def _ask(ctx: Ctx) -> None:
    data = ctx.data
    fields.ask(await _field_ctx(ctx, data["index"], dict(data["values"])))


async def _field_ctx(ctx: Ctx, index: int, values: dict[str, object]) -> fields.FieldCtx:
    field = PROFILE_FORM.fields[index]
    return fields.FieldCtx(
        ctx=ctx,
        field=field,
        value=values.get(field.key),
        state=dict(ctx.data.get("field_state") or {}),
        editing=bool(ctx.data.get("editing")),
        unit_again=not ctx.data.get("editing"),
    )


async def _save(ctx: Ctx, values: dict[str, object], action: str) -> UnitBrief | None:
    """Write the profile; returns the unit it names (its name goes in the answer)."""
    person = ctx.person
    assert person is not None
    before = {"full_name": person.full_name, "unit": person.unit_id, "phone": person.phone}
    unit_id = values["unit"]
    unit = await units_repo.brief(ctx.session, int(unit_id)) if unit_id is not None else None
    ctx.person = person = await people.save_profile(
        ctx.session,
        person.id,
        full_name=str(values["full_name"]),
        unit_id=unit.id if unit else None,
        phone=str(values["phone"]),
        at=ctx.services.now(),
    )
    changed = sorted(k for k in before if before[k] != values.get(k))
    await events.record(
        ctx.session,
        at=ctx.services.now(),
        subject="person",
        subject_id=person.id,
        action=action,
        actor_id=person.id,
        channel=ctx.event.channel,
        data={"changed": changed},
    )
    return unit
