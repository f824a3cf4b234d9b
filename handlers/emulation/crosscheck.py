"""The block's leaders in chat: each sent sheet with its evidence, adjustments with a reason,
sending back, settling, award proposals, and the ranking."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import outgoing
from handlers.context import Ctx
from handlers.emulation import common, scoring
from handlers.emulation.common import COMMAND, NOTE_MAX, REASON_MIN, STEP, Access
from handlers.emulation.criteria import Criterion, Sheet, parse_points
from handlers.types import Choice, Reply
from storage import emulation as repo
from storage.emulation_models import EmulationBlock, EmulationCard


async def list_cards(ctx: Ctx, block: EmulationBlock) -> None:
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
        # Drafts are the unit's own business; a sent sheet or a periodic report is the block's.
        if card.status in repo.IN_BLOCK_HANDS or card.reports:
            choices.append(Choice(unit.name, f"o:{card.id}"))
    choices.append(common.button(ctx, "back", "back"))
    ctx.say("emulation.cards", block=block, rows=rows, choices=choices)


async def on_cards(ctx: Ctx, access: Access, pressed: str) -> None:
    card_id = common.picked(pressed, "o:")
    if card_id is not None:
        await show_card(ctx, card_id=card_id, back="cards")
    elif pressed == "back":
        await common.menu(ctx, access.block.id)
    else:
        await common.refuse(ctx)
        await list_cards(ctx, access.block)


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
        await common.refuse(ctx)
        await common.menu(ctx, access.block.id)
        return None
    return card, await common.card_sheet(ctx, card)


async def show_card(ctx: Ctx, card_id: int | None = None, back: str | None = None) -> None:
    """A card with every criterion, its evidence and the block's changes; leaders get the
    cross-check buttons, the member only a way back."""
    block_id = int(ctx.data.get("block") or 0)
    access = await common.access_of(ctx, block_id)
    card_id = card_id or int(ctx.data.get("card") or 0)
    card = await repo.card_by_id(ctx.session, card_id)
    if access is None or card is None or card.block_id != block_id:
        ctx.goto("idle")
        ctx.say("emulation.no_block")
        return
    own = access.member == card.unit_id
    in_hands = card.status in repo.IN_BLOCK_HANDS
    leader_view = access.leads and (in_hands or bool(card.reports))
    if not (own or leader_view):
        await common.refuse(ctx)
        await common.menu(ctx, block_id)
        return
    sheet = None
    if card.sheet_id is not None and (own or in_hands):
        sheet_row = await repo.sheet(ctx.session, card.sheet_id)
        assert sheet_row is not None
        sheet = Sheet.from_data(sheet_row.data)
    back = back or ctx.data.get("back") or ("cards" if leader_view else "menu")
    ctx.goto(STEP, at="card", block=block_id, card=card.id, back=back)
    criteria = sheet.criteria if sheet else ()
    photos = [
        ctx.services.media_dir / e["path"]
        for c in criteria
        for e in (card.scores.get(c.id) or {}).get("evidence", [])
        if e.get("kind") == "photo"
    ] + [
        ctx.services.media_dir / f["path"]
        for sent in card.reports.values()
        for f in sent.get("files", [])
        if f.get("kind") == "photo"
    ]
    if photos:
        ctx.response.replies.append(
            Reply(ctx.text("emulation.evidence_photos", count=len(photos)), photos=photos[:10])
        )
    choices = []
    if leader_view:
        # Documents cannot be shown in a message: each is a button that sends it (a file on
        # Telegram, a download link elsewhere), for the block's leaders only.
        choices = [
            common.button(ctx, "open_document", f"doc:{n}", name=_document_name(entry))
            for n, entry in enumerate(documents_of(card, criteria))
        ]
    if access.leads and in_hands:
        choices += [
            common.button(ctx, "adjust", "adj"),
            common.button(ctx, "send_back", "ret"),
            common.button(ctx, "award", "award"),
        ]
        if card.status == repo.SUBMITTED:
            choices.append(common.button(ctx, "settle", "fin"))
    choices.append(common.button(ctx, "back", "back"))
    ctx.say(
        "emulation.card",
        card=card,
        sheet=sheet,
        self_total=scoring.self_total(sheet, card.scores) if sheet else 0,
        block_total=scoring.block_total(sheet, card.scores) if sheet else 0,
        reports=[(r, card.reports.get(r["key"])) for r in access.block.settings.get("reports", [])],
        local=ctx.services.local,
        choices=choices,
    )


def documents_of(card: EmulationCard, criteria: Sequence[Criterion]) -> list[dict[str, Any]]:
    """The card's evidence and report documents (not photos or links), in the card's order."""
    found = [
        e
        for c in criteria
        for e in (card.scores.get(c.id) or {}).get("evidence", [])
        if e.get("kind") == "document"
    ]
    found += [
        f
        for sent in card.reports.values()
        for f in sent.get("files", [])
        if f.get("kind") == "document"
    ]
    return found


def _document_name(entry: dict[str, Any]) -> str:
    return str(entry.get("name") or Path(str(entry.get("path", ""))).name)


async def _open_document(ctx: Ctx, access: Access, pressed: str) -> None:
    """Send one evidence document of the card shown, to the block's head or deputy only."""
    card = await repo.card_by_id(ctx.session, int(ctx.data.get("card") or 0))
    in_view = card is not None and (card.status in repo.IN_BLOCK_HANDS or bool(card.reports))
    if card is None or card.block_id != access.block.id or not access.leads or not in_view:
        await common.refuse(ctx)
        return
    # The criteria as show_card lists them: a sheet only once it is in the block's hands.
    in_hands = card.status in repo.IN_BLOCK_HANDS and card.sheet_id is not None
    sheet = await common.card_sheet(ctx, card) if in_hands else None
    documents = documents_of(card, sheet.criteria if sheet else ())
    index = common.picked(pressed, "doc:", len(documents))
    root = ctx.services.media_dir.resolve()
    path = (root / str(documents[index]["path"])).resolve() if index is not None else None
    if path is None or index is None or not path.is_relative_to(root) or not path.is_file():
        await common.refuse(ctx)
        return
    name = _document_name(documents[index])
    ctx.response.keep_buttons = True
    outgoing.send_file(ctx, path, name, "emulation.evidence_file", unit=card.unit)
    await common.log(
        ctx, "emu_card", card.id, "evidence_opened", role="block_leader", name=name[:200]
    )


