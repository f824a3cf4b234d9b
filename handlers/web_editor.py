"""The story editor on the web: the same draft, the same form and checks as the chat.

The page carries the form's fields marked `on_web` (the title and the story): long text is
what a phone keyboard in a chat makes hard. Saves change the draft the chat reads, each change
recorded in the events table with channel "web"; "Xong" moves the chat on as the chat's own
"Xong phần bài viết" does, and tells it what the web saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import router, submission, web_people
from handlers.context import Ctx
from handlers.fields import clean_story
from handlers.forms import FieldKind, Form, FormField, form_for
from handlers.notify import Notifier
from handlers.review import campaign_of
from handlers.services import Services
from handlers.text_rules import (
    MAX_LINK,
    MAX_RUN,
    clean_line,
    count_words,
    has_letter,
    overlong_run,
)
from handlers.types import Event
from storage import conversations, events, roles
from storage import submissions as repo
from storage.models import Person, Submission

CHANNEL = "web"


@dataclass
class Problem:
    """Why a field was not saved: a name in templates/web/editor_messages.html and its values."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Draft:
    """What the page shows of a draft: its web fields' values, the count and the limit."""

    submission: Submission
    form: Form
    fields: list[FormField]
    values: dict[str, str]
    words: int
    limit: int


@dataclass
class Saved:
    """The outcome of a save: the fields stored, the problems of those that were not."""

    stored: list[str]
    problems: dict[str, Problem]
    words: int
    limit: int
    values: dict[str, str]


def web_fields(form: Form) -> list[FormField]:
    """The fields of a form the web page carries."""
    return [f for f in form.fields if f.on_web]


async def editable(
    session: AsyncSession, services: Services, person_id: int, draft_id: int, lock: bool = False
) -> Draft | None:
    """The draft, if it is this person's and can still be changed (draft or sent back).

    With `lock`, for a change: the chat the draft is written in changes it only while holding
    that chat (handlers/router.py); holding it too, and reading the draft again once held, a
    save and a message the chat appends at the same moment never overwrite each other.
    """
    draft = await repo.get(session, draft_id)
    if draft is not None and lock:
        await conversations.lock_chat(session, draft.channel, draft.chat_id)
        await session.refresh(draft)
    if draft is None or draft.author_id != person_id or draft.status not in repo.EDITABLE:
        return None
    form = form_for(campaign_of(services, draft))
    shown = web_fields(form)
    if not any(f.kind == FieldKind.LONG_TEXT for f in shown):
        return None
    story = _story_field(shown)
    return Draft(
        submission=draft,
        form=form,
        fields=shown,
        values={f.key: str(draft.values.get(f.key) or "") for f in shown},
        words=count_words(str(draft.values.get(story.key) or "")),
        limit=story.max_words,
    )


async def save(
    session: AsyncSession, services: Services, draft: Draft, person: Person, typed: dict[str, Any]
) -> Saved:
    """Store the typed values that pass the chat's checks; each field that does not keeps
    its stored value and gets a Problem. One event records what changed."""
    stored: list[str] = []
    problems: dict[str, Problem] = {}
    for f in draft.fields:
        raw = typed.get(f.key)
        if not isinstance(raw, str):
            continue
        value, problem = check(f, raw)
        if problem is not None:
            problems[f.key] = problem
            continue
        if value != draft.values.get(f.key):
            await submission.store_value(session, services, draft.submission, f.key, value)
            draft.values[f.key] = value
            stored.append(f.key)
    story = _story_field(draft.fields)
    draft.words = count_words(draft.values.get(story.key, ""))
    if stored:
        await events.record(
            session,
            at=services.now(),
            subject="submission",
            subject_id=draft.submission.id,
            action="edited",
            actor_id=person.id,
            channel=CHANNEL,
            data={"fields": stored, "words": draft.words},
        )
    return Saved(stored, problems, draft.words, draft.limit, dict(draft.values))


def check(f: FormField, raw: str) -> tuple[str, Problem | None]:
    """The value as the chat would store it, or the problem that keeps it out."""
    if f.kind == FieldKind.LONG_TEXT:
        text = clean_story(raw)
        if not text:
            return "", Problem("story_empty")
        words, chars = count_words(text), len(text)
        if words > f.max_words:
            return "", Problem(
                "story_over", {"words": words, "limit": f.max_words, "over": words - f.max_words}
            )
        if f.max_chars and chars > f.max_chars:
            return "", Problem(
                "story_over_chars",
                {"chars": chars, "limit": f.max_chars, "over": chars - f.max_chars},
            )
        run = overlong_run(text)
        if run is not None:
            return "", Problem(
                "story_long_run",
                {"length": len(run), "start": run[:40], "max_run": MAX_RUN, "max_link": MAX_LINK},
            )
        return text, None
    text = clean_line(raw)
    if not text:
        return "", Problem("text_empty")
    if len(text) > f.max_length:
        return "", Problem("text_long", {"length": len(text), "limit": f.max_length})
    if len(text) < f.min_length or not has_letter(text):
        return "", Problem("text_short", {"limit": f.min_length})
    return text, None


