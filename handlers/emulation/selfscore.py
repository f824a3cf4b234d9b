"""Self-scoring in chat: criterion by criterion (points, a note, evidence), the running
total, stop and resume, proposals from letter 001's contest data, and sending the sheet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.context import Ctx
from handlers.emulation import common, contest, scoring
from handlers.emulation.common import COMMAND, NOTE_MAX, STEP, Access
from handlers.emulation.criteria import Criterion, Sheet, parse_points
from handlers.types import Choice, Reply, WebLink
from storage import emulation as repo
from storage import events
from storage.emulation_models import EmulationCard


@dataclass(frozen=True)
class Dropped:
    """A block adjustment dropped on resubmission: the unit changed the score it answered."""

    criterion: Criterion
    self_before: float | None
    self_after: float | None
    block: float
    reason: str


async def _own_card(ctx: Ctx, access: Access) -> tuple[EmulationCard, Sheet] | None:
    """The member's card being filled, if it still may be; tells them why not otherwise."""
    card = await repo.card_by_id(ctx.session, int(ctx.data.get("card") or 0), lock=True)
    if card is None or card.unit_id != access.member or card.sheet_id is None:
        await common.menu(ctx, access.block.id)
        return None
    if card.status not in repo.EDITABLE:
        if ctx.event.kind == "button":
            ctx.response.press_accepted = False
        ctx.say("emulation.already_submitted")
        await common.menu(ctx, access.block.id)
        return None
    return card, await common.card_sheet(ctx, card)


async def ask_scoring(ctx: Ctx) -> None:
    access = await common.access_of(ctx, int(ctx.data.get("block") or 0))
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
        choices = [] if missing else [common.button(ctx, "submit", "submit")]
        choices += [common.button(ctx, "fix", "fix"), common.button(ctx, "pause", "pause")]
        ctx.say(
            "emulation.summary",
            sheet=sheet,
            scores=card.scores,
            total=total,
            missing=missing,
            deadline=common.deadline(access.block),
            choices=choices,
        )
        return
    if at == "fix":
        choices = [Choice(f"{c.id}. {c.name[:40]}", f"c:{n}") for n, c in enumerate(sheet.criteria)]
        choices.append(common.button(ctx, "back", "back"))
        ctx.say("emulation.pick_criterion", choices=choices)
        return
    criterion = sheet.criteria[i]
    entry = card.scores.get(criterion.id) or {}
    if at == "extra":
        reply = ctx.say(
            "emulation.ask_extra",
            criterion=criterion,
            entry=entry,
            choices=[common.button(ctx, "next", "next"), common.button(ctx, "pause", "pause")],
        )
        reply.link = _note_link(ctx, card, i)
        return
    count = await contest.figure(ctx.session, ctx.services, criterion, card.unit_id)
    proposal = None if count is None else contest.proposed(criterion, count)
    choices = []
    if proposal is not None:
        choices.append(common.button(ctx, "accept", "accept", points=proposal))
    if entry.get("self") is not None:
        choices.append(common.button(ctx, "keep", "keep", points=entry["self"]))
    choices += [common.button(ctx, "summary", "summary"), common.button(ctx, "pause", "pause")]
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
        choices=common.number_prompt(ctx, choices),
    )


def _note_link(ctx: Ctx, card: EmulationCard, index: int) -> WebLink | None:
    """The web page for a long note, offered as the story editor is where a note is hard to
    type in one message (Zalo, the console: no buttons, short or line-by-line messages)."""
    link = ctx.services.note_link
    if link is None or ctx.person is None or ctx.event.has_buttons or card.sheet_id is None:
        return None
    url = link(ctx.person.id, card.id, card.sheet_id, index)
    return WebLink(ctx.text("emulation_buttons.note_on_web"), url)


