"""Roles by invitation: admins create one-time codes; invitees redeem them with /start or /join."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import fields
from handlers.collation import vietnamese_key
from handlers.context import Ctx
from handlers.forms import FieldKind, FormField
from handlers.services import Services
from handlers.types import Choice
from storage import events, roles
from storage import invites as repo
from storage import people as people_repo
from storage import units as units_repo
from storage.models import Invite, Organisation, Person, RoleGrant, Unit

ROLE_STEP, UNIT_STEP, LEVELS_STEP = "invite_role", "invite_unit", "invite_levels"
ORGANISATION_STEP = "invite_organisation"
# After accepting an invitation: the full name and the title to print in signature blocks.
NAME_STEP, TITLE_STEP = "invite_full_name", "invite_title"
STEPS = (ROLE_STEP, UNIT_STEP, LEVELS_STEP, ORGANISATION_STEP, NAME_STEP, TITLE_STEP)
DEFAULT_DAYS = 7
# Letter 001 has one reviewer for preschools and one for primary and lower-secondary
# schools; "other" is the grassroots unions' and other units' stories.
LEVEL_CHOICES = ("MN", "TH,THCS", "other", "MN,TH,THCS,other")
ALL_ORGANISATIONS = "all"
# Not a role: an invitation to write on the web, for people with neither Telegram nor Zalo
# (handlers/web_people.py). Redeemed on its page, never in a chat.
WEB = "web"
_UNIT_FIELD = FormField("unit", FieldKind.UNIT)
_NAME_FIELD = FormField(
    "full_name", FieldKind.SHORT_TEXT, min_length=4, max_length=100, is_name=True
)
_TITLE_FIELD = FormField("title", FieldKind.SHORT_TEXT, min_length=2, max_length=100)
# The titles offered as buttons; any other can be typed. Schools' heads and their deputies
# (letter 001: "có xác nhận của Hiệu trưởng"); grassroots unions' chairs; the office's staff.
SCHOOL_HEAD_TITLES = ("Hiệu trưởng", "Phó Hiệu trưởng")
UNION_HEAD_TITLES = ("Chủ tịch Công đoàn cơ sở", "Phó Chủ tịch Công đoàn cơ sở")
OFFICE_TITLES = ("Chuyên viên", "Trưởng phòng", "Phó Trưởng phòng")
Step = Callable[[Ctx], Awaitable[None]]


async def create(
    session: AsyncSession,
    services: Services,
    role: str,
    *,
    unit_id: int | None = None,
    organisation_id: int | None = None,
    levels: str | None = None,
    created_by_id: int | None = None,
    days: int = DEFAULT_DAYS,
) -> Invite:
    """A new one-time invite (used by the CLI and by /invite)."""
    now = services.now()
    return await repo.create(
        session,
        Invite(
            role=role,
            unit_id=unit_id,
            organisation_id=organisation_id,
            levels=levels,
            created_by_id=created_by_id,
            created_at=now,
            expires_at=now + timedelta(days=days),
        ),
    )


def link_for(services: Services, invite: Invite) -> str | None:
    """Where the invitee goes: the web page of a web invitation, else the Telegram deep link."""
    if invite.role == WEB:
        return f"{services.public_url}/join/{invite.code}"
    return deep_link(services, invite.code)


def deep_link(services: Services, code: str) -> str | None:
    """https://t.me/<bot>?start=<code>, when the Telegram bot's username is known."""
    username = services.bot_usernames.get("telegram")
    return f"https://t.me/{username}?start={code}" if username else None


async def is_admin(ctx: Ctx) -> bool:
    """Named in GUONGSANG_ADMINS, or granted the admin role."""
    if ctx.is_admin:
        return True
    if ctx.person is None:
        return False
    return any(g.role == roles.ADMIN for g in await roles.of(ctx.session, ctx.person.id))


async def acting_person(ctx: Ctx) -> Person:
    """The sender as the person a decision is recorded under.

    An admin named in GUONGSANG_ADMINS may act before ever writing to the bot; the decision
    still needs someone to be recorded against, so they get a person (unregistered: no name,
    no unit) with their private chat, as a registration would have made.
    """
    if ctx.person is None:
        event = ctx.event
        # On both platforms a person's private chat has the person's own id.
        ctx.person = await people_repo.create_with_identity(
            ctx.session, event.channel, event.user_id, event.user_id, event.user_name
        )
    return ctx.person


