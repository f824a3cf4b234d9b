"""Group chats: the bot works in private chats, and a group can receive the honoured stories.

A story, a registration or a decision belongs to one person, so nothing of it happens in a
group. What is sent there is logged and answered: a command always, other messages with one
note a day per group, so a busy group is told once rather than answered line by line.
"""

from __future__ import annotations

import logging

from handlers import broadcast, invites
from handlers.context import Ctx
from storage import events, marks

log = logging.getLogger(__name__)

NOTE = "group_note"


async def on_message(ctx: Ctx) -> None:
    """Anything sent in a group chat."""
    event = ctx.event
    log.info("%s group %s: %s from %s", event.channel, event.chat_id, event.kind, event.user_id)
    if event.kind == "command" and event.command in ("subscribe", "unsubscribe"):
        await _subscribe(ctx, event.command == "subscribe")
        return
    services = ctx.services
    if event.kind == "command" or await marks.once(
        ctx.session, NOTE, f"{event.channel}:{event.chat_id}", services.today(), services.now()
    ):
        ctx.say("groups.private_only", bot=services.bot_usernames.get(event.channel, ""))


async def _subscribe(ctx: Ctx, on: bool) -> None:
    """An admin makes the group a broadcast audience (or stops it); nobody else may."""
    event = ctx.event
    if not await invites.is_admin(ctx):
        ctx.say("groups.admins_only", target=f"{event.channel}:{event.chat_id}")
        return
    member, changed = await broadcast.set_subscription(
        ctx.session, ctx.services, event.channel, event.chat_id, None, on, kind="group"
    )
    if changed:
        await events.record(
            ctx.session,
            at=ctx.services.now(),
            subject="audience",
            subject_id=member.id,
            action="subscribed" if on else "unsubscribed",
            actor_id=ctx.person.id if ctx.person else None,
            channel=event.channel,
            data={"chat_id": event.chat_id, "kind": "group", "by": event.user_id},
        )
    ctx.say("groups.subscribed" if on else "groups.unsubscribed", changed=changed)
