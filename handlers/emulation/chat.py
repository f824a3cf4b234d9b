"""Letter 004 in chat: /thidua opens the block menu for member units and the block's leaders.

One step ("emu") whose working data says where the person is ("at"). Every press and every
answer re-reads the block and the card and checks, from the database, that the person still
heads the unit the action is for and that the card is in a state the action allows: a forged
or stale press, or a member editing a sheet already sent, changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import files, numbered
from handlers.context import Ctx
from handlers.emulation import contest, scoring
from handlers.emulation.criteria import Criterion, Sheet, parse_points
from handlers.notify import Notifier
from handlers.text_rules import fold
from handlers.types import Choice, Reply
from storage import emulation as repo
from storage import events, roles
from storage.emulation_models import EmulationBlock, EmulationCard

STEP = "emu"
COMMAND = "thidua"
NOTE_MAX = 500
REASON_MIN = 5
# Evidence documents people send: office files, PDF, pictures saved as files.
DOC_EXTENSIONS = ("pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "jpg", "jpeg", "png")


def _b(ctx: Ctx, name: str, payload: str, /, **values: Any) -> Choice:
    """A button whose label comes from templates/chat/emulation_buttons.j2."""
    return Choice(ctx.text(f"emulation_buttons.{name}", **values), payload)


# Where a number is the answer (a score), numbered options would take "1" for option 1; on
# channels without buttons these words, shown in the prompt, stand for the options instead.
TYPED_OPTIONS = {
    "de xuat": "accept", "giu": "keep", "xem phieu": "summary", "tam dung": "pause",
    "quay lai": "back",
}  # fmt: skip


def _typed_option(ctx: Ctx, pressed: str) -> str:
    """The option a typed word stands for at a score prompt (or the press itself)."""
    if pressed or ctx.event.kind != "text":
        return pressed
    return TYPED_OPTIONS.get(fold(ctx.event.text), "")


def _number_prompt(ctx: Ctx, choices: list[Choice]) -> list[Choice]:
    """Buttons at a prompt that takes a number: none where they would be numbered, and the
    list shown before forgotten, so "2" is two points, not its second option."""
    if ctx.event.has_buttons:
        return choices
    numbered.forget(ctx.conv)
    return []


@dataclass
class Access:
    """What the person may do in one block, from the units they head."""

    block: EmulationBlock
    leads: bool
    member: int | None


async def start(ctx: Ctx, args: str = "") -> None:
    """/thidua: the person's block, or a choice when they are in several."""
    found = await repo.blocks_of(ctx.session, ctx.person.id) if ctx.person else []
    if not found:
        ctx.say("emulation.no_block")
        return
    if len(found) == 1:
        await _menu(ctx, found[0].id)
        return
    ctx.goto(STEP, at="pick")
    ctx.say(
        "emulation.pick_block",
        blocks=found,
        choices=[Choice(f"{b.name} ({b.year})", f"b:{b.id}") for b in found],
    )


async def resume(ctx: Ctx) -> None:
    """Ask again for what the current place in the flow waits for."""
    at = ctx.data.get("at")
    if at == "pick":
        await start(ctx)
    elif at in ("score", "extra", "summary", "fix"):
        await _ask_scoring(ctx)
    elif at in ("card", "adj", "adj_points", "adj_reason", "ret_reason", "award"):
        await _show_card(ctx)
    elif ctx.data.get("block"):
        await _menu(ctx, int(ctx.data["block"]))
    else:
        await start(ctx)


async def on_step(ctx: Ctx) -> None:
    """Take a press or an answer at the current place."""
    at = ctx.data.get("at")
    pressed = ctx.event.button if ctx.event.kind == "button" else ""
    if pressed == "close":
        ctx.goto("idle")
        ctx.say("emulation.closed")
        return
    if at == "pick":
        if pressed.startswith("b:") and pressed[2:].isdigit():
            await _menu(ctx, int(pressed[2:]))
        else:
            await start(ctx)
        return
    access = await _access(ctx, int(ctx.data.get("block") or 0))
    if access is None:
        ctx.goto("idle")
        ctx.say("emulation.no_block")
        return
    handler = {
        "menu": _on_menu,
        "titles": _on_titles,
        "covenant": _on_covenant,
        "score": _on_score,
        "extra": _on_extra,
        "summary": _on_summary,
        "fix": _on_fix,
        "cards": _on_cards,
        "card": _on_card,
        "adj": _on_adjust_pick,
        "adj_points": _on_adjust_points,
        "adj_reason": _on_adjust_reason,
        "ret_reason": _on_return_reason,
        "award": _on_award,
        "rank": _on_rank,
    }.get(str(at))
    if handler is None:
        await _menu(ctx, access.block.id)
        return
    await handler(ctx, access, pressed)


