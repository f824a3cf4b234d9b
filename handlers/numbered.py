"""Numbered answers on channels without buttons (Zalo, the console).

A person answers "2" (or the option's words) to the newest numbered list their chat was shown,
whether it came as an answer to them or, like a review card, from the outbox.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.ids import parse_id
from handlers.text_rules import bare_words
from handlers.types import Choice
from storage import conversations
from storage.conversations import ChatStep
from storage.models import Conversation

# An ORM row or the per-update path's plain values: both have step, data and prompt_seq.
Conv = Conversation | ChatStep

KEY = "_choices"
# How many numbered notifications arrived since the person last wrote: with more than one,
# a bare number could mean any of them.
ARRIVED = "_arrived"
IDLE = "idle"


def remember(conv: Conv, choices: list[Choice]) -> None:
    """Make `choices` the list a number typed in this chat refers to."""
    conv.data = {**conv.data, KEY: [[c.label, c.payload] for c in choices], ARRIVED: 0}


def ambiguous(conv: Conv) -> bool:
    """Whether several notifications with numbers arrived since the person last wrote."""
    return int(conv.data.get(ARRIVED) or 0) > 1


def seen(conv: Conv) -> None:
    """The person wrote: the notifications before now have been read."""
    if conv.data.get(ARRIVED):
        conv.data = {**conv.data, ARRIVED: 0}


def forget(conv: Conv) -> None:
    """No numbered list is current any more (the step moved on)."""
    if KEY in conv.data:
        conv.data = {k: v for k, v in conv.data.items() if k != KEY}


def pick(conv: Conv, typed: str) -> str | None:
    """The payload "2" or an option's text stands for in the newest list, if any."""
    shown = conv.data.get(KEY) or []
    typed = typed.strip()
    number = parse_id(typed)
    if number is not None and 1 <= number <= len(shown):
        return str(shown[number - 1][1])
    words = bare_words(typed)
    if not words:
        return None
    return next((str(payload) for label, payload in shown if bare_words(label) == words), None)


async def shown_by_outbox(
    session: AsyncSession, channel: str, chat_id: str, choices: list[Choice]
) -> None:
    """A delivered notification showed numbered actions: numbers now answer those.

    Only while the chat is idle: someone in the middle of a form keeps answering the form,
    and acts on the notification with its typed commands. Only story actions ("!…") are
    taken over; anything else in an outbox message belongs to no step of this chat.
    """
    if not choices or not all(c.payload.startswith("!") for c in choices):
        return
    await conversations.lock_chat(session, channel, chat_id)
    conv = await conversations.load(session, channel, chat_id)
    if conv.step != IDLE:
        return
    arrived = int(conv.data.get(ARRIVED) or 0) + 1
    remember(conv, choices)
    conv.data = {**conv.data, ARRIVED: arrived}
