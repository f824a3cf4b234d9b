"""Letter 004 in chat: /thidua opens the block menu for member units and the block's leaders.

One step ("emu") whose working data says where the person is ("at"). Every press and every
answer re-reads the block and the card and checks, from the database, that the person still
heads the unit the action is for and that the card is in a state the action allows: a forged
or stale press, or a member editing a sheet already sent, changes nothing.
"""

from __future__ import annotations

from handlers import files
from handlers.context import Ctx
from handlers.emulation import common, crosscheck, reports, scoring, selfscore
from handlers.emulation.common import COMMAND, STEP, Access
from handlers.emulation.criteria import Sheet, parse_sheet
from handlers.types import Choice, Reply
from storage import emulation as repo
from storage.emulation_models import EmulationBlock

__all__ = ["COMMAND", "STEP", "on_step", "resume", "start"]
# A criteria sheet is a page of text; anything bigger is not one.
MAX_SHEET_BYTES = 200_000


async def start(ctx: Ctx, args: str = "") -> None:
    """/thidua: the person's block, or a choice when they are in several."""
    found = await repo.blocks_of(ctx.session, ctx.person.id) if ctx.person else []
    if not found:
        ctx.say("emulation.no_block")
        return
    if len(found) == 1:
        await common.menu(ctx, found[0].id)
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
        await selfscore.ask_scoring(ctx)
    elif at in ("card", "adj", "adj_points", "adj_reason", "ret_reason", "award"):
        await crosscheck.show_card(ctx)
    elif ctx.data.get("block"):
        await common.menu(ctx, int(ctx.data["block"]))
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
        block_id = common.picked(pressed, "b:")
        if block_id is not None:
            await common.menu(ctx, block_id)
        else:
            await start(ctx)
        return
    access = await common.access_of(ctx, int(ctx.data.get("block") or 0))
    if access is None:
        ctx.goto("idle")
        ctx.say("emulation.no_block")
        return
    handler = {
        "menu": _on_menu,
        "titles": _on_titles,
        "covenant": _on_covenant,
        "score": selfscore.on_score,
        "extra": selfscore.on_extra,
        "summary": selfscore.on_summary,
        "fix": selfscore.on_fix,
        "cards": crosscheck.on_cards,
        "card": crosscheck.on_card,
        "adj": crosscheck.on_adjust_pick,
        "adj_points": crosscheck.on_adjust_points,
        "adj_reason": crosscheck.on_adjust_reason,
        "ret_reason": crosscheck.on_return_reason,
        "award": crosscheck.on_award,
        "rank": crosscheck.on_rank,
        "reports": reports.on_reports,
        "report": reports.on_report,
    }.get(str(at))
    if handler is None:
        await common.menu(ctx, access.block.id)
        return
    await handler(ctx, access, pressed)


async def _on_menu(ctx: Ctx, access: Access, pressed: str) -> None:
    block = access.block
    if ctx.event.kind == "document" and access.leads:
        await _take_sheet(ctx, block)
        return
    if pressed == "reg" and access.member:
        card = await repo.card(ctx.session, block.id, access.member)
        ctx.update(at="titles", titles=list(card.registration.get("titles", [])))
        _ask_titles(ctx, block)
    elif pressed == "score" and access.member:
        card = await repo.card(ctx.session, block.id, access.member)
        if card.status not in repo.EDITABLE:
            ctx.say("emulation.already_submitted")
            await common.menu(ctx, block.id)
            return
        sheet_row = await repo.published_sheet(ctx.session, block.id)
        if sheet_row is None:
            await common.menu(ctx, block.id)
            return
        sheet = Sheet.from_data(sheet_row.data)
        if card.sheet_id != sheet_row.id:
            card.sheet_id = sheet_row.id
        left = scoring.unscored(sheet, card.scores)
        index = sheet.criteria.index(left[0]) if left else None
        ctx.update(at="score" if index is not None else "summary", card=card.id, i=index or 0)
        await selfscore.ask_scoring(ctx)
    elif pressed == "view" and access.member:
        card = await repo.card(ctx.session, block.id, access.member)
        await crosscheck.show_card(ctx, card_id=card.id, back="menu")
    elif pressed == "rep" and access.member and reports.due_reports(block):
        await reports.show(ctx, access)
    elif pressed == "pub" and access.leads:
        await _publish(ctx, block)
    elif pressed == "cards" and access.leads:
        await crosscheck.list_cards(ctx, block)
    elif pressed == "rank" and access.leads:
        await crosscheck.show_rank(ctx, block)
    else:
        await common.refuse(ctx)
        await common.menu(ctx, block.id)


