"""The school website duty (letter 001: "each school posts at least one story a month on its
website"): the unit head publishes the unit's approved stories on the unit's public page and
records where a story went on the school's own portal.

Buttons are "!w:<action>:<submission id>" so they act on a story from any old message; who
pressed is checked on every press and typed command: only the unit's heads (principal and
deputies, invited as unit heads of that unit) may publish its stories.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import invites
from handlers.context import Ctx
from handlers.ids import parse_id
from handlers.notify import Notifier
from handlers.services import Services
from handlers.types import Choice, Reply
from storage import events, roles, web_posts
from storage import submissions as repo
from storage.models import Submission, Unit
from templates import Texts

WEB = "w"
PUBLISH, UNPUBLISH = "pub", "unp"
COMMANDS = ("dangweb", "gobai", "diachiweb")
# How many stories /dangweb lists: the newest; older ones are typed with their codes.
LIST_SIZE = 10
MAX_URL = 500
CODE_ECHO = 40


def press_data(action: str, submission_id: int) -> str:
    """The callback data of a publish/unpublish button."""
    return f"!{WEB}:{action}:{submission_id}"


def parse_press(payload: str) -> tuple[str, int] | None:
    """(action, submission id) of "!w:pub:12", or None for anything malformed."""
    parts = payload.lstrip("!").split(":")
    if len(parts) != 3 or parts[0] != WEB or parts[1] not in (PUBLISH, UNPUBLISH):
        return None
    number = parse_id(parts[2])
    return None if number is None else (parts[1], number)


def is_press(payload: str) -> bool:
    """Whether a numbered choice is a publish/unpublish (which must not land on another story)."""
    return parse_press(payload) is not None


async def ask_for_code(ctx: Ctx, payload: str) -> None:
    """A number answered one of several offers: ask for the command typed with the code."""
    parsed = parse_press(payload)
    assert parsed is not None
    sub = await repo.get(ctx.session, parsed[1])
    command = "dangweb" if parsed[0] == PUBLISH else "gobai"
    code = sub.code if sub else ""
    ctx.say("review.number_ambiguous", command=command, code=code, needs_note=False)


def unit_page_url(services: Services, unit: Unit) -> str:
    """The public address of the unit's page (by its code)."""
    return f"{services.public_url}/units/{unit.code}"


def valid_url(raw: str) -> str | None:
    """An http(s) address with a host, as typed; None for anything else."""
    url = raw.strip()
    if not url or len(url) > MAX_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


async def offer_to_heads(session: AsyncSession, services: Services, sub: Submission) -> int:
    """After a story is approved, offer the unit's heads to publish it; returns chats told."""
    if sub.unit_id is None or sub.campaign.form == web_posts.REGISTRATION_FORM:
        return 0
    unit = await session.get(Unit, sub.unit_id)
    if unit is None or not unit.code:
        return 0  # no code, no public address to publish at
    heads = await roles.unit_heads(session, sub.unit_id)
    reply = offer(services.texts, services, sub, unit)
    notifier = Notifier(session, services)
    return sum([await notifier.to_person(head, reply) for head in heads])


def offer(texts: Texts, services: Services, sub: Submission, unit: Unit) -> Reply:
    """The message offering a head to publish one approved story."""
    return Reply(
        texts.render("website.offer", sub=sub, unit=unit, url=unit_page_url(services, unit)),
        choices=[Choice(texts.render("website.button_publish"), press_data(PUBLISH, sub.id))],
        typed_hint=texts.render("website.typed_publish", code=sub.code),
    )


async def headed_units(ctx: Ctx) -> list[Unit]:
    """The units the sender heads (a unit head grant, checked in the database)."""
    if ctx.person is None:
        return []
    ids = {
        g.unit_id
        for g in await roles.of(ctx.session, ctx.person.id)
        if g.role == roles.UNIT_HEAD and g.unit_id is not None
    }
    found = [await ctx.session.get(Unit, unit_id) for unit_id in sorted(ids)]
    return [u for u in found if u is not None]


async def _may_publish(ctx: Ctx, sub: Submission) -> bool:
    return sub.unit_id is not None and any(u.id == sub.unit_id for u in await headed_units(ctx))


async def on_press(ctx: Ctx) -> None:
    """A publish/unpublish button, after checking who pressed."""
    parsed = parse_press(ctx.event.button)
    sub = await repo.get(ctx.session, parsed[1]) if parsed else None
    if parsed is None or sub is None or sub.code is None:
        ctx.notice("review.bad_button")
        ctx.response.press_accepted = False
        return
    await _act(ctx, parsed[0], sub, typed=False)


