"""What the emulation chat's parts share: who may act in a block, the block menu, buttons,
the audit log, messages to a unit's or the block's heads, and stored files."""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from handlers import files, numbered
from handlers.context import Ctx
from handlers.emulation import scoring
from handlers.emulation.criteria import Criterion, Sheet
from handlers.ids import parse_id
from handlers.notify import Notifier
from handlers.text_rules import bare_words, fold
from handlers.types import Choice, IncomingFile, Reply
from storage import emulation as repo
from storage import events, roles
from storage.emulation_models import EmulationBlock, EmulationCard

STEP = "emu"


COMMAND = "thidua"


NOTE_MAX = 500


def clean_note(raw: str) -> str:
    """A criterion's note as it is kept, typed in chat or on the web page: composed (a phone
    may send decomposed accents), every run of spaces and line breaks one space. Its length in
    characters is what NOTE_MAX limits."""
    return " ".join(unicodedata.normalize("NFC", raw).split())


def note_fits(text: str) -> bool:
    """Whether a cleaned note may be kept: not empty, at most NOTE_MAX characters."""
    return 0 < len(text) <= NOTE_MAX


REASON_MIN = 5
# Evidence documents people send: office files, PDF, pictures saved as files.


# Evidence and report documents people send: office files, PDF, pictures saved as files.
DOC_EXTENSIONS = ("pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "jpg", "jpeg", "png")


def button(ctx: Ctx, name: str, payload: str, /, **values: Any) -> Choice:
    """A button whose label comes from templates/chat/emulation_buttons.j2."""
    return Choice(ctx.text(f"emulation_buttons.{name}", **values), payload)


# Where a number is the answer (a score), numbered options would take "1" for option 1; on
# channels without buttons these words, shown in the prompt, stand for the options instead.


TYPED_OPTIONS = {
    "de xuat": "accept",
    "giu": "keep",
    "xem phieu": "summary",
    "quay lai": "back",
}


def typed_option(ctx: Ctx, pressed: str) -> str:
    """The option a typed word stands for at a score prompt (or the press itself)."""
    if pressed or ctx.event.kind != "text":
        return pressed
    if typed_pause(ctx.event.text):
        return "pause"
    return TYPED_OPTIONS.get(fold(ctx.event.text), "")


# What someone types to stop self-scoring and come back later, with its accents. Typed without
# accents (or with some) it still counts, but a word accented otherwise does not: "đúng" typed
# as a note is not "dừng".
PAUSE_WORDS = ("tạm dừng", "dừng", "tạm dừng lại", "dừng lại", "tạm ngừng", "ngừng")


def typed_pause(text: str) -> bool:
    """Whether typed text asks to pause («tạm dừng», «tam dung», «Dừng», «dừng!»…)."""
    words = bare_words(text).split()
    if not words:
        return False
    # The same words with their accents kept (lower case, composed), punctuation dropped.
    accented = "".join(
        ch if ch.isalnum() else " " for ch in unicodedata.normalize("NFC", text).lower()
    ).split()
    if len(accented) != len(words):
        return False
    for wanted in PAUSE_WORDS:
        spelled = wanted.split()
        if [bare_words(w) for w in spelled] != words:
            continue
        if all(a == w or a.isascii() for a, w in zip(accented, spelled, strict=True)):
            return True
    return False


def wants_pause(ctx: Ctx, pressed: str) -> bool:
    """A press of «Tạm dừng» (a button, or its number on Zalo and the console) or the words
    typed at any self-scoring prompt, whatever the channel."""
    if pressed == "pause":
        return True
    return ctx.event.kind == "text" and typed_pause(ctx.event.text)


def number_prompt(ctx: Ctx, choices: list[Choice]) -> list[Choice]:
    """Buttons at a prompt that takes a number: none where they would be numbered, and the
    list shown before forgotten, so "2" is two points, not its second option."""
    if ctx.event.has_buttons:
        return choices
    numbered.forget(ctx.conv)
    return []


def picked(pressed: str, prefix: str, size: int | None = None) -> int | None:
    """The number in a press like "o:12" (an id) or "c:3" (a position below `size`); None for
    any other press, forged ones included."""
    if not pressed.startswith(prefix):
        return None
    number = parse_id(pressed[len(prefix) :])
    if number is None or (size is not None and number >= size):
        return None
    return number


@dataclass
class Access:
    """What the person may do in one block, from the units they head."""

    block: EmulationBlock
    leads: bool
    member: int | None


async def access_of(ctx: Ctx, block_id: int) -> Access | None:
    if ctx.person is None:
        return None
    block = await repo.block(ctx.session, block_id)
    if block is None:
        return None
    units = await repo.headed_units(ctx.session, ctx.person.id)
    access = Access(block, repo.leads(block, units), repo.member_unit(block, units))
    return access if access.leads or access.member else None


async def menu(ctx: Ctx, block_id: int) -> None:
    access = await access_of(ctx, block_id)
    if access is None:
        ctx.goto("idle")
        ctx.say("emulation.no_block")
        return
    block = access.block
    ctx.goto(STEP, at="menu", block=block.id)
    published = await repo.published_sheet(ctx.session, block.id)
    latest = await repo.latest_sheet(ctx.session, block.id)
    card = total = None
    if access.member:
        card = await repo.card(ctx.session, block.id, access.member)
        if published is not None:
            total = scoring.self_total(Sheet.from_data(published.data), card.scores)
    choices: list[Choice] = []
    if access.member:
        choices.append(button(ctx, "register", "reg"))
        if published is not None and card is not None and card.status in repo.EDITABLE:
            choices.append(button(ctx, "score", "score"))
        if published is not None:
            choices.append(button(ctx, "view", "view"))
        if block.settings.get("reports"):
            choices.append(button(ctx, "reports", "rep"))
    if access.leads:
        if latest is not None and latest.published_at is None:
            choices.append(button(ctx, "publish", "pub", version=latest.version))
        choices.append(button(ctx, "cards", "cards"))
        choices.append(button(ctx, "rank", "rank"))
    choices.append(button(ctx, "close", "close"))
    ctx.say(
        "emulation.menu",
        block=block,
        access=access,
        published=published,
        latest=latest,
        card=card,
        total=total,
        deadline=deadline(block),
        choices=choices,
    )


async def card_sheet(ctx: Ctx, card: EmulationCard) -> Sheet:
    """The criteria sheet a card is scored against; the caller has checked it has one."""
    assert card.sheet_id is not None
    sheet_row = await repo.sheet(ctx.session, card.sheet_id)
    assert sheet_row is not None
    return Sheet.from_data(sheet_row.data)


async def refuse(ctx: Ctx) -> None:
    """A press or answer that is not one of the current options: nothing changes."""
    if ctx.event.kind == "button":
        ctx.notice("emulation.not_allowed")
        ctx.response.press_accepted = False
    else:
        ctx.say("emulation.use_buttons")


def deadline(block: EmulationBlock) -> date | None:
    raw = block.settings.get("score_deadline")
    return date.fromisoformat(raw) if raw else None


async def log(
    ctx: Ctx,
    subject: str,
    subject_id: int,
    action: str,
    *,
    role: str,
    reason: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    **data: Any,
) -> None:
    await events.record(
        ctx.session,
        subject=subject,
        subject_id=subject_id,
        action=action,
        actor_id=ctx.person.id if ctx.person else None,
        channel=ctx.event.channel,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        data={"role": role, **data},
        at=ctx.services.now(),
    )


async def tell_unit(ctx: Ctx, unit_id: int, reply: Reply) -> None:
    notifier = Notifier(ctx.session, ctx.services)
    for head in await roles.unit_heads(ctx.session, unit_id):
        if ctx.person is None or head.id != ctx.person.id:
            await notifier.to_person(head, reply)


async def tell_leaders(ctx: Ctx, block: EmulationBlock, reply: Reply) -> None:
    notifier = Notifier(ctx.session, ctx.services)
    told: set[int] = set()
    for unit_id in (block.head_unit_id, block.deputy_unit_id):
        if unit_id is None:
            continue
        for head in await roles.unit_heads(ctx.session, unit_id):
            if head.id not in told and (ctx.person is None or head.id != ctx.person.id):
                told.add(head.id)
                await notifier.to_person(head, reply)


async def store_file(
    ctx: Ctx, incoming: IncomingFile, kept: list[dict[str, Any]]
) -> tuple[str, dict[str, Any] | None]:
    """Download and keep a photo or an office document; returns what to say about it and the
    new entry (None when refused or already among `kept`)."""
    try:
        data = await files.download(incoming, ctx.services.max_upload_bytes)
    except files.FileTooLarge as exc:
        limit = ctx.services.max_upload_bytes
        return ctx.text("common.file_too_large", size=exc.size, limit=limit), None
    except files.FileUnavailable:
        return ctx.text("emulation.file_unavailable"), None
    # Checked in a worker thread (headers only, with a pixel cap), as the story form does.
    check = incoming.image_check or await asyncio.to_thread(files.check_image, data)
    extension = None if check.problem else check.extension
    if extension:
        stored = files.store(ctx.services.media_dir, data, extension, f"image/{extension}")
        kind = "photo"
    else:
        name = (incoming.file_name or "").lower()
        extension = name.rsplit(".", 1)[-1] if "." in name else ""
        if incoming.kind == "photo" or extension not in DOC_EXTENSIONS:
            return ctx.text("emulation.file_refused", name=incoming.file_name or ""), None
        mime = incoming.mime_type or "application/octet-stream"
        stored = files.store(ctx.services.media_dir, data, extension, mime)
        kind = "document"
    if any(e.get("sha256") == stored.sha256 for e in kept):
        return ctx.text("emulation.file_duplicate"), None
    entry = {
        "kind": kind,
        "path": str(stored.path.relative_to(ctx.services.media_dir)),
        "sha256": stored.sha256,
        "name": incoming.file_name or "",
    }
    return ctx.text("emulation.file_taken", kind=kind), entry


def set_entry(card: EmulationCard, criterion: Criterion, **values: Any) -> None:
    """Change some of a criterion's entry on a card."""
    scores = dict(card.scores)
    scores[criterion.id] = {**(scores.get(criterion.id) or {}), **values}
    # Reassigned so the JSON column is written.
    card.scores = scores
