"""/baocao: the office's lists and reports in chat, chosen from a menu, never typed from memory.

The menu lists only what the person may ask for (handlers.office_exports), then asks for the
campaign, month or block the file is of, then sends the file (a download link where the
channel sends no files). `/baocao monthly <campaign> 2024-01` asks in one line.

Every press is checked again on the server: the scope is read from the person's roles when
the file is made, so a forged or stale press for an export, a campaign or a block out of their
reach is refused politely, recorded (`export_refused`) and makes nothing.
"""

from __future__ import annotations

from datetime import date

from handlers import outgoing, reports
from handlers.context import Ctx
from handlers.ids import parse_id
from handlers.office_exports import (
    BLOCK,
    EXPORTS,
    Export,
    Picked,
    Scope,
    blocks_for,
    campaigns_for,
    offered,
    scope_of,
)
from handlers.types import Choice
from storage import emulation, events

STEP = "office"
COMMAND = "baocao"
# Months offered as buttons for the monthly report: this one and the two before.
MONTHS_OFFERED = 3


async def _scope(ctx: Ctx) -> Scope:
    return await scope_of(ctx.session, ctx.person.id if ctx.person else None, ctx.is_admin)


async def start(ctx: Ctx, args: str = "") -> None:
    """/baocao [export campaign-or-block [YYYY-MM]]: the menu, or the file asked in one line."""
    scope = await _scope(ctx)
    allowed = offered(scope)
    if not allowed:
        ctx.goto("idle")
        ctx.say("office.not_allowed")
        return
    if args.strip():
        await _one_line(ctx, scope, args.split())
        return
    ctx.goto(STEP, at="what")
    ctx.say(
        "office.menu",
        choices=[Choice(ctx.text(f"office.export_{e.key}"), f"x:{e.key}") for e in allowed]
        + [Choice(ctx.text("office.close_button"), "close")],
    )


async def resume(ctx: Ctx) -> None:
    """Ask again for what the current place in the menu waits for."""
    export = EXPORTS.get(str(ctx.data.get("export", "")))
    at = ctx.data.get("at")
    if export is None or at == "what":
        await start(ctx)
    elif at == "month":
        _ask_month(ctx, export)
    else:
        await _ask_subject(ctx, await _scope(ctx), export)


async def on_step(ctx: Ctx) -> None:
    """Take a press (or a typed month) at the current place in the menu."""
    pressed = ctx.event.button if ctx.event.kind == "button" else ""
    if pressed == "close":
        ctx.goto("idle")
        ctx.say("office.closed")
        return
    scope = await _scope(ctx)
    at = ctx.data.get("at")
    if at == "what":
        if not pressed.startswith("x:"):
            await start(ctx)
            return
        export = EXPORTS.get(pressed[2:])
        if export is None or not export.allowed(scope):
            await _refuse(ctx, pressed[2:], scope)
            return
        await _ask_subject(ctx, scope, export)
        return
    export = EXPORTS.get(str(ctx.data.get("export", "")))
    if export is None or not export.allowed(scope):
        await _refuse(ctx, str(ctx.data.get("export", "")), scope)
        return
    if at == "campaign":
        index = parse_id(pressed[2:]) if pressed.startswith("c:") else None
        campaigns = campaigns_for(ctx.services, export)
        if index is None or index >= len(campaigns):
            await _ask_subject(ctx, scope, export)
            return
        campaign = campaigns[index]
        if export.monthly:
            ctx.update(at="month", campaign=campaign.slug)
            _ask_month(ctx, export)
            return
        await _make(ctx, scope, export, Picked(campaign=campaign))
    elif at == "month":
        raw = pressed[2:] if pressed.startswith("m:") else ctx.event.text
        month = reports.parse_month(raw.strip()) if raw.strip() else None
        campaign = ctx.services.campaign(str(ctx.data.get("campaign", "")))
        if month is None or campaign is None:
            _ask_month(ctx, export)
            return
        await _make(ctx, scope, export, Picked(campaign=campaign, month=month))
    elif at == "block":
        block_id = parse_id(pressed[2:]) if pressed.startswith("b:") else None
        block = await emulation.block(ctx.session, block_id) if block_id is not None else None
        if block is None:
            await _ask_subject(ctx, scope, export)
            return
        if not scope.leads(block):
            await _refuse(ctx, export.key, scope, block=block.slug)
            return
        await _make(ctx, scope, export, Picked(block=block))
    else:
        await start(ctx)