async def on_command(ctx: Ctx, command: str, args: str) -> None:
    """/dangweb [code], /gobai code, /diachiweb code url."""
    code, _, rest = args.strip().partition(" ")
    if command == "dangweb" and not code:
        await listing(ctx)
        return
    if not code:
        ctx.say("website.usage", command=command)
        return
    sub = await repo.by_code(ctx.session, code.upper()[:CODE_ECHO])
    if sub is None:
        ctx.say("review.no_such_code", code=code[:CODE_ECHO])
        return
    if command == "diachiweb":
        await record_portal(ctx, sub, rest)
        return
    await _act(ctx, PUBLISH if command == "dangweb" else UNPUBLISH, sub, typed=True)


async def listing(ctx: Ctx) -> None:
    """The unit's approved stories, each with a button to publish or take it off the page."""
    units = await headed_units(ctx)
    if not units:
        ctx.say("website.heads_only")
        return
    for unit in units:
        stories = await web_posts.publishable(ctx.session, unit.id, LIST_SIZE)
        published = await web_posts.published_ids(ctx.session, [s.id for s in stories])
        choices = [
            Choice(
                ctx.text("website.button_unpublish_code", code=s.code)
                if s.id in published
                else ctx.text("website.button_publish_code", code=s.code),
                press_data(UNPUBLISH if s.id in published else PUBLISH, s.id),
            )
            for s in stories
            if s.status == repo.APPROVED
        ]
        reply = ctx.say(
            "website.listing",
            unit=unit,
            stories=stories,
            published=published,
            url=unit_page_url(ctx.services, unit),
            snippet=snippet(ctx.services, unit),
            choices=choices,
        )
        reply.typed_hint = ctx.text("website.typed_listing")


def snippet(services: Services, unit: Unit) -> str:
    """The HTML block a school portal pastes to show the unit's stories (templates/web)."""
    return services.texts.page("web/snippet.html", base_url=services.public_url, unit=unit).strip()


async def _act(ctx: Ctx, action: str, sub: Submission, typed: bool) -> None:
    if not await _may_publish(ctx, sub):
        _tell(ctx, typed, "website.not_allowed", code=sub.code)
        return
    if sub.campaign.form == web_posts.REGISTRATION_FORM:
        _tell(ctx, typed, "website.not_a_story", code=sub.code)
        return
    if sub.status == repo.HONOURED:
        _tell(ctx, typed, "website.honoured_always", code=sub.code)
        return
    if action == PUBLISH and sub.status != repo.APPROVED:
        _tell(ctx, typed, "website.not_approved", code=sub.code)
        return
    person = await invites.acting_person(ctx)
    now = ctx.services.now()
    if action == PUBLISH:
        changed = await web_posts.publish(ctx.session, sub, person.id, now)
    else:
        changed = await web_posts.unpublish(ctx.session, sub)
    unit = await ctx.session.get(Unit, sub.unit_id) if sub.unit_id else None
    if not changed:
        _tell(ctx, typed, "website.already", code=sub.code, published=action == PUBLISH)
        return
    await events.record(
        ctx.session,
        at=now,
        subject="submission",
        subject_id=sub.id,
        action=web_posts.PUBLISHED if action == PUBLISH else web_posts.UNPUBLISHED,
        actor_id=person.id,
        channel=ctx.event.channel,
        data={"unit_id": sub.unit_id, "role": roles.UNIT_HEAD},
    )
    ctx.notice("website.done", code=sub.code, published=action == PUBLISH)
    ctx.say(
        "website.done_full",
        sub=sub,
        published=action == PUBLISH,
        url=unit_page_url(ctx.services, unit) if unit else "",
        story_url=f"{ctx.services.public_url}/stories/{sub.code}",
    )


async def record_portal(ctx: Ctx, sub: Submission, raw: str) -> None:
    """/diachiweb code url: where the story was posted on the school's portal."""
    if not await _may_publish(ctx, sub):
        ctx.say("website.not_allowed", code=sub.code)
        return
    if sub.campaign.form == web_posts.REGISTRATION_FORM:
        ctx.say("website.not_a_story", code=sub.code)
        return
    if sub.status not in web_posts.PUBLISHABLE:
        ctx.say("website.not_approved", code=sub.code)
        return
    url = valid_url(raw)
    if url is None:
        ctx.say("website.bad_url", code=sub.code)
        return
    person = await invites.acting_person(ctx)
    now = ctx.services.now()
    await web_posts.set_portal(ctx.session, sub, url, person.id, now)
    await events.record(
        ctx.session,
        at=now,
        subject="submission",
        subject_id=sub.id,
        action=web_posts.PORTAL,
        actor_id=person.id,
        channel=ctx.event.channel,
        data={"unit_id": sub.unit_id, "url": url, "role": roles.UNIT_HEAD},
    )
    ctx.say("website.portal_recorded", code=sub.code, url=url)


def _tell(ctx: Ctx, typed: bool, name: str, **values: object) -> None:
    # A press answers where the button was (a toast); a typed command answers in the chat.
    if typed:
        ctx.say(name, **values)
    else:
        ctx.notice(name, **values)
        ctx.response.press_accepted = False
