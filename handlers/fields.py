"""How each kind of form field asks for its answer and takes it, whatever the form."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from handlers import files, numbered
from handlers.context import Ctx
from handlers.forms import FieldKind, FormField
from handlers.ids import parse_id
from handlers.text_rules import (
    MAX_LINK,
    MAX_RUN,
    clean_line,
    collapse_blank_lines,
    continues_sentence,
    count_words,
    fold,
    has_letter,
    normalise,
    normalise_phone,
    overlong_run,
    same_text_key,
    without_title_line,
)
from handlers.types import Choice, WebLink
from storage import drafts
from storage import units as units_repo
from storage.drafts import DraftRecord
from storage.models import Attachment, Submission

UNIT_MATCHES = 8
# Control characters that separate (Word's line break pasted as \x0b, page breaks, the
# separators, NEL) become line breaks; the rest carry nothing and go.
_STORY_BREAKS = re.compile(r"[\x0b\x0c\x1c-\x1f\x85]")
_STORY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


@dataclass
class FieldCtx:
    """A field being filled: its current value and its own working state (persisted by caller)."""

    ctx: Ctx
    field: FormField
    value: Any
    state: dict[str, Any] = field(default_factory=dict)
    editing: bool = False
    submission: DraftRecord | Submission | None = None
    # A unit taken as the only match can be changed at once: the caller handles the
    # "unit_again" button that comes with it (registration does; an invite is made at once).
    unit_again: bool = False


@dataclass
class Outcome:
    """What an input did: `done` moves on, `changed` stores `value`, `reprompt` asks again."""

    done: bool = False
    changed: bool = False
    value: Any = None
    reprompt: bool = False


def ask(fc: FieldCtx) -> None:
    """Queue the question for this field, with its buttons."""
    ctx, f = fc.ctx, fc.field
    common = {"field": f, "value": fc.value, "editing": fc.editing}
    match f.kind:
        case FieldKind.SHORT_TEXT:
            choices = [ctx.button("keep", "keep")] if fc.editing and fc.value else []
            if not f.required:
                choices.append(ctx.button("skip", "skip"))
            ctx.say(f"fields.ask_{f.key}", choices=choices, **common)
        case FieldKind.CHOICE:
            if fc.state.get("other"):
                ctx.say("fields.ask_other", **common)
                return
            options = [Choice(option, f"opt:{i}") for i, option in enumerate(f.options)]
            if f.allow_other:
                options.append(ctx.button("other", "other"))
            ctx.say(f"fields.ask_{f.key}", choices=options, **common)
        case FieldKind.UNIT:
            ctx.say("fields.ask_unit", **common)
        case FieldKind.PHONE:
            ctx.say("fields.ask_phone", ask_contact=ctx.text("buttons.share_phone"), **common)
        case FieldKind.LONG_TEXT:
            words = count_words(fc.value or "")
            asked = ctx.say(
                f"fields.ask_{f.key}",
                choices=_story_buttons(fc) if fc.value else _keep_button(fc),
                words=words,
                **common,
            )
            asked.link = _web_link(fc)
        case FieldKind.PHOTOS:
            count = _photo_count(fc)
            ctx.say(
                "fields.ask_photos",
                choices=_photo_buttons(fc, count),
                count=count,
                **common,
            )


async def take(fc: FieldCtx) -> Outcome:
    """Take the event as the answer to this field, telling the person what happened."""
    event = fc.ctx.event
    if event.kind == "button" and event.button == "keep" and fc.editing:
        if "previous" in fc.state:
            return Outcome(done=True, changed=True, value=fc.state["previous"])
        return Outcome(done=True)
    if event.kind == "button" and event.button == "skip" and not fc.field.required:
        return Outcome(done=True, changed=True, value="")
    match fc.field.kind:
        case FieldKind.SHORT_TEXT:
            return _take_short_text(fc)
        case FieldKind.CHOICE:
            return _take_choice(fc)
        case FieldKind.UNIT:
            return await _take_unit(fc)
        case FieldKind.PHONE:
            return _take_phone(fc)
        case FieldKind.LONG_TEXT:
            return await _take_long_text(fc)
        case FieldKind.PHOTOS:
            return await _take_photos(fc)
    raise AssertionError(fc.field.kind)


def wrong_kind(fc: FieldCtx) -> Outcome:
    """Explain that this step wants something else; the draft is untouched."""
    event = fc.ctx.event
    fc.ctx.say(
        "common.wrong_kind",
        got=event.unsupported or event.kind,
        expected=fc.field.kind.value,
        file_kind=event.files[0].kind if event.files else "",
        draft=fc.submission is not None,
    )
    return Outcome(reprompt=True)


def check_short_text(fc: FieldCtx, raw: str) -> str | None:
    """The cleaned text if it fits the field, else None after saying what is wrong."""
    f, text = fc.field, clean_line(raw)
    if not text:
        fc.ctx.say("common.empty_text")
        return None
    if len(text) > f.max_length:
        fc.ctx.say("common.too_long", length=len(text), limit=f.max_length)
        return None
    if len(text) < f.min_length or not has_letter(text):
        fc.ctx.say("common.too_short", limit=f.min_length)
        return None
    if f.is_name and text == text.lower():
        return text.title()  # "nguyễn thị lan" → "Nguyễn Thị Lan"; mixed case is left as typed
    return text


def _take_short_text(fc: FieldCtx) -> Outcome:
    if fc.ctx.event.kind != "text":
        return wrong_kind(fc)
    text = check_short_text(fc, fc.ctx.event.text)
    if text is None:
        return Outcome(reprompt=True)
    return Outcome(done=True, changed=True, value=text)


def _take_choice(fc: FieldCtx) -> Outcome:
    event, f = fc.ctx.event, fc.field
    if event.kind == "button":
        if event.button == "other" and f.allow_other:
            fc.state["other"] = True
            return Outcome(reprompt=True)
        if event.button.startswith("opt:"):
            index = parse_id(event.button[4:])
            index = -1 if index is None else index
            if 0 <= index < len(f.options):
                return Outcome(done=True, changed=True, value=f.options[index])
        return _unknown_button(fc)
    if event.kind != "text":
        return wrong_kind(fc)
    if fc.state.get("other"):
        text = check_short_text(fc, event.text)
        if text is None:
            return Outcome(reprompt=True)
        return Outcome(done=True, changed=True, value=text)
    typed = fold(event.text)
    for option in f.options:
        if fold(option) == typed:
            return Outcome(done=True, changed=True, value=option)
    fc.ctx.say("common.pick_from_list")
    return Outcome(reprompt=True)


async def _take_unit(fc: FieldCtx) -> Outcome:
    ctx, event = fc.ctx, fc.ctx.event
    if event.kind == "button":
        unit_id = parse_id(event.button[5:]) if event.button.startswith("unit:") else None
        if unit_id is None or not await units_repo.exists(ctx.session, unit_id):
            return _unknown_button(fc)
        return Outcome(done=True, changed=True, value=unit_id)
    if event.kind != "text":
        return wrong_kind(fc)
    query = clean_line(event.text)
    if query.isdigit() and len(query) <= 2:
        # A pick from the list shown, not a name or a unit's code (those are longer). On a
        # chat without buttons a valid one was taken before this step saw it, so it is out
        # of range; with buttons, the list is picked by pressing.
        ctx.say(
            "fields.unit_pick_out_of_range",
            number=query,
            count=len(ctx.conv.data.get(numbered.KEY) or []),
            has_buttons=ctx.event.has_buttons,
        )
        return Outcome()
    if len(fold(query)) < 2:
        ctx.say("fields.unit_query_short")
        return Outcome()
    found = await units_repo.search_briefs(ctx.session, query, UNIT_MATCHES + 1)
    if not found:
        ctx.say("fields.unit_none", query=query, total=await units_repo.count(ctx.session))
        return Outcome()
    if len(found) == 1:
        # One match: asking to pick it would be a step for nothing.
        unit = found[0]
        again = [ctx.button("unit_again", "unit_again")] if fc.unit_again else []
        ctx.say("fields.unit_taken", unit=unit, query=query, again=bool(again), choices=again)
        return Outcome(done=True, changed=True, value=unit.id)
    shown = found[:UNIT_MATCHES]
    ctx.say(
        "fields.unit_matches",
        choices=[Choice(u.name, f"unit:{u.id}") for u in shown],
        query=query,
        more=len(found) > UNIT_MATCHES,
    )
    return Outcome()


def _take_phone(fc: FieldCtx) -> Outcome:
    event = fc.ctx.event
    if event.kind == "contact":
        if not event.contact_is_own:
            fc.ctx.say("fields.phone_not_own")
            return Outcome(reprompt=True)
        raw = event.contact_phone
    elif event.kind == "text":
        raw = event.text
    else:
        return wrong_kind(fc)
    phone = normalise_phone(raw)
    if phone is None:
        fc.ctx.say("fields.phone_invalid", raw=clean_line(raw)[:40])
        return Outcome(reprompt=True)
    return Outcome(done=True, changed=True, value=phone)


def clean_story(text: str) -> str:
    """NFC, line ends unified (separating control characters made line breaks), other
    control characters dropped, runs of empty lines made one, outer blank space trimmed."""
    text = normalise(text).replace("\r\n", "\n").replace("\r", "\n")
    return collapse_blank_lines(_STORY_CONTROL.sub("", _STORY_BREAKS.sub("\n", text))).strip()


# After a part of the story is refused (over the limit), parts arriving within this many
# seconds of it are held back too: the parts of one long paste, which the platform splits,
# come within a second or two; a person reading the refusal and sending again takes longer.
HOLD_SECONDS = 5.0
# What the story step remembers between messages (in the conversation's field state).
_HELD, _LAST_PART, _PENDING_FILE, _PREVIOUS = "held_until", "last_part", "pending_file", "previous"


async def _take_long_text(fc: FieldCtx) -> Outcome:
    event = fc.ctx.event
    if event.kind == "button":
        return _story_button(fc)
    if event.kind == "text":
        return _take_part(fc, clean_story(event.text))
    if event.kind == "document":
        read = await _read_story_document(fc)
        return Outcome() if read is None else _take_file(fc, *read)
    return wrong_kind(fc)


def _story_button(fc: FieldCtx) -> Outcome:
    ctx, button = fc.ctx, fc.ctx.event.button
    current: str = fc.value or ""
    if button == "done":
        if not current.strip():
            ctx.say("fields.story_empty")
            return Outcome(reprompt=True)
        return Outcome(done=True)
    if button == "restart" and current.strip():
        # One press next to "done" would wipe up to 2,000 words: ask first.
        return _ask_first(fc, "story_restart", "restart", words=count_words(current))
    if button in ("restart", "restart!"):
        if fc.editing and _PREVIOUS not in fc.state:
            fc.state[_PREVIOUS] = current
        # A fresh start: a part refused before the wipe leaves no gap in the new text, and
        # the same text may come again.
        for key in (_HELD, _LAST_PART, _PENDING_FILE):
            fc.state.pop(key, None)
        ctx.say("fields.story_cleared", choices=_keep_button(fc))
        return Outcome(changed=True, value="")
    if button == "restart_no":
        ctx.say("fields.story_kept", words=count_words(current))
        return Outcome(reprompt=True)
    if button == "file!" and _PENDING_FILE in fc.state:
        pending = fc.state.pop(_PENDING_FILE)
        return _replace_with_file(fc, pending["text"], bool(pending.get("title_dropped")))
    if button == "file_no" and _PENDING_FILE in fc.state:
        fc.state.pop(_PENDING_FILE)
        ctx.say("fields.story_kept", words=count_words(current))
        return Outcome(reprompt=True)
    return _unknown_button(fc)


def _take_part(fc: FieldCtx, part: str) -> Outcome:
    """A typed or pasted part: appended to the story, unless it would break a rule."""
    ctx, f = fc.ctx, fc.field
    current: str = fc.value or ""
    if not part:
        ctx.say("common.empty_text")
        return Outcome()
    key = same_text_key(part)
    if key == fc.state.get(_LAST_PART):
        # The part just taken, sent again: its answer was lost (a crash between the commit
        # and the reply) or the send button was pressed twice. A story never repeats a
        # paragraph back to back on purpose.
        ctx.say(
            "fields.story_part_again",
            choices=_story_buttons(fc),
            words=count_words(current),
            limit=f.max_words,
        )
        return Outcome()
    now = ctx.services.now().timestamp()
    if now < float(fc.state.get(_HELD) or 0):
        # The part before this one was refused: appending this one would leave a gap in the
        # middle of the story. A long paste arrives as parts seconds apart; the hold lasts
        # that long, so the shortened part sent again later is taken.
        fc.state[_HELD] = now + HOLD_SECONDS
        ctx.say(
            "fields.story_part_held", part_words=count_words(part), current=count_words(current)
        )
        return Outcome()
    # When editing, the first part replaces the old story, which is kept until "done" or "keep".
    replace = False
    if fc.editing and _PREVIOUS not in fc.state:
        fc.state[_PREVIOUS] = current
        replace = True
    joined = not replace and continues_sentence(current, part)
    if replace or not current:
        combined = part
    elif joined:
        # A message cut mid-sentence (Zalo takes 2,000 characters a message): one sentence.
        combined = f"{current.rstrip()} {part}"
    else:
        combined = f"{current}\n\n{part}"
    if not _fits(fc, part, combined, current, replace):
        fc.state[_HELD] = now + HOLD_SECONDS
        return Outcome()
    fc.state[_LAST_PART] = key
    ctx.say(
        "fields.story_progress",
        choices=_story_buttons(fc),
        words=count_words(combined),
        limit=f.max_words,
        from_document=False,
        replaced=replace and bool(current),
        joined=joined,
    )
    return Outcome(changed=True, value=combined)


def _take_file(fc: FieldCtx, text: str, title_dropped: bool) -> Outcome:
    """A story file: it replaces the whole story, after asking when words were typed."""
    ctx = fc.ctx
    current: str = fc.value or ""
    if same_text_key(text) == same_text_key(current):
        ctx.say(
            "fields.story_part_again",
            choices=_story_buttons(fc),
            words=count_words(current),
            limit=fc.field.max_words,
        )
        return Outcome()
    if not _fits(fc, text, text, current, replace=True):
        return Outcome()
    # When editing, the first thing sent replaces the old story by design ("keep" brings it
    # back); anything else typed would be lost without a word, so it is asked about first.
    first_edit = fc.editing and _PREVIOUS not in fc.state
    if current.strip() and not first_edit:
        fc.state[_PENDING_FILE] = {"text": text, "title_dropped": title_dropped}
        return _ask_first(
            fc,
            "file_replace",
            "file",
            file_name=ctx.event.files[0].file_name or "",
            file_words=count_words(text),
            words=count_words(current),
        )
    return _replace_with_file(fc, text, title_dropped)


def _replace_with_file(fc: FieldCtx, text: str, title_dropped: bool) -> Outcome:
    current: str = fc.value or ""
    if fc.editing and _PREVIOUS not in fc.state:
        fc.state[_PREVIOUS] = current
    fc.state[_LAST_PART] = same_text_key(text)
    fc.ctx.say(
        "fields.story_progress",
        choices=_story_buttons(fc),
        words=count_words(text),
        limit=fc.field.max_words,
        from_document=True,
        replaced=bool(current.strip()),
        title_dropped=title_dropped,
    )
    return Outcome(changed=True, value=text)


def _fits(fc: FieldCtx, part: str, combined: str, current: str, replace: bool) -> bool:
    """Whether the story would stay within its limits with `part`; if not, say which and how
    far over, the saved text unchanged."""
    ctx, f = fc.ctx, fc.field
    words, chars = count_words(combined), len(combined)
    common = {
        "choices": _story_buttons(fc) if current else [],
        "current": count_words(current),
        "part_words": count_words(part),
        "replace": replace,
    }
    if words > f.max_words:
        ctx.say(
            "fields.story_over_limit",
            words=words,
            limit=f.max_words,
            over=words - f.max_words,
            **common,
        )
        return False
    if f.max_chars and chars > f.max_chars:
        ctx.say(
            "fields.story_over_chars",
            chars=chars,
            limit=f.max_chars,
            over=chars - f.max_chars,
            max_words=f.max_words,
            **common,
        )
        return False
    run = overlong_run(part)
    if run is not None:
        ctx.say(
            "fields.story_long_run",
            length=len(run),
            start=run[:40],
            max_run=MAX_RUN,
            max_link=MAX_LINK,
            **common,
        )
        return False
    return True


async def _read_story_document(fc: FieldCtx) -> tuple[str, bool] | None:
    """The story in the file sent, and whether its first line (the title) was left out; None
    after saying why the file cannot be taken."""
    ctx, incoming = fc.ctx, fc.ctx.event.files[0]
    kind = files.document_type(incoming)
    name = incoming.file_name or ""
    if kind == "image":
        ctx.say("fields.story_wants_text")
        return None
    if kind is None:
        ctx.say("fields.story_bad_document", name=name)
        return None
    try:
        data = await files.download(incoming, ctx.services.max_upload_bytes)
    except files.FileTooLarge as exc:
        ctx.say("common.file_too_large", size=exc.size, limit=ctx.services.max_upload_bytes)
        return None
    except files.FileUnavailable:
        ctx.say("fields.file_unavailable", name=name)
        return None
    # Read before the transaction when the router fetched it (always, for chat updates).
    read = incoming.document_text or await files.read_story_aside(data, kind)
    if read.problem == "too_big":
        ctx.say("fields.story_file_too_big", name=name, limit=fc.field.max_words)
        return None
    text = clean_story(read.text)
    title = fc.submission.values.get("title") if fc.submission is not None else None
    text, title_dropped = without_title_line(text, str(title or ""))
    if read.problem or not text:
        ctx.say("fields.story_unreadable", name=name)
        return None
    return text, title_dropped


async def _take_photos(fc: FieldCtx) -> Outcome:
    ctx, event, f = fc.ctx, fc.ctx.event, fc.field
    count = _photo_count(fc)
    if event.kind == "button":
        if event.button == "done":
            if count < f.min_count:
                ctx.say("fields.photos_too_few", count=count, minimum=f.min_count)
                return Outcome(reprompt=True)
            return Outcome(done=True)
        if event.button == "clear" and count:
            return _ask_first(fc, "photos_clear", "clear", count=count)
        if event.button in ("clear", "clear!") and fc.submission is not None:
            removed = await drafts.remove_attachments(ctx.session, fc.submission, "photo")
            ctx.say("fields.photos_cleared", removed=removed)
            return Outcome(reprompt=True)
        if event.button == "clear_no":
            return Outcome(reprompt=True)
        return _unknown_button(fc)
    if event.kind not in ("photo", "document") or not event.files:
        return wrong_kind(fc)
    notes: list[str] = []
    for incoming in event.files:
        count = _photo_count(fc)
        if count >= f.max_count:
            notes.append(ctx.text("fields.photo_over_max", maximum=f.max_count))
            break
        notes.append(await _store_photo(fc, incoming))
    count = _photo_count(fc)
    full = count >= f.max_count
    ctx.say(
        "fields.photos_progress",
        choices=[] if full else _photo_buttons(fc, count),
        notes=notes,
        count=count,
        field=f,
        full=full,
    )
    return Outcome(done=full)


async def _store_photo(fc: FieldCtx, incoming: Any) -> str:
    """Download, check and attach one photo; returns a line saying what became of it."""
    ctx, submission = fc.ctx, fc.submission
    assert submission is not None
    if incoming.kind == "document" and files.document_type(incoming) != "image":
        return ctx.text("fields.photo_not_image", name=incoming.file_name or "")
    try:
        data = await files.download(incoming, ctx.services.max_upload_bytes)
    except files.FileTooLarge as exc:
        return ctx.text("common.file_too_large", size=exc.size, limit=ctx.services.max_upload_bytes)
    except files.FileUnavailable:
        return ctx.text("fields.photo_unavailable")
    # Checked before the transaction when the router fetched it (always, for chat updates).
    check = incoming.image_check or await asyncio.to_thread(files.check_image, data)
    if check.problem == "too_big":
        return ctx.text(
            "fields.photo_too_many_pixels",
            name=incoming.file_name or "",
            megapixels=check.pixels / 1_000_000,
            limit=files.MAX_PHOTO_PIXELS / 1_000_000,
        )
    if check.problem:
        return ctx.text("fields.photo_not_image", name=incoming.file_name or "")
    extension = check.extension
    # Written off the event loop; only a photo the form takes is written at all.
    stored = await asyncio.to_thread(
        files.store, ctx.services.media_dir, data, extension, f"image/{extension}"
    )
    if any(a.kind == "photo" and a.sha256 == stored.sha256 for a in submission.attachments):
        return ctx.text("fields.photo_duplicate")
    attachment = Attachment(
        kind="photo",
        channel=ctx.event.channel,
        platform_file_id=incoming.file_id,
        stored_path=str(stored.path.relative_to(ctx.services.media_dir)),
        sha256=stored.sha256,
        size=stored.size,
        mime_type=stored.mime_type,
        file_name=incoming.file_name,
    )
    await drafts.add_attachment(ctx.session, submission, attachment)
    incoming.stored = stored
    return ctx.text("fields.photo_received")


def _web_link(fc: FieldCtx) -> WebLink | None:
    """The web editor for this draft, where the app serves one (long text on a phone)."""
    link, person = fc.ctx.services.editor_link, fc.ctx.person
    if link is None or person is None or fc.submission is None:
        return None
    return WebLink(fc.ctx.text("buttons.write_on_web"), link(person.id, fc.submission.id))


def _photo_count(fc: FieldCtx) -> int:
    if fc.submission is None:
        return 0
    return sum(1 for a in fc.submission.attachments if a.kind == "photo")


def _photo_buttons(fc: FieldCtx, count: int) -> list[Choice]:
    # "Done" only once it can be: offered before the first photo it would only refuse.
    buttons = []
    if count >= fc.field.min_count:
        buttons.append(fc.ctx.button("photos_done", "done", count=count))
    if count:
        buttons.append(fc.ctx.button("photos_clear", "clear"))
    return buttons


def _story_buttons(fc: FieldCtx) -> list[Choice]:
    return [
        fc.ctx.button("story_done", "done"),
        fc.ctx.button("story_restart", "restart"),
        *_keep_button(fc),
    ]


def _ask_first(fc: FieldCtx, name: str, button: str, **values: Any) -> Outcome:
    """Ask before `button` wipes what was sent: text "fields.<name>_confirm", buttons
    "<name>_yes" (payload "<button>!") and "<name>_no" ("<button>_no")."""
    fc.ctx.say(
        f"fields.{name}_confirm",
        choices=[
            fc.ctx.button(f"{name}_yes", f"{button}!"),
            fc.ctx.button(f"{name}_no", f"{button}_no"),
        ],
        **values,
    )
    return Outcome()


def _keep_button(fc: FieldCtx) -> list[Choice]:
    return [fc.ctx.button("keep", "keep")] if fc.editing else []


def _unknown_button(fc: FieldCtx) -> Outcome:
    fc.ctx.notice("common.button_not_here")
    fc.ctx.response.press_accepted = False
    return Outcome(reprompt=True)