async def on_score(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _own_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    i = int(ctx.data.get("i", 0))
    criterion = sheet.criteria[i]
    pressed = common.typed_option(ctx, pressed)
    if pressed == "pause":
        _pause(ctx, card)
        return
    if pressed == "summary":
        ctx.update(at="summary")
        await ask_scoring(ctx)
        return
    points: float | None = None
    proposed_from: int | None = None
    if pressed == "accept":
        count = await contest.figure(ctx.session, ctx.services, criterion, card.unit_id)
        if count is None:
            await common.refuse(ctx)
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
        await common.refuse(ctx)
        await ask_scoring(ctx)
        return
    before = (card.scores.get(criterion.id) or {}).get("self")
    extra = {"from_contest": proposed_from} if proposed_from is not None else {}
    common.set_entry(card, criterion, self=points, **extra)
    if before != points:
        await common.log(
            ctx,
            "emu_card",
            card.id,
            "self_scored",
            role="unit_head",
            criterion=criterion.id,
            before=before,
            after=points,
            **extra,
        )
    ctx.update(at="extra")
    await ask_scoring(ctx)


def _pause(ctx: Ctx, card: EmulationCard) -> None:
    ctx.goto("idle")
    ctx.say("emulation.paused", command=COMMAND)


async def on_extra(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _own_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    i = int(ctx.data.get("i", 0))
    criterion = sheet.criteria[i]
    entry = card.scores.get(criterion.id) or {}
    event = ctx.event
    if common.wants_pause(ctx, pressed):
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
        await ask_scoring(ctx)
        return
    if event.kind in ("photo", "document"):
        lines = [await _store_evidence(ctx, card, criterion, f) for f in event.files]
        ctx.say(
            "emulation.evidence_taken",
            lines=lines,
            criterion=criterion,
            count=len((card.scores.get(criterion.id) or {}).get("evidence", [])),
            choices=[common.button(ctx, "next", "next"), common.button(ctx, "pause", "pause")],
        )
        return
    if event.kind == "text" and not pressed:
        text = common.clean_note(event.text)
        if text.lower().startswith(("http://", "https://")) and " " not in text:
            evidence = [*entry.get("evidence", []), {"kind": "link", "url": text[:500]}]
            common.set_entry(card, criterion, evidence=evidence)
            await common.log(
                ctx,
                "emu_card",
                card.id,
                "evidence_added",
                role="unit_head",
                criterion=criterion.id,
                kind="link",
            )
            ctx.say(
                "emulation.link_taken",
                count=len(evidence),
                choices=[common.button(ctx, "next", "next"), common.button(ctx, "pause", "pause")],
            )
            return
        if not common.note_fits(text):
            ctx.say("emulation.bad_note", limit=NOTE_MAX, length=len(text))
            return
        common.set_entry(card, criterion, note=text)
        await common.log(
            ctx, "emu_card", card.id, "note_set", role="unit_head", criterion=criterion.id,
            note=text,
        )  # fmt: skip
        ctx.say(
            "emulation.note_taken",
            choices=[common.button(ctx, "next", "next"), common.button(ctx, "pause", "pause")],
        )
        return
    await common.refuse(ctx)
    await ask_scoring(ctx)


async def _store_evidence(
    ctx: Ctx, card: EmulationCard, criterion: Criterion, incoming: Any
) -> str:
    """Keep one photo or document as evidence of a criterion; returns what became of it."""
    evidence = list((card.scores.get(criterion.id) or {}).get("evidence", []))
    said, entry = await common.store_file(ctx, incoming, evidence)
    if entry is None:
        return said
    common.set_entry(card, criterion, evidence=[*evidence, entry])
    await common.log(
        ctx,
        "emu_card",
        card.id,
        "evidence_added",
        role="unit_head",
        criterion=criterion.id,
        kind=entry["kind"],
        sha256=entry["sha256"],
    )
    return said


async def on_summary(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _own_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    if common.wants_pause(ctx, pressed):
        _pause(ctx, card)
    elif pressed == "fix":
        ctx.update(at="fix")
        await ask_scoring(ctx)
    elif pressed == "submit" and not scoring.unscored(sheet, card.scores):
        await _submit(ctx, access, card, sheet)
    else:
        await common.refuse(ctx)
        await ask_scoring(ctx)


async def on_fix(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _own_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    if common.wants_pause(ctx, pressed):
        _pause(ctx, card)
        return
    index = common.picked(pressed, "c:", len(sheet.criteria))
    if index is not None:
        ctx.update(at="score", i=index, one=True)
    elif pressed == "back":
        ctx.update(at="summary")
    else:
        await common.refuse(ctx)
    await ask_scoring(ctx)


async def _submit(ctx: Ctx, access: Access, card: EmulationCard, sheet: Sheet) -> None:
    assert ctx.person is not None
    now = ctx.services.now()
    deadline = common.deadline(access.block)
    late = deadline is not None and ctx.services.local(now).date() > deadline
    before = card.status
    dropped = await drop_stale_adjustments(ctx, card, sheet)
    card.status, card.submitted_at, card.submitted_by_id = repo.SUBMITTED, now, ctx.person.id
    card.late = late
    total = scoring.self_total(sheet, card.scores)
    await common.log(
        ctx,
        "emu_card",
        card.id,
        "submitted",
        role="unit_head",
        from_status=before,
        to_status=repo.SUBMITTED,
        total=total,
        late=late,
    )
    ctx.goto(STEP, at="menu", block=access.block.id)
    ctx.say("emulation.submitted", total=total, late=late, deadline=deadline, dropped=dropped)
    text = ctx.text(
        "emulation.submitted_to_leaders",
        unit=card.unit,
        total=total,
        late=late,
        again=before == repo.RETURNED,
        dropped=dropped,
    )
    await common.tell_leaders(ctx, access.block, Reply(text))
    await common.menu(ctx, access.block.id)


async def drop_stale_adjustments(ctx: Ctx, card: EmulationCard, sheet: Sheet) -> list[Dropped]:
    """The resubmission rule: where the unit's score differs from the one the block adjusted
    (the unit changed it after the sheet came back), the block's adjustment no longer answers
    it and is dropped, so the unit's new score stands until the block looks again. Criteria
    whose score is unchanged (or changed and put back) keep the adjustment."""
    dropped: list[Dropped] = []
    for criterion in sheet.criteria:
        entry = card.scores.get(criterion.id) or {}
        if entry.get("block") is None:
            continue
        was = await _adjusted_self(ctx, card, criterion, entry)
        now = entry.get("self")
        if now == was:
            continue
        gone = Dropped(criterion, was, now, float(entry["block"]), str(entry.get("reason") or ""))
        dropped.append(gone)
        common.set_entry(
            card,
            criterion,
            block=None,
            reason=None,
            adjusted_self=None,
            # Kept so the block's leaders see what they had decided when they look again.
            dropped={"block": gone.block, "reason": gone.reason, "self": was},
        )
        await common.log(
            ctx,
            "emu_card",
            card.id,
            "adjustment_dropped",
            role="unit_head",
            reason="self_score_changed_on_resubmission",
            criterion=criterion.id,
            self_before=was,
            self_after=now,
            block=gone.block,
            block_reason=gone.reason,
        )
    return dropped


async def _adjusted_self(
    ctx: Ctx, card: EmulationCard, criterion: Criterion, entry: dict[str, Any]
) -> float | None:
    """The unit's score when the block adjusted this criterion."""
    if "adjusted_self" in entry:
        return entry["adjusted_self"]
    # An adjustment made before the entry kept that score: the audit log has it.
    for event in reversed(await events.history(ctx.session, "emu_card", card.id)):
        if event.action == "adjusted" and (event.data or {}).get("criterion") == criterion.id:
            return (event.data or {}).get("self")
    return None