async def _ask_subject(ctx: Ctx, scope: Scope, export: Export) -> None:
    """Ask which campaign (or block) the export is of."""
    if export.needs == BLOCK:
        blocks = await blocks_for(ctx.session, scope)
        if not blocks:
            ctx.goto("idle")
            ctx.say("office.no_blocks")
            return
        ctx.goto(STEP, at="block", export=export.key)
        ctx.say(
            "office.pick_block",
            export=ctx.text(f"office.export_{export.key}"),
            choices=[Choice(f"{b.name} ({b.year})", f"b:{b.id}") for b in blocks]
            + [Choice(ctx.text("office.close_button"), "close")],
        )
        return
    campaigns = campaigns_for(ctx.services, export)
    if not campaigns:
        ctx.goto("idle")
        ctx.say("office.no_campaigns", export=ctx.text(f"office.export_{export.key}"))
        return
    ctx.goto(STEP, at="campaign", export=export.key)
    ctx.say(
        "office.pick_campaign",
        export=ctx.text(f"office.export_{export.key}"),
        choices=[Choice(c.title, f"c:{i}") for i, c in enumerate(campaigns)]
        + [Choice(ctx.text("office.close_button"), "close")],
    )


def _ask_month(ctx: Ctx, export: Export) -> None:
    this_month = ctx.services.today().replace(day=1)
    months = [this_month]
    for _ in range(MONTHS_OFFERED - 1):
        previous = months[-1]
        months.append(date(previous.year - (previous.month == 1), (previous.month - 2) % 12 + 1, 1))
    ctx.say(
        "office.pick_month",
        example=months[1],
        choices=[Choice(f"{m:%m/%Y}", f"m:{m:%Y-%m}") for m in months]
        + [Choice(ctx.text("office.close_button"), "close")],
    )


async def _one_line(ctx: Ctx, scope: Scope, words: list[str]) -> None:
    """`/baocao <export> <campaign or block> [YYYY-MM]` (export as in the menu's keys)."""
    export = EXPORTS.get(words[0].lower())
    if export is None:
        ctx.goto("idle")
        ctx.say("office.unknown_export", raw=words[0][:40], keys=[e.key for e in offered(scope)])
        return
    if not export.allowed(scope):
        await _refuse(ctx, export.key, scope)
        return
    if len(words) < 2:
        await _ask_subject(ctx, scope, export)
        return
    if export.needs == BLOCK:
        block = await emulation.block_by_slug(ctx.session, words[1])
        if block is None:
            await _ask_subject(ctx, scope, export)
            return
        if not scope.leads(block):
            await _refuse(ctx, export.key, scope, block=block.slug)
            return
        await _make(ctx, scope, export, Picked(block=block))
        return
    campaign = next((c for c in campaigns_for(ctx.services, export) if c.slug == words[1]), None)
    if campaign is None:
        await _ask_subject(ctx, scope, export)
        return
    if export.yearly:
        typed = words[2] if len(words) > 2 else ""
        # A year outside reason is taken as no year: this year's summary is made.
        year = int(typed) if typed.isdigit() and 2000 <= int(typed) <= 2100 else None
        await _make(ctx, scope, export, Picked(campaign=campaign, year=year))
        return
    if not export.monthly:
        await _make(ctx, scope, export, Picked(campaign=campaign))
        return
    month = reports.parse_month(words[2]) if len(words) > 2 else None
    if month is None:
        ctx.goto(STEP, at="month", export=export.key, campaign=campaign.slug)
        _ask_month(ctx, export)
        return
    await _make(ctx, scope, export, Picked(campaign=campaign, month=month))


async def _make(ctx: Ctx, scope: Scope, export: Export, picked: Picked) -> None:
    """Build the file within the person's scope, send it, record who had what."""
    built = await export.build(ctx.session, ctx.services, scope, picked)
    path = outgoing.write_export(ctx, built.name, built.data)
    ctx.goto("idle")
    outgoing.send_file(
        ctx,
        path,
        built.name,
        "office.file_caption",
        export=ctx.text(f"office.export_{export.key}"),
        count=built.count,
        subject=picked.block.name if picked.block else picked.campaign.title,  # type: ignore[union-attr]
        month=picked.month,
        year=picked.year or (ctx.services.today().year if export.yearly else None),
    )
    await events.record(
        ctx.session,
        subject="export",
        subject_id=ctx.person.id if ctx.person else 0,
        action="export_sent",
        actor_id=ctx.person.id if ctx.person else None,
        channel=ctx.event.channel,
        data={
            "what": export.key,
            "scope": scope.describe(),
            "campaign": picked.campaign.slug if picked.campaign else None,
            "block": picked.block.slug if picked.block else None,
            "month": f"{picked.month:%Y-%m}" if picked.month else None,
            "year": picked.year,
            "lines": built.count,
            "as": "file" if ctx.event.caps.files else "link",
        },
        at=ctx.services.now(),
    )


async def _refuse(ctx: Ctx, what: str, scope: Scope, block: str | None = None) -> None:
    """A press or request out of the person's reach: nothing is made; it is recorded."""
    ctx.goto("idle")
    ctx.notice("office.refused")
    ctx.say("office.refused")
    ctx.response.press_accepted = False
    await events.record(
        ctx.session,
        subject="export",
        subject_id=ctx.person.id if ctx.person else 0,
        action="export_refused",
        actor_id=ctx.person.id if ctx.person else None,
        channel=ctx.event.channel,
        data={"what": what[:40], "scope": scope.describe(), "block": block},
        at=ctx.services.now(),
    )