async def _publish(ctx: Ctx, block: EmulationBlock) -> None:
    latest = await repo.latest_sheet(ctx.session, block.id)
    if latest is None or latest.published_at is not None:
        await common.refuse(ctx)
        await common.menu(ctx, block.id)
        return
    assert ctx.person is not None
    latest.published_at, latest.published_by_id = ctx.services.now(), ctx.person.id
    await common.log(
        ctx,
        "emu_block",
        block.id,
        "criteria_published",
        role="block_leader",
        version=latest.version,
        title=latest.title,
    )
    sheet = Sheet.from_data(latest.data)
    for unit in await repo.members(ctx.session, block):
        reply = Reply(
            ctx.text("emulation.sheet_published", block=block, sheet=sheet, version=latest.version)
        )
        await common.tell_unit(ctx, unit.id, reply)
    ctx.say("emulation.published_done", sheet=sheet, version=latest.version)
    await common.menu(ctx, block.id)


async def _take_sheet(ctx: Ctx, block: EmulationBlock) -> None:
    """A criteria sheet sent as a .toml file by a leader: checked row by row, then kept as the
    next version (not yet published: the menu offers that)."""
    incoming = ctx.event.files[0]
    if not (incoming.file_name or "").lower().endswith(".toml"):
        ctx.say("emulation.sheet_not_toml", name=incoming.file_name or "")
        await common.menu(ctx, block.id)
        return
    try:
        data = await files.download(incoming, MAX_SHEET_BYTES)
        text = data.decode("utf-8-sig")
    except (files.FileTooLarge, files.FileUnavailable, UnicodeDecodeError):
        ctx.say("emulation.sheet_unreadable", name=incoming.file_name or "")
        return
    result = parse_sheet(text, tuple(ctx.services.campaign_ids))
    if result.sheet is None:
        ctx.say("emulation.sheet_errors", name=incoming.file_name or "", errors=result.errors)
        return
    sheet = result.sheet
    row, new = await repo.add_sheet_if_changed(
        ctx.session, block.id, sheet.title, sheet.to_data(), ctx.services.now()
    )
    if new:
        await common.log(
            ctx, "emu_block", block.id, "criteria_loaded", role="block_leader",
            version=row.version, title=row.title, file=incoming.file_name or "",
        )  # fmt: skip
    ctx.say("emulation.sheet_loaded", sheet=sheet, version=row.version, new=new)
    await common.menu(ctx, block.id)


def _ask_titles(ctx: Ctx, block: EmulationBlock) -> None:
    chosen = list(ctx.data.get("titles", []))
    titles = list(block.settings.get("titles", []))
    choices = [Choice(("✅ " if t in chosen else "▫️ ") + t, f"t:{i}") for i, t in enumerate(titles)]
    choices.append(common.button(ctx, "titles_done", "done"))
    choices.append(common.button(ctx, "back", "back"))
    ctx.say("emulation.ask_titles", block=block, chosen=chosen, choices=choices)


async def _on_titles(ctx: Ctx, access: Access, pressed: str) -> None:
    titles = list(access.block.settings.get("titles", []))
    chosen = list(ctx.data.get("titles", []))
    index = common.picked(pressed, "t:", len(titles))
    if index is not None:
        title = titles[index]
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
            choices=[common.button(ctx, "sign", "sign"), common.button(ctx, "back", "back")],
        )
    elif pressed == "back":
        await common.menu(ctx, access.block.id)
    else:
        await common.refuse(ctx)
        _ask_titles(ctx, access.block)


async def _on_covenant(ctx: Ctx, access: Access, pressed: str) -> None:
    if pressed == "back":
        await common.menu(ctx, access.block.id)
        return
    if pressed != "sign" or not access.member:
        await common.refuse(ctx)
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
    await common.log(ctx, "emu_card", card.id, "registered", role="unit_head", titles=titles)
    await common.log(ctx, "emu_card", card.id, "covenant_signed", role="unit_head")
    ctx.say("emulation.registered", titles=titles, at=ctx.services.local(now))
    await common.tell_leaders(
        ctx,
        access.block,
        Reply(ctx.text("emulation.registered_to_leaders", unit=card.unit, titles=titles)),
    )
    await common.menu(ctx, access.block.id)