async def on_card(ctx: Ctx, access: Access, pressed: str) -> None:
    if pressed.startswith("doc:"):
        await _open_document(ctx, access, pressed)
        return
    if pressed == "back":
        if ctx.data.get("back") == "cards" and access.leads:
            await list_cards(ctx, access.block)
        else:
            await common.menu(ctx, access.block.id)
        return
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    if pressed == "adj":
        ctx.update(at="adj")
        choices = [Choice(f"{c.id}. {c.name[:40]}", f"c:{n}") for n, c in enumerate(sheet.criteria)]
        choices.append(common.button(ctx, "back", "back"))
        ctx.say("emulation.pick_criterion", choices=choices)
    elif pressed == "ret":
        ctx.update(at="ret_reason")
        ctx.say(
            "emulation.ask_return_reason",
            unit=card.unit,
            choices=[common.button(ctx, "back", "back")],
        )
    elif pressed == "award":
        titles = list(access.block.settings.get("titles", []))
        ctx.update(at="award")
        choices = [Choice(t, f"a:{i}") for i, t in enumerate(titles)]
        choices += [common.button(ctx, "no_award", "a:none"), common.button(ctx, "back", "back")]
        ctx.say(
            "emulation.ask_award",
            unit=card.unit,
            current=card.award,
            registered=card.registration.get("titles", []),
            choices=choices,
        )
    elif pressed == "fin" and card.status == repo.SUBMITTED:
        card.status = repo.SCORED
        await common.log(
            ctx,
            "emu_card",
            card.id,
            "scored",
            role="block_leader",
            from_status=repo.SUBMITTED,
            to_status=repo.SCORED,
            total=scoring.block_total(sheet, card.scores),
        )
        ctx.say("emulation.settled", unit=card.unit, total=scoring.block_total(sheet, card.scores))
        await common.tell_unit(
            ctx,
            card.unit_id,
            Reply(
                ctx.text(
                    "emulation.settled_to_unit",
                    block=access.block,
                    total=scoring.block_total(sheet, card.scores),
                )
            ),
        )
        await list_cards(ctx, access.block)
    else:
        await common.refuse(ctx)
        await show_card(ctx)