# ---- the block menu -------------------------------------------------------------------------


async def _access(ctx: Ctx, block_id: int) -> Access | None:
    if ctx.person is None:
        return None
    block = await repo.block(ctx.session, block_id)
    if block is None:
        return None
    units = await repo.headed_units(ctx.session, ctx.person.id)
    access = Access(block, repo.leads(block, units), repo.member_unit(block, units))
    return access if access.leads or access.member else None


async def _menu(ctx: Ctx, block_id: int) -> None:
    access = await _access(ctx, block_id)
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
        choices.append(_b(ctx, "register", "reg"))
        if published is not None and card is not None and card.status in repo.EDITABLE:
            choices.append(_b(ctx, "score", "score"))
        if published is not None:
            choices.append(_b(ctx, "view", "view"))
    if access.leads:
        if latest is not None and latest.published_at is None:
            choices.append(_b(ctx, "publish", "pub", version=latest.version))
        choices.append(_b(ctx, "cards", "cards"))
        choices.append(_b(ctx, "rank", "rank"))
    choices.append(_b(ctx, "close", "close"))
    ctx.say(
        "emulation.menu",
        block=block,
        access=access,
        published=published,
        latest=latest,
        card=card,
        total=total,
        deadline=_deadline(block),
        choices=choices,
    )


async def _on_menu(ctx: Ctx, access: Access, pressed: str) -> None:
    block = access.block
    if pressed == "reg" and access.member:
        card = await repo.card(ctx.session, block.id, access.member)
        ctx.update(at="titles", titles=list(card.registration.get("titles", [])))
        _ask_titles(ctx, block)
    elif pressed == "score" and access.member:
        card = await repo.card(ctx.session, block.id, access.member)
        if card.status not in repo.EDITABLE:
            ctx.say("emulation.already_submitted")
            await _menu(ctx, block.id)
            return
        sheet_row = await repo.published_sheet(ctx.session, block.id)
        if sheet_row is None:
            await _menu(ctx, block.id)
            return
        sheet = Sheet.from_data(sheet_row.data)
        if card.sheet_id != sheet_row.id:
            card.sheet_id = sheet_row.id
        left = scoring.unscored(sheet, card.scores)
        index = sheet.criteria.index(left[0]) if left else None
        ctx.update(at="score" if index is not None else "summary", card=card.id, i=index or 0)
        await _ask_scoring(ctx)
    elif pressed == "view" and access.member:
        card = await repo.card(ctx.session, block.id, access.member)
        await _show_card(ctx, card_id=card.id, back="menu")
    elif pressed == "pub" and access.leads:
        await _publish(ctx, block)
    elif pressed == "cards" and access.leads:
        await _list_cards(ctx, block)
    elif pressed == "rank" and access.leads:
        await _show_rank(ctx, block)
    else:
        await _refuse(ctx)
        await _menu(ctx, block.id)


async def _refuse(ctx: Ctx) -> None:
    """A press or answer that is not one of the current options: nothing changes."""
    if ctx.event.kind == "button":
        ctx.notice("emulation.not_allowed")
        ctx.response.press_accepted = False
    else:
        ctx.say("emulation.use_buttons")


def _deadline(block: EmulationBlock) -> date | None:
    raw = block.settings.get("score_deadline")
    return date.fromisoformat(raw) if raw else None