def admin_step(refusal: str) -> Callable[[Step], Step]:
    """For the steps after /invite or /honour: the sender must be an admin still.

    Checked at every step, not only at the command: the role may have gone since (removed
    from GUONGSANG_ADMINS before a restart, or a grant revoked) while the conversation kept
    its step. If it has, the steps end with `refusal` and a pressed button does nothing.
    """

    def wrap(step: Step) -> Step:
        @functools.wraps(step)
        async def checked(ctx: Ctx) -> None:
            if await is_admin(ctx):
                await step(ctx)
                return
            ctx.goto("idle")
            ctx.say(refusal)
            if ctx.event.kind == "button":
                ctx.response.press_accepted = False

        return checked

    return wrap


async def start(ctx: Ctx) -> None:
    """/invite: admins choose the role, then the unit or levels; a unit head invites someone
    of their unit who uses neither Telegram nor Zalo to write on the web."""
    if not await is_admin(ctx):
        heads = [g for g in await _grants(ctx) if g.role == roles.UNIT_HEAD]
        if heads:
            await _made(ctx, WEB, unit_id=heads[0].unit_id)
            return
        ctx.say("invites.admins_only")
        return
    ctx.goto(ROLE_STEP)
    ctx.say(
        "invites.ask_role",
        choices=[ctx.button("role", f"role:{r}", role=r) for r in (*roles.ROLES, WEB)],
    )


@admin_step("invites.admins_only")
async def on_role(ctx: Ctx) -> None:
    """The role chosen for a new invite."""
    event = ctx.event
    role = event.button[5:] if event.kind == "button" and event.button.startswith("role:") else ""
    if role == roles.UNIT_HEAD:
        ctx.goto(UNIT_STEP)
        fields.ask(fields.FieldCtx(ctx=ctx, field=_UNIT_FIELD, value=None))
    elif role == roles.REVIEWER:
        ctx.goto(LEVELS_STEP)
        ctx.say(
            "invites.ask_levels",
            choices=[ctx.button("levels", f"lv:{lv}", levels=lv) for lv in LEVEL_CHOICES],
        )
    elif role in (roles.ADMIN, WEB):
        await _made(ctx, role)
    else:
        ctx.say("common.use_buttons")
        await start(ctx)


@admin_step("invites.admins_only")
async def on_unit(ctx: Ctx) -> None:
    """The unit a unit-head invite is for."""
    outcome = await fields.take(fields.FieldCtx(ctx=ctx, field=_UNIT_FIELD, value=None))
    if outcome.done:
        await _made(ctx, roles.UNIT_HEAD, unit_id=int(outcome.value))
    elif outcome.reprompt:
        fields.ask(fields.FieldCtx(ctx=ctx, field=_UNIT_FIELD, value=None))


@admin_step("invites.admins_only")
async def on_levels(ctx: Ctx) -> None:
    """The school levels a reviewer invite covers."""
    event = ctx.event
    levels = event.button[3:] if event.kind == "button" and event.button.startswith("lv:") else ""
    if levels in LEVEL_CHOICES:
        await _ask_organisation(ctx, levels)
    else:
        ctx.say("common.use_buttons")
        ctx.goto(ROLE_STEP)
        ctx.event.button = f"role:{roles.REVIEWER}"
        await on_role(ctx)


async def _ask_organisation(ctx: Ctx, levels: str) -> None:
    """Where there are several offices or unions, a reviewer reviews one of them (or all);
    with one, the reviewer is of that one."""
    found = sorted(
        await units_repo.organisations(ctx.session), key=lambda o: vietnamese_key(o.name)
    )
    if len(found) < 2:
        await _made(
            ctx, roles.REVIEWER, levels=levels, organisation_id=found[0].id if found else None
        )
        return
    ctx.goto(ORGANISATION_STEP, levels=levels)
    ctx.say(
        "invites.ask_organisation",
        choices=[
            *(ctx.button("organisation", f"org:{o.id}", name=o.name) for o in found),
            ctx.button("all_organisations", f"org:{ALL_ORGANISATIONS}"),
        ],
    )