async def on_adjust_pick(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    index = common.picked(pressed, "c:", len(sheet.criteria))
    if index is not None:
        criterion = sheet.criteria[index]
        ctx.update(at="adj_points", crit=criterion.id)
        ctx.say(
            "emulation.ask_adjust_points",
            criterion=criterion,
            unit=card.unit,
            entry=card.scores.get(criterion.id) or {},
            typed=not ctx.event.has_buttons,
            choices=common.number_prompt(ctx, [common.button(ctx, "back", "back")]),
        )
    elif pressed == "back":
        await show_card(ctx)
    else:
        await common.refuse(ctx)


async def on_adjust_points(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    _card, sheet = found
    criterion = sheet.get(str(ctx.data.get("crit")))
    pressed = common.typed_option(ctx, pressed)
    if pressed == "back" or criterion is None:
        await show_card(ctx)
        return
    points = parse_points(ctx.event.text) if ctx.event.kind == "text" else None
    if points is None or points > criterion.max:
        ctx.say("emulation.bad_points", criterion=criterion, raw=ctx.event.text)
        return
    ctx.update(at="adj_reason", points=points)
    ctx.say(
        "emulation.ask_adjust_reason",
        criterion=criterion,
        points=points,
        choices=[common.button(ctx, "back", "back")],
    )


async def on_adjust_reason(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, sheet = found
    criterion = sheet.get(str(ctx.data.get("crit")))
    if pressed == "back" or criterion is None:
        await show_card(ctx)
        return
    reason = " ".join(ctx.event.text.split()) if ctx.event.kind == "text" else ""
    if len(reason) < REASON_MIN or len(reason) > NOTE_MAX:
        ctx.say("emulation.reason_needed", low=REASON_MIN, high=NOTE_MAX)
        return
    points = float(ctx.data["points"])
    entry = card.scores.get(criterion.id) or {}
    before = scoring.final_points(entry)
    # The unit's score the block looked at: if the unit changes it when the sheet comes back,
    # this adjustment no longer answers it (selfscore.drop_stale_adjustments).
    common.set_entry(
        card, criterion, block=points, reason=reason, adjusted_self=entry.get("self"),
        dropped=None,
    )  # fmt: skip
    await common.log(
        ctx,
        "emu_card",
        card.id,
        "adjusted",
        role="block_leader",
        reason=reason,
        criterion=criterion.id,
        self=entry.get("self"),
        before=before,
        after=points,
    )
    total = scoring.block_total(sheet, card.scores)
    ctx.say("emulation.adjusted", criterion=criterion, before=before, points=points, total=total)
    await common.tell_unit(
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
    await show_card(ctx)


async def on_return_reason(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, _sheet = found
    if pressed == "back":
        await show_card(ctx)
        return
    reason = " ".join(ctx.event.text.split()) if ctx.event.kind == "text" else ""
    if len(reason) < REASON_MIN or len(reason) > NOTE_MAX:
        ctx.say("emulation.reason_needed", low=REASON_MIN, high=NOTE_MAX)
        return
    before = card.status
    card.status = repo.RETURNED
    await common.log(
        ctx,
        "emu_card",
        card.id,
        "returned",
        role="block_leader",
        reason=reason,
        from_status=before,
        to_status=repo.RETURNED,
    )
    ctx.say("emulation.returned", unit=card.unit)
    text = ctx.text(
        "emulation.returned_to_unit", block=access.block, reason=reason, command=COMMAND
    )
    await common.tell_unit(ctx, card.unit_id, Reply(text))
    await list_cards(ctx, access.block)


async def on_award(ctx: Ctx, access: Access, pressed: str) -> None:
    found = await _led_card(ctx, access)
    if found is None:
        return
    card, _sheet = found
    titles = list(access.block.settings.get("titles", []))
    if pressed == "back":
        await show_card(ctx)
        return
    if pressed == "a:none":
        award = None
    elif (index := common.picked(pressed, "a:", len(titles))) is not None:
        award = titles[index]
    else:
        await common.refuse(ctx)
        return
    before = card.award
    card.award = award
    await common.log(
        ctx, "emu_card", card.id, "award_proposed", role="block_leader", before=before, after=award
    )
    ctx.say("emulation.award_set", unit=card.unit, award=award)
    await show_card(ctx)


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


async def show_rank(ctx: Ctx, block: EmulationBlock) -> None:
    ctx.goto(STEP, at="rank", block=block.id)
    sheet, lines = await ranking(ctx.session, block)
    ctx.say(
        "emulation.rank",
        block=block,
        sheet=sheet,
        lines=lines,
        choices=[common.button(ctx, "back", "back")],
    )


async def on_rank(ctx: Ctx, access: Access, pressed: str) -> None:
    if pressed == "back":
        await common.menu(ctx, access.block.id)
    else:
        await common.refuse(ctx)
        await show_rank(ctx, access.block)
