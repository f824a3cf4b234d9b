"""People with neither Telegram nor Zalo: a one-time web invitation opens a personal page where
they talk to the bot as in a chat (channel "web"), with the same registration, form, checks and
review path. Nothing is sent to them: the page shows where their stories stand (/mine).

Their identity has no chat to deliver to (chat_id is empty), so notifications meant for them
queue nothing; the conversation's chat is the identity's own id.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import invites, submission
from handlers.forms import FieldKind, form_for
from handlers.review import campaign_of
from handlers.services import Services
from handlers.types import Reply, payload_to_reply, reply_to_payload
from storage import conversations, events
from storage import invites as invites_repo
from storage import submissions as submissions_repo
from storage.models import Identity, Person

CHANNEL = "web"
# What the personal page shows and takes (Event fields): buttons and a menu, photos but no
# documents (a story goes through the editor), no share-my-phone button.
CAPABILITIES: dict[str, bool | int] = {
    "takes_documents": False,
    "takes_contact": False,
    "sends_files": False,
}
# The replies the page shows until the person acts again, kept with the conversation so a
# reload (or another worker) shows them too.
SHOWN = "_web_replies"
# The newest menu stays under the page, as Telegram keeps its keyboard under the chat.
MENU = "_web_menu"


async def join(session: AsyncSession, services: Services, code: str) -> tuple[Person | None, str]:
    """Redeem a web invitation: a new person with a web identity, or the problem
    ("unknown", "used", "expired", "revoked") that stops it."""
    problem = await invite_problem(session, services, code)
    invite = await invites_repo.get(session, code) if code else None
    if problem or invite is None:
        # A role's code is redeemed in a chat, not here: "unknown" too.
        return None, problem or "unknown"
    person = Person()
    session.add(person)
    await session.flush()
    if not await invites_repo.redeem(session, invite.code, person.id, services.now()):
        return None, "used"
    session.add(
        Identity(
            person_id=person.id,
            channel=CHANNEL,
            external_id=f"w{secrets.token_hex(12)}",
            chat_id=None,
            display_name=None,
        )
    )
    await events.record(
        session,
        at=services.now(),
        subject="person",
        subject_id=person.id,
        action="joined_on_web",
        actor_id=person.id,
        channel=CHANNEL,
        data={"invite": invite.code, "invited_by": invite.created_by_id},
    )
    return person, ""


async def invite_problem(session: AsyncSession, services: Services, code: str) -> str:
    """Why this web invitation cannot be accepted now, or "" (nothing is redeemed)."""
    invite = await invites_repo.get(session, code) if code else None
    problem = invites.problem_of(invite, services.now())
    if not problem and invite is not None and invite.role != invites.WEB:
        return "unknown"
    return problem


async def wants_photos(session: AsyncSession, services: Services, chat_id: str) -> bool:
    """Whether the web chat is at a photos question (the page then offers an upload)."""
    conv = await conversations.find(session, CHANNEL, chat_id)
    if conv is None or conv.step != submission.FORM_STEP:
        return False
    draft = await submissions_repo.get(session, int(conv.data.get("submission_id") or 0))
    if draft is None:
        return False
    form = form_for(campaign_of(services, draft))
    index = int(conv.data.get("index", -1))
    return 0 <= index < len(form.fields) and form.fields[index].kind == FieldKind.PHOTOS


async def chat_of(session: AsyncSession, person_id: int) -> str | None:
    """The web chat's id (its identity's), for a person who joined on the web."""
    return await session.scalar(
        select(Identity.external_id).where(
            Identity.person_id == person_id, Identity.channel == CHANNEL
        )
    )


async def show(
    session: AsyncSession,
    services: Services,
    chat_id: str,
    replies: list[Reply],
    menu_before: list[list[str]],
) -> None:
    """Keep `replies` as what the page shows now, and the newest menu among them, else the
    one shown before (`menu_before`, read before the step changed: a step starts with fresh
    working data)."""
    conv = await conversations.load(session, CHANNEL, chat_id)
    kept = [
        {**reply_to_payload(r, services.media_dir), "ask_contact": r.ask_contact}
        for r in replies
        if r.text.strip()
    ]
    menus = [r.menu for r in replies if r.menu]
    conv.data = {**conv.data, SHOWN: kept, MENU: menus[-1] if menus else menu_before}


async def shown(session: AsyncSession, services: Services, chat_id: str) -> list[Reply]:
    """What the page shows: the answers to the person's last action."""
    conv = await conversations.find(session, CHANNEL, chat_id)
    kept: list[dict[str, Any]] = list(conv.data.get(SHOWN) or []) if conv else []
    replies = []
    for payload in kept:
        reply = payload_to_reply(payload, services.media_dir)
        reply.ask_contact = str(payload.get("ask_contact") or "")
        replies.append(reply)
    return replies


async def menu(session: AsyncSession, chat_id: str) -> list[list[str]]:
    """The menu under the page (none before registration)."""
    conv = await conversations.find(session, CHANNEL, chat_id)
    return list(conv.data.get(MENU) or []) if conv else []