async def finish(services: Services, person_id: int, draft_id: int) -> Draft | None:
    """ "Xong" on the page: the chat working on this draft moves past the story, as its own
    "Xong phần bài viết" would, after a message saying what the web saved. None when the
    draft can no longer be changed; the story must not be empty (the caller checks)."""
    async with services.db.transaction() as session:
        draft = await editable(session, services, person_id, draft_id, lock=True)
        person = await session.get(Person, person_id)
        if draft is None or person is None:
            return None
        chat = await _chat_of(session, person, draft.submission)
        # The story step is done, as the chat's own "Xong" would mark it: /continue later
        # opens the step after it.
        story_index = draft.form.index(_story_field(draft.fields).key)
        reached = int(draft.submission.values.get("_reached", -1))
        if reached < story_index:
            await submission.store_value(
                session, services, draft.submission, "_reached", story_index
            )
        await events.record(
            session,
            at=services.now(),
            subject="submission",
            subject_id=draft.submission.id,
            action="web_done",
            actor_id=person.id,
            channel=CHANNEL,
            data={"words": draft.words},
        )
        if chat is None:
            return draft
        channel, chat_id, user_id = chat
        await conversations.lock_chat(session, channel, chat_id)
        conv, _ = await conversations.load_with_person(session, channel, chat_id, user_id)
        event = Event(
            channel=channel,
            chat_id=chat_id,
            user_id=user_id,
            kind="button",
            **services.chat_capabilities.get(channel, {}),  # type: ignore[arg-type]
        )
        ctx = Ctx(services, session, event, conv, person)
        menu_before = list(conv.data.get(web_people.MENU) or [])
        await router.act_outside(ctx, lambda ctx: _move_on(ctx, draft))
        if channel == web_people.CHANNEL:
            # Someone who writes on the web: their page shows the answers.
            await web_people.show(session, services, chat_id, ctx.response.replies, menu_before)
            return draft
        notifier = Notifier(session, services)
        for reply in ctx.response.replies:
            await notifier.to_chat(channel, chat_id, reply, submission_id=draft.submission.id)
    return draft


async def _move_on(ctx: Ctx, draft: Draft) -> None:
    """Say what the web saved, then go on from where the chat is on this draft."""
    conv, story = ctx.conv, _story_field(draft.fields)
    at_draft = conv.data.get("submission_id") == draft.submission.id
    at_story = (
        at_draft
        and conv.step == submission.FORM_STEP
        and draft.form.fields[int(conv.data.get("index", -1))].key == story.key
    )
    ctx.say("form.web_received", words=draft.words, limit=draft.limit, moving_on=at_draft)
    if at_story:
        # Exactly the chat's own "Xong phần bài viết" on the story step.
        ctx.event.button = "done"
        await submission.on_form(ctx)
    elif at_draft and conv.step in submission.DRAFT_STEPS:
        await submission.resume(ctx)


async def current_draft(session: AsyncSession, person: Person) -> Submission | None:
    """The draft the person is writing: the one a chat of theirs is on, else the draft they
    touched last (a Mini App opened from the bot's menu names no draft)."""
    for channel, chat_id, _user in await _chats(session, person):
        conv = await conversations.find(session, channel, chat_id)
        draft_id = conv.data.get("submission_id") if conv else None
        if conv is not None and draft_id and conv.step in submission.DRAFT_STEPS:
            draft = await repo.get(session, int(draft_id))
            if draft and draft.author_id == person.id and draft.status in repo.EDITABLE:
                return draft
    drafts = await repo.drafts_of(session, person.id)
    return drafts[0] if drafts else None


async def _chat_of(
    session: AsyncSession, person: Person, draft: Submission
) -> tuple[str, str, str] | None:
    """(channel, chat, user) of the chat working on this draft; else the chat the draft was
    started in, if the person still uses it."""
    found = await _chats(session, person)
    for chat in found:
        conv = await conversations.find(session, chat[0], chat[1])
        if conv is None:
            continue
        if conv.data.get("submission_id") == draft.id and conv.step in submission.DRAFT_STEPS:
            return chat
    for chat in found:
        if chat[:2] == (draft.channel, draft.chat_id):
            return chat
    return None


async def _chats(session: AsyncSession, person: Person) -> list[tuple[str, str, str]]:
    """(channel, chat, user) of every chat the person writes in, their web page included."""
    found = [
        (i.channel, str(i.chat_id), i.external_id)
        for i in await roles.identities(session, person.id)
    ]
    web_chat = await web_people.chat_of(session, person.id)
    if web_chat is not None:
        found.append((web_people.CHANNEL, web_chat, web_chat))
    return found


def _story_field(shown: list[FormField]) -> FormField:
    return next(f for f in shown if f.kind == FieldKind.LONG_TEXT)