@admin_step("invites.admins_only")
async def on_organisation(ctx: Ctx) -> None:
    """The office or union a reviewer invite is for."""
    event, levels = ctx.event, str(ctx.data.get("levels") or "")
    chosen = event.button[4:] if event.kind == "button" and event.button.startswith("org:") else ""
    known = {str(o.id) for o in await units_repo.organisations(ctx.session)}
    if chosen == ALL_ORGANISATIONS:
        await _made(ctx, roles.REVIEWER, levels=levels)
    elif chosen in known:
        await _made(ctx, roles.REVIEWER, levels=levels, organisation_id=int(chosen))
    else:
        ctx.say("common.use_buttons")
        await _ask_organisation(ctx, levels)


async def _grants(ctx: Ctx) -> list[RoleGrant]:
    return await roles.of(ctx.session, ctx.person.id) if ctx.person else []


async def resume(ctx: Ctx) -> None:
    """Start the invite questions again."""
    await start(ctx)


async def _made(ctx: Ctx, role: str, **scope: object) -> None:
    invite = await create(
        ctx.session,
        ctx.services,
        role,
        created_by_id=(await acting_person(ctx)).id,
        **scope,  # type: ignore[arg-type]
    )
    # Loaded for the text: a new row's relationships are not, and cannot load lazily here.
    await ctx.session.refresh(invite, ["unit"])
    organisation = (
        await ctx.session.get(Organisation, invite.organisation_id)
        if invite.organisation_id
        else None
    )
    ctx.goto("idle")
    ctx.say(
        "invites.made",
        invite=invite,
        organisation=organisation,
        link=link_for(ctx.services, invite),
        days=DEFAULT_DAYS,
    )


async def redeem(ctx: Ctx, raw_code: str) -> None:
    """/start <code> or /join <code>: check the code, grant its role, record it."""
    from handlers.registration import ensure_person  # late: registration imports submission

    code = repo.normalise_code(raw_code)
    invite = await repo.get(ctx.session, code) if code else None
    now = ctx.services.now()
    problem = problem_of(invite, now)
    if not problem and invite is not None and invite.role == WEB:
        problem = "web_only"
    if problem:
        ctx.say("invites.problem", problem=problem, code=raw_code.strip()[:40])
        return
    assert invite is not None
    person = await ensure_person(ctx)
    if not await repo.redeem(ctx.session, code, person.id, now):
        ctx.say("invites.problem", problem="used", code=code)
        return
    grant = await roles.grant(
        ctx.session,
        person.id,
        invite.role,
        unit_id=invite.unit_id,
        organisation_id=invite.organisation_id,
        levels=invite.levels,
    )
    _fill_profile(ctx, person, invite)
    await events.record(
        ctx.session,
        at=ctx.services.now(),
        subject="person",
        subject_id=person.id,
        action="role_granted",
        actor_id=person.id,
        channel=ctx.event.channel,
        data={
            "role": invite.role,
            "unit_id": invite.unit_id,
            "levels": invite.levels,
            "invite": invite.code,
            "invited_by": invite.created_by_id,
        },
    )
    # The name and title go on the papers the role signs (the story's confirmation block)
    # and in the messages others get about its decisions: a chat's first name will not do.
    # This also ends a teacher's registration left open by the first message, which would
    # otherwise take what a principal types next.
    ctx.goto(NAME_STEP, grant_id=grant.id, role=invite.role)
    _ask_name(ctx, person, invite=invite)


def _ask_name(ctx: Ctx, person: Person, invite: Invite | None = None) -> None:
    """Ask for the full name (after saying which role `invite` gave, when just accepted),
    offering to keep one given at registration."""
    known = person.full_name if person.registered else None
    ctx.say(
        "invites.ask_full_name",
        known=known,
        invite=invite,
        choices=[Choice(ctx.text("invites.keep_name", name=known), "keep")] if known else [],
    )