async def _log(
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


async def _tell_unit(ctx: Ctx, unit_id: int, reply: Reply) -> None:
    notifier = Notifier(ctx.session, ctx.services)
    for head in await roles.unit_heads(ctx.session, unit_id):
        if ctx.person is None or head.id != ctx.person.id:
            await notifier.to_person(head, reply)


async def _tell_leaders(ctx: Ctx, block: EmulationBlock, reply: Reply) -> None:
    notifier = Notifier(ctx.session, ctx.services)
    told: set[int] = set()
    for unit_id in (block.head_unit_id, block.deputy_unit_id):
        if unit_id is None:
            continue
        for head in await roles.unit_heads(ctx.session, unit_id):
            if head.id not in told and (ctx.person is None or head.id != ctx.person.id):
                told.add(head.id)
                await notifier.to_person(head, reply)


# ---- criteria: publication ------------------------------------------------------------------


async def _publish(ctx: Ctx, block: EmulationBlock) -> None:
    latest = await repo.latest_sheet(ctx.session, block.id)
    if latest is None or latest.published_at is not None:
        await _refuse(ctx)
        await _menu(ctx, block.id)
        return
    assert ctx.person is not None
    latest.published_at, latest.published_by_id = ctx.services.now(), ctx.person.id
    await _log(
        ctx, "emu_block", block.id, "criteria_published", role="block_leader",
        version=latest.version, title=latest.title,
    )  # fmt: skip
    sheet = Sheet.from_data(latest.data)
    for unit in await repo.members(ctx.session, block):
        reply = Reply(
            ctx.text("emulation.sheet_published", block=block, sheet=sheet, version=latest.version)
        )
        await _tell_unit(ctx, unit.id, reply)
    ctx.say("emulation.published_done", sheet=sheet, version=latest.version)
    await _menu(ctx, block.id)


# ---- registration and covenant ------------------------------------------------------------


def _ask_titles(ctx: Ctx, block: EmulationBlock) -> None:
    chosen = list(ctx.data.get("titles", []))
    titles = list(block.settings.get("titles", []))
    choices = [Choice(("✅ " if t in chosen else "▫️ ") + t, f"t:{i}") for i, t in enumerate(titles)]
    choices.append(_b(ctx, "titles_done", "done"))
    choices.append(_b(ctx, "back", "back"))
    ctx.say("emulation.ask_titles", block=block, chosen=chosen, choices=choices)


async def _on_titles(ctx: Ctx, access: Access, pressed: str) -> None:
    titles = list(access.block.settings.get("titles", []))
    chosen = list(ctx.data.get("titles", []))
    if pressed.startswith("t:") and pressed[2:].isdigit() and int(pressed[2:]) < len(titles):
        title = titles[int(pressed[2:])]
        chosen = [t for t in chosen if t != title] if title in chosen else [*chosen, title]
        ctx.update(titles=[t for t in titles if t in chosen])
        _ask_titles(ctx, access.block)
    elif pressed == "done":
        if not chosen:
            ctx.say("emulation.titles_needed")
            _ask_titles(ctx, access.block)
            return
        ctx.update(at="covenant")
        ctx.say(
            "emulation.ask_covenant",
            block=access.block,
            chosen=chosen,
            choices=[_b(ctx, "sign", "sign"), _b(ctx, "back", "back")],
        )
    elif pressed == "back":
        await _menu(ctx, access.block.id)
    else:
        await _refuse(ctx)
        _ask_titles(ctx, access.block)


async def _on_covenant(ctx: Ctx, access: Access, pressed: str) -> None:
    if pressed == "back":
        await _menu(ctx, access.block.id)
        return
    if pressed != "sign" or not access.member:
        await _refuse(ctx)
        return
    assert ctx.person is not None
    card = await repo.card(ctx.session, access.block.id, access.member)
    now = ctx.services.now()
    titles = list(ctx.data.get("titles", []))
    card.registration = {
        "titles": titles,
        "at": now.isoformat(),
        "by": ctx.person.id,
        "by_name": ctx.person.full_name or "",
    }
    card.covenant_at, card.covenant_by_id = now, ctx.person.id
    await _log(ctx, "emu_card", card.id, "registered", role="unit_head", titles=titles)
    await _log(ctx, "emu_card", card.id, "covenant_signed", role="unit_head")
    ctx.say("emulation.registered", titles=titles, at=ctx.services.local(now))
    await _tell_leaders(
        ctx,
        access.block,
        Reply(ctx.text("emulation.registered_to_leaders", unit=card.unit, titles=titles)),
    )
    await _menu(ctx, access.block.id)


# ---- self-scoring ---------------------------------------------------------------------------


async def _own_card(ctx: Ctx, access: Access) -> tuple[EmulationCard, Sheet] | None:
    """The member's card being filled, if it still may be; tells them why not otherwise."""
    card = await repo.card_by_id(ctx.session, int(ctx.data.get("card") or 0), lock=True)
    if card is None or card.unit_id != access.member or card.sheet_id is None:
        await _menu(ctx, access.block.id)
        return None
    if card.status not in repo.EDITABLE:
        if ctx.event.kind == "button":
            ctx.response.press_accepted = False
        ctx.say("emulation.already_submitted")
        await _menu(ctx, access.block.id)
        return None
    sheet_row = await repo.sheet(ctx.session, card.sheet_id)
    assert sheet_row is not None
    return card, Sheet.from_data(sheet_row.data)


async def _ask_scoring(ctx: Ctx) -> None:
    access = await _access(ctx, int(ctx.data.get("block") or 0))
    if access is None:
        ctx.goto("idle")
        ctx.say("emulation.no_block")
        return
    found = await _own_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    at, i = ctx.data.get("at"), int(ctx.data.get("i", 0))
    total = scoring.self_total(sheet, card.scores)
    if at == "summary":
        missing = scoring.unscored(sheet, card.scores)
        choices = [] if missing else [_b(ctx, "submit", "submit")]
        choices += [_b(ctx, "fix", "fix"), _b(ctx, "pause", "pause")]
        ctx.say(
            "emulation.summary",
            sheet=sheet,
            scores=card.scores,
            total=total,
            missing=missing,
            deadline=_deadline(access.block),
            choices=choices,
        )
        return
    if at == "fix":
        choices = [Choice(f"{c.id}. {c.name[:40]}", f"c:{n}") for n, c in enumerate(sheet.criteria)]
        choices.append(_b(ctx, "back", "back"))
        ctx.say("emulation.pick_criterion", choices=choices)
        return
    criterion = sheet.criteria[i]
    entry = card.scores.get(criterion.id) or {}
    if at == "extra":
        ctx.say(
            "emulation.ask_extra",
            criterion=criterion,
            entry=entry,
            choices=[_b(ctx, "next", "next"), _b(ctx, "pause", "pause")],
        )
        return
    count = await contest.figure(ctx.session, ctx.services, criterion, card.unit_id)
    proposal = None if count is None else contest.proposed(criterion, count)
    choices = []
    if proposal is not None:
        choices.append(_b(ctx, "accept", "accept", points=proposal))
    if entry.get("self") is not None:
        choices.append(_b(ctx, "keep", "keep", points=entry["self"]))
    choices += [_b(ctx, "summary", "summary"), _b(ctx, "pause", "pause")]
    ctx.say(
        "emulation.ask_points",
        typed=not ctx.event.has_buttons,
        criterion=criterion,
        number=i + 1,
        count=len(sheet.criteria),
        entry=entry,
        figure=count,
        proposal=proposal,
        total=total,
        max_total=sheet.max_total,
        choices=_number_prompt(ctx, choices),
    )


def _set_entry(card: EmulationCard, criterion: Criterion, **values: Any) -> None:
    scores = dict(card.scores)
    scores[criterion.id] = {**(scores.get(criterion.id) or {}), **values}
    # Reassigned so the JSON column is written.
    card.scores = scores


async def _on_score(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _own_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    i = int(ctx.data.get("i", 0))
    criterion = sheet.criteria[i]
    pressed = _typed_option(ctx, pressed)
    if pressed == "pause":
        _pause(ctx, card)
        return
    if pressed == "summary":
        ctx.update(at="summary")
        await _ask_scoring(ctx)
        return
    points: float | None = None
    proposed_from: int | None = None
    if pressed == "accept":
        count = await contest.figure(ctx.session, ctx.services, criterion, card.unit_id)
        if count is None:
            await _refuse(ctx)
            return
        points, proposed_from = contest.proposed(criterion, count), count
    elif pressed == "keep":
        points = (card.scores.get(criterion.id) or {}).get("self")
    elif ctx.event.kind == "text":
        points = parse_points(ctx.event.text)
        if points is None or points > criterion.max:
            ctx.say("emulation.bad_points", criterion=criterion, raw=ctx.event.text)
            return
    if points is None:
        await _refuse(ctx)
        await _ask_scoring(ctx)
        return
    before = (card.scores.get(criterion.id) or {}).get("self")
    extra = {"from_contest": proposed_from} if proposed_from is not None else {}
    _set_entry(card, criterion, self=points, **extra)
    if before != points:
        await _log(
            ctx, "emu_card", card.id, "self_scored", role="unit_head",
            criterion=criterion.id, before=before, after=points, **extra,
        )  # fmt: skip
    ctx.update(at="extra")
    await _ask_scoring(ctx)


def _pause(ctx: Ctx, card: EmulationCard) -> None:
    ctx.goto("idle")
    ctx.say("emulation.paused", command=COMMAND)


async def _on_extra(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _own_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    i = int(ctx.data.get("i", 0))
    criterion = sheet.criteria[i]
    entry = card.scores.get(criterion.id) or {}
    event = ctx.event
    if pressed == "pause":
        _pause(ctx, card)
        return
    if pressed == "next":
        if criterion.evidence and not entry.get("evidence"):
            ctx.say("emulation.evidence_needed", criterion=criterion)
            return
        left = scoring.unscored(sheet, card.scores)
        if not ctx.data.get("one") and i + 1 < len(sheet.criteria):
            ctx.update(at="score", i=i + 1)
        elif left and not ctx.data.get("one"):
            ctx.update(at="score", i=sheet.criteria.index(left[0]))
        else:
            ctx.update(at="summary", one=False)
        await _ask_scoring(ctx)
        return
    if event.kind in ("photo", "document"):
        lines = [await _store_evidence(ctx, card, criterion, f) for f in event.files]
        ctx.say("emulation.evidence_taken", lines=lines, criterion=criterion,
                count=len((card.scores.get(criterion.id) or {}).get("evidence", [])),
                choices=[_b(ctx, "next", "next"), _b(ctx, "pause", "pause")])  # fmt: skip
        return
    if event.kind == "text" and not pressed:
        text = " ".join(event.text.split())
        if text.lower().startswith(("http://", "https://")) and " " not in text:
            evidence = [*entry.get("evidence", []), {"kind": "link", "url": text[:500]}]
            _set_entry(card, criterion, evidence=evidence)
            await _log(ctx, "emu_card", card.id, "evidence_added", role="unit_head",
                       criterion=criterion.id, kind="link")  # fmt: skip
            ctx.say("emulation.link_taken", count=len(evidence),
                    choices=[_b(ctx, "next", "next"), _b(ctx, "pause", "pause")])  # fmt: skip
            return
        if not text or len(text) > NOTE_MAX:
            ctx.say("emulation.bad_note", limit=NOTE_MAX, length=len(text))
            return
        _set_entry(card, criterion, note=text)
        ctx.say("emulation.note_taken",
                choices=[_b(ctx, "next", "next"), _b(ctx, "pause", "pause")])  # fmt: skip
        return
    await _refuse(ctx)
    await _ask_scoring(ctx)


async def _store_evidence(
    ctx: Ctx, card: EmulationCard, criterion: Criterion, incoming: Any
) -> str:
    """Keep one photo or document as evidence of a criterion; returns what became of it."""
    try:
        data = await files.download(incoming, ctx.services.max_upload_bytes)
    except files.FileTooLarge as exc:
        return ctx.text("common.file_too_large", size=exc.size, limit=ctx.services.max_upload_bytes)
    except files.FileUnavailable:
        return ctx.text("emulation.file_unavailable")
    extension = files.image_format(data)
    if extension is not None:
        stored = files.store(ctx.services.media_dir, data, extension, f"image/{extension}")
        kind = "photo"
    else:
        name = (incoming.file_name or "").lower()
        extension = name.rsplit(".", 1)[-1] if "." in name else ""
        if incoming.kind == "photo" or extension not in DOC_EXTENSIONS:
            return ctx.text("emulation.file_refused", name=incoming.file_name or "")
        stored = files.store(
            ctx.services.media_dir,
            data,
            extension,
            incoming.mime_type or "application/octet-stream",
        )
        kind = "document"
    entry = card.scores.get(criterion.id) or {}
    evidence = list(entry.get("evidence", []))
    if any(e.get("sha256") == stored.sha256 for e in evidence):
        return ctx.text("emulation.file_duplicate")
    evidence.append(
        {
            "kind": kind,
            "path": str(stored.path.relative_to(ctx.services.media_dir)),
            "sha256": stored.sha256,
            "name": incoming.file_name or "",
        }
    )
    _set_entry(card, criterion, evidence=evidence)
    await _log(ctx, "emu_card", card.id, "evidence_added", role="unit_head",
               criterion=criterion.id, kind=kind, sha256=stored.sha256)  # fmt: skip
    return ctx.text("emulation.file_taken", kind=kind)


async def _on_summary(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _own_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    if pressed == "pause":
        _pause(ctx, card)
    elif pressed == "fix":
        ctx.update(at="fix")
        await _ask_scoring(ctx)
    elif pressed == "submit" and not scoring.unscored(sheet, card.scores):
        await _submit(ctx, access, card, sheet)
    else:
        await _refuse(ctx)
        await _ask_scoring(ctx)


async def _on_fix(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _own_card(ctx, access)
    if found is None:
        return
    _card, sheet = found
    if (
        pressed.startswith("c:")
        and pressed[2:].isdigit()
        and int(pressed[2:]) < len(sheet.criteria)
    ):
        ctx.update(at="score", i=int(pressed[2:]), one=True)
    elif pressed == "back":
        ctx.update(at="summary")
    else:
        await _refuse(ctx)
    await _ask_scoring(ctx)


async def _submit(ctx: Ctx, access: Access, card: EmulationCard, sheet: Sheet) -> None:
    assert ctx.person is not None
    now = ctx.services.now()
    deadline = _deadline(access.block)
    late = deadline is not None and ctx.services.local(now).date() > deadline
    before = card.status
    card.status, card.submitted_at, card.submitted_by_id = repo.SUBMITTED, now, ctx.person.id
    card.late = late
    total = scoring.self_total(sheet, card.scores)
    await _log(
        ctx, "emu_card", card.id, "submitted", role="unit_head", from_status=before,
        to_status=repo.SUBMITTED, total=total, late=late,
    )  # fmt: skip
    ctx.goto(STEP, at="menu", block=access.block.id)
    ctx.say("emulation.submitted", total=total, late=late, deadline=deadline)
    await _tell_leaders(
        ctx,
        access.block,
        Reply(ctx.text("emulation.submitted_to_leaders", unit=card.unit, total=total, late=late)),
    )
    await _menu(ctx, access.block.id)


# ---- cross-check by the block's leaders ---------------------------------------------------


async def _list_cards(ctx: Ctx, block: EmulationBlock) -> None:
    ctx.goto(STEP, at="cards", block=block.id)
    sheet_row = await repo.published_sheet(ctx.session, block.id)
    sheet = Sheet.from_data(sheet_row.data) if sheet_row else None
    rows = []
    choices = []
    for unit in await repo.members(ctx.session, block):
        card = await repo.card(ctx.session, block.id, unit.id)
        totals = None
        if sheet is not None:
            totals = (
                scoring.self_total(sheet, card.scores),
                scoring.block_total(sheet, card.scores),
            )
        rows.append((unit, card, totals))
        if card.status in repo.IN_BLOCK_HANDS:
            choices.append(Choice(unit.name, f"o:{card.id}"))
    choices.append(_b(ctx, "back", "back"))
    ctx.say("emulation.cards", block=block, rows=rows, choices=choices)


async def _on_cards(ctx: Ctx, access: Access, pressed: str) -> None:
    if pressed.startswith("o:") and pressed[2:].isdigit():
        await _show_card(ctx, card_id=int(pressed[2:]), back="cards")
    elif pressed == "back":
        await _menu(ctx, access.block.id)
    else:
        await _refuse(ctx)
        await _list_cards(ctx, access.block)


async def _led_card(ctx: Ctx, access: Access) -> tuple[EmulationCard, Sheet] | None:
    """The card a leader has open, if they lead its block and it is in the block's hands."""
    card = await repo.card_by_id(ctx.session, int(ctx.data.get("card") or 0), lock=True)
    if (
        not access.leads
        or card is None
        or card.block_id != access.block.id
        or card.status not in repo.IN_BLOCK_HANDS
        or card.sheet_id is None
    ):
        await _refuse(ctx)
        await _menu(ctx, access.block.id)
        return None
    sheet_row = await repo.sheet(ctx.session, card.sheet_id)
    assert sheet_row is not None
    return card, Sheet.from_data(sheet_row.data)


async def _show_card(ctx: Ctx, card_id: int | None = None, back: str | None = None) -> None:
    """A card with every criterion, its evidence and the block's changes; leaders get the
    cross-check buttons, the member only a way back."""
    block_id = int(ctx.data.get("block") or 0)
    access = await _access(ctx, block_id)
    card_id = card_id or int(ctx.data.get("card") or 0)
    card = await repo.card_by_id(ctx.session, card_id)
    if access is None or card is None or card.block_id != block_id:
        await start(ctx)
        return
    own = access.member == card.unit_id
    leader_view = access.leads and card.status in repo.IN_BLOCK_HANDS
    if not (own or leader_view) or card.sheet_id is None:
        await _refuse(ctx)
        await _menu(ctx, block_id)
        return
    sheet_row = await repo.sheet(ctx.session, card.sheet_id)
    assert sheet_row is not None
    sheet = Sheet.from_data(sheet_row.data)
    back = back or ctx.data.get("back") or ("cards" if leader_view else "menu")
    ctx.goto(STEP, at="card", block=block_id, card=card.id, back=back)
    photos = [
        ctx.services.media_dir / e["path"]
        for c in sheet.criteria
        for e in (card.scores.get(c.id) or {}).get("evidence", [])
        if e.get("kind") == "photo"
    ]
    if photos:
        ctx.response.replies.append(
            Reply(ctx.text("emulation.evidence_photos", count=len(photos)), photos=photos[:10])
        )
    choices = []
    if leader_view:
        choices = [
            _b(ctx, "adjust", "adj"),
            _b(ctx, "send_back", "ret"),
            _b(ctx, "award", "award"),
        ]
        if card.status == repo.SUBMITTED:
            choices.append(_b(ctx, "settle", "fin"))
    choices.append(_b(ctx, "back", "back"))
    ctx.say(
        "emulation.card",
        card=card,
        sheet=sheet,
        self_total=scoring.self_total(sheet, card.scores),
        block_total=scoring.block_total(sheet, card.scores),
        local=ctx.services.local,
        choices=choices,
    )


async def _on_card(ctx: Ctx, access: Access, pressed: str) -> None:
    if pressed == "back":
        if ctx.data.get("back") == "cards" and access.leads:
            await _list_cards(ctx, access.block)
        else:
            await _menu(ctx, access.block.id)
        return
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    if pressed == "adj":
        ctx.update(at="adj")
        choices = [Choice(f"{c.id}. {c.name[:40]}", f"c:{n}") for n, c in enumerate(sheet.criteria)]
        choices.append(_b(ctx, "back", "back"))
        ctx.say("emulation.pick_criterion", choices=choices)
    elif pressed == "ret":
        ctx.update(at="ret_reason")
        ctx.say("emulation.ask_return_reason", unit=card.unit,
                choices=[_b(ctx, "back", "back")])  # fmt: skip
    elif pressed == "award":
        titles = list(access.block.settings.get("titles", []))
        ctx.update(at="award")
        choices = [Choice(t, f"a:{i}") for i, t in enumerate(titles)]
        choices += [_b(ctx, "no_award", "a:none"), _b(ctx, "back", "back")]
        ctx.say("emulation.ask_award", unit=card.unit, current=card.award,
                registered=card.registration.get("titles", []), choices=choices)  # fmt: skip
    elif pressed == "fin" and card.status == repo.SUBMITTED:
        card.status = repo.SCORED
        await _log(ctx, "emu_card", card.id, "scored", role="block_leader",
                   from_status=repo.SUBMITTED, to_status=repo.SCORED,
                   total=scoring.block_total(sheet, card.scores))  # fmt: skip
        ctx.say("emulation.settled", unit=card.unit, total=scoring.block_total(sheet, card.scores))
        await _tell_unit(ctx, card.unit_id, Reply(ctx.text(
            "emulation.settled_to_unit", block=access.block,
            total=scoring.block_total(sheet, card.scores))))  # fmt: skip
        await _list_cards(ctx, access.block)
    else:
        await _refuse(ctx)
        await _show_card(ctx)


async def _on_adjust_pick(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    if (
        pressed.startswith("c:")
        and pressed[2:].isdigit()
        and int(pressed[2:]) < len(sheet.criteria)
    ):
        criterion = sheet.criteria[int(pressed[2:])]
        ctx.update(at="adj_points", crit=criterion.id)
        ctx.say("emulation.ask_adjust_points", criterion=criterion, unit=card.unit,
                entry=card.scores.get(criterion.id) or {}, typed=not ctx.event.has_buttons,
                choices=_number_prompt(ctx, [_b(ctx, "back", "back")]))  # fmt: skip
    elif pressed == "back":
        await _show_card(ctx)
    else:
        await _refuse(ctx)


async def _on_adjust_points(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    _card, sheet = found
    criterion = sheet.get(str(ctx.data.get("crit")))
    pressed = _typed_option(ctx, pressed)
    if pressed == "back" or criterion is None:
        await _show_card(ctx)
        return
    points = parse_points(ctx.event.text) if ctx.event.kind == "text" else None
    if points is None or points > criterion.max:
        ctx.say("emulation.bad_points", criterion=criterion, raw=ctx.event.text)
        return
    ctx.update(at="adj_reason", points=points)
    ctx.say("emulation.ask_adjust_reason", criterion=criterion, points=points,
            choices=[_b(ctx, "back", "back")])  # fmt: skip


async def _on_adjust_reason(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    criterion = sheet.get(str(ctx.data.get("crit")))
    if pressed == "back" or criterion is None:
        await _show_card(ctx)
        return
    reason = " ".join(ctx.event.text.split()) if ctx.event.kind == "text" else ""
    if len(reason) < REASON_MIN or len(reason) > NOTE_MAX:
        ctx.say("emulation.reason_needed", low=REASON_MIN, high=NOTE_MAX)
        return
    points = float(ctx.data["points"])
    entry = card.scores.get(criterion.id) or {}
    before = scoring.final_points(entry)
    _set_entry(card, criterion, block=points, reason=reason)
    await _log(
        ctx, "emu_card", card.id, "adjusted", role="block_leader", reason=reason,
        criterion=criterion.id, self=entry.get("self"), before=before, after=points,
    )  # fmt: skip
    total = scoring.block_total(sheet, card.scores)
    ctx.say("emulation.adjusted", criterion=criterion, before=before, points=points, total=total)
    await _tell_unit(
        ctx,
        card.unit_id,
        Reply(
            ctx.text(
                "emulation.adjusted_to_unit",
                block=access.block,
                criterion=criterion,
                before=before,
                points=points,
                reason=reason,
                total=total,
            )
        ),
    )
    await _show_card(ctx)


async def _on_return_reason(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, _sheet = found
    if pressed == "back":
        await _show_card(ctx)
        return
    reason = " ".join(ctx.event.text.split()) if ctx.event.kind == "text" else ""
    if len(reason) < REASON_MIN or len(reason) > NOTE_MAX:
        ctx.say("emulation.reason_needed", low=REASON_MIN, high=NOTE_MAX)
        return
    before = card.status
    card.status = repo.RETURNED
    await _log(ctx, "emu_card", card.id, "returned", role="block_leader", reason=reason,
               from_status=before, to_status=repo.RETURNED)  # fmt: skip
    ctx.say("emulation.returned", unit=card.unit)
    text = ctx.text(
        "emulation.returned_to_unit", block=access.block, reason=reason, command=COMMAND
    )
    await _tell_unit(ctx, card.unit_id, Reply(text))
    await _list_cards(ctx, access.block)


async def _on_award(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, _sheet = found
    titles = list(access.block.settings.get("titles", []))
    if pressed == "back":
        await _show_card(ctx)
        return
    if pressed == "a:none":
        award = None
    elif pressed.startswith("a:") and pressed[2:].isdigit() and int(pressed[2:]) < len(titles):
        award = titles[int(pressed[2:])]
    else:
        await _refuse(ctx)
        return
    before = card.award
    card.award = award
    await _log(ctx, "emu_card", card.id, "award_proposed", role="block_leader",
               before=before, after=award)  # fmt: skip
    ctx.say("emulation.award_set", unit=card.unit, award=award)
    await _show_card(ctx)


# ---- ranking --------------------------------------------------------------------------------


async def ranking(
    session: AsyncSession, block: EmulationBlock
) -> tuple[Sheet | None, list[scoring.Ranked]]:
    """The block's sheet and ranking of the sheets in its hands (for chat and exports)."""
    sheet_row = await repo.published_sheet(session, block.id)
    if sheet_row is None:
        return None, []
    sheet = Sheet.from_data(sheet_row.data)
    rows = [
        (c.id, c.unit.name, c.scores, c.submitted_at, c.late, c.award)
        for c in await repo.cards(session, block.id)
        if c.status in repo.IN_BLOCK_HANDS
    ]
    return sheet, scoring.rank(rows, sheet)


async def _show_rank(ctx: Ctx, block: EmulationBlock) -> None:
    ctx.goto(STEP, at="rank", block=block.id)
    sheet, lines = await ranking(ctx.session, block)
    ctx.say("emulation.rank", block=block, sheet=sheet, lines=lines,
            choices=[_b(ctx, "back", "back")])  # fmt: skip


async def _on_rank(ctx: Ctx, access: Access, pressed: str) -> None:
    if pressed == "back":
        await _menu(ctx, access.block.id)
    else:
        await _refuse(ctx)
        await _show_rank(ctx, access.block)