async def on_name(ctx: Ctx) -> None:
    """The full name of someone who has just accepted an invitation."""
    person = await ctx.person_row()
    if person is None:  # redeem made them a person before asking; nothing to name otherwise
        ctx.goto("idle")
        return
    event = ctx.event
    if event.kind == "button" and event.button == "keep" and person.registered:
        name = person.full_name
    elif event.kind != "text":
        ctx.say("invites.name_as_text")
        _ask_name(ctx, person)
        return
    else:
        name = fields.check_short_text(
            fields.FieldCtx(ctx=ctx, field=_NAME_FIELD, value=None), event.text
        )
        if name is None:
            _ask_name(ctx, person)
            return
        if len(name.split()) < 2:
            # "Hà" or "Bình" is how a chat names people, not how a paper does.
            ctx.say("invites.name_needs_family_name", name=name)
            _ask_name(ctx, person)
            return
    if name != person.full_name:
        await _record(
            ctx, person, "full_name_given", {"full_name": name, "before": person.full_name}
        )
        person.full_name = name
    ctx.goto(TITLE_STEP, grant_id=ctx.data.get("grant_id"), role=ctx.data.get("role"))
    await _ask_title(ctx)


async def _ask_title(ctx: Ctx) -> None:
    """Ask for the title the role is held under, with the usual ones as buttons."""
    ctx.say(
        "invites.ask_title",
        role=ctx.data.get("role"),
        choices=[Choice(title, f"title:{i}") for i, title in enumerate(await _titles(ctx))],
    )


async def _titles(ctx: Ctx) -> tuple[str, ...]:
    """The titles offered for the role being accepted."""
    grant = await ctx.session.get(RoleGrant, ctx.data.get("grant_id"))
    if grant is None or grant.role != roles.UNIT_HEAD:
        return OFFICE_TITLES
    unit = await ctx.session.get(Unit, grant.unit_id) if grant.unit_id else None
    return UNION_HEAD_TITLES if unit is not None and unit.level == "other" else SCHOOL_HEAD_TITLES


async def on_title(ctx: Ctx) -> None:
    """The title (chức vụ): a button's, or typed."""
    person = ctx.person
    event = ctx.event
    grant = await ctx.session.get(RoleGrant, ctx.data.get("grant_id"))
    if person is None or grant is None or grant.person_id != person.id:  # revoked meanwhile
        ctx.goto("idle")
        return
    offered = await _titles(ctx)
    title: str | None = None
    if event.kind == "button" and event.button.startswith("title:"):
        index = event.button[6:]
        if index.isdigit() and int(index) < len(offered):
            title = offered[int(index)]
    elif event.kind == "text":
        title = fields.check_short_text(
            fields.FieldCtx(ctx=ctx, field=_TITLE_FIELD, value=None), event.text
        )
        if title is not None:
            title = title[0].upper() + title[1:]  # "phó hiệu trưởng" → "Phó hiệu trưởng"
    if title is None:
        if event.kind != "text":
            ctx.say("common.use_buttons")
        await _ask_title(ctx)
        return
    grant.title = title
    await _record(
        ctx, person, "title_given", {"role": grant.role, "unit_id": grant.unit_id, "title": title}
    )
    ctx.goto("idle")
    ctx.say("invites.profile_done", full_name=person.full_name, title=title, role=grant.role)


async def resume_name(ctx: Ctx) -> None:
    """Ask for the name again (after /help, a stale button…)."""
    if ctx.person is not None:
        _ask_name(ctx, ctx.person)


async def resume_title(ctx: Ctx) -> None:
    """Ask for the title again."""
    await _ask_title(ctx)


async def _record(ctx: Ctx, person: Person, action: str, data: dict[str, object]) -> None:
    await events.record(
        ctx.session,
        at=ctx.services.now(),
        subject="person",
        subject_id=person.id,
        action=action,
        actor_id=person.id,
        channel=ctx.event.channel,
        data=data,
    )


def problem_of(invite: Invite | None, now: object) -> str:
    """Why an invite cannot be redeemed now ("unknown", "revoked", "used", "expired"), or ""."""
    if invite is None:
        return "unknown"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.redeemed_at is not None:
        return "used"
    if invite.expires_at <= now:  # type: ignore[operator]
        return "expired"
    return ""


def _fill_profile(ctx: Ctx, person: Person, invite: Invite) -> None:
    # Reviewers and admins need no school unit or phone; a name to sign decisions with is enough.
    if not person.full_name:
        person.full_name = (ctx.event.user_name or "").strip()[:100] or None
    if invite.role == roles.UNIT_HEAD and person.unit_id is None:
        person.unit_id = invite.unit_id
