"""Letter 004's periodic reports (6-month, year-end): each member unit sends its report file
or link to the block in chat; kept on the unit's card, with due dates and reminders."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.context import Ctx
from handlers.emulation import common
from handlers.emulation.common import Access
from handlers.notify import Notifier
from handlers.reminders import FROM_HOUR
from handlers.services import Services
from handlers.types import Choice, Reply
from storage import emulation as repo
from storage import marks, roles
from storage.emulation_models import EmulationBlock, EmulationCard

# Reminders start this many days before a report is due and stop this long after.
REMIND_BEFORE = timedelta(days=3)
REMIND_AFTER = timedelta(days=30)


def due_reports(block: EmulationBlock) -> list[dict[str, str]]:
    """The reports the block asks for: key, name, due date (ISO)."""
    return list(block.settings.get("reports", []))


def _sent(card: EmulationCard, key: str) -> list[dict[str, Any]]:
    return list((card.reports.get(key) or {}).get("files", []))


async def show(ctx: Ctx, access: Access) -> None:
    """The block's reports with the unit's state for each; pick one to send it."""
    assert access.member is not None
    card = await repo.card(ctx.session, access.block.id, access.member)
    reports = due_reports(access.block)
    ctx.update(at="reports")
    choices = [Choice(r["name"], f"r:{r['key']}") for r in reports]
    choices.append(common.button(ctx, "back", "back"))
    ctx.say(
        "emulation.reports",
        reports=[(r, date.fromisoformat(r["due"]), card.reports.get(r["key"])) for r in reports],
        local=ctx.services.local,
        choices=choices,
    )


async def on_reports(ctx: Ctx, access: Access, pressed: str) -> None:
    """A report picked from the list."""
    keys = {r["key"]: r for r in due_reports(access.block)}
    if pressed == "back" or not access.member:
        await common.menu(ctx, access.block.id)
    elif pressed.startswith("r:") and pressed[2:] in keys:
        report = keys[pressed[2:]]
        ctx.update(at="report", report=report["key"])
        ctx.say(
            "emulation.ask_report",
            report=report,
            due=date.fromisoformat(report["due"]),
            choices=[common.button(ctx, "report_done", "done")],
        )
    else:
        await common.refuse(ctx)
        await show(ctx, access)


async def on_report(ctx: Ctx, access: Access, pressed: str) -> None:
    """A file or link for the report being sent, or «Xong»."""
    keys = {r["key"]: r for r in due_reports(access.block)}
    report = keys.get(str(ctx.data.get("report")))
    if report is None or not access.member:
        await common.menu(ctx, access.block.id)
        return
    card = await repo.card(ctx.session, access.block.id, access.member)
    if pressed == "done":
        await show(ctx, access)
        return
    event = ctx.event
    kept = _sent(card, report["key"])
    added: list[dict[str, Any]] = []
    lines: list[str] = []
    if event.kind in ("photo", "document"):
        for incoming in event.files:
            said, entry = await common.store_file(ctx, incoming, [*kept, *added])
            lines.append(said)
            if entry is not None:
                added.append(entry)
    elif event.kind == "text" and not pressed:
        text = " ".join(event.text.split())
        if text.lower().startswith(("http://", "https://")) and " " not in text:
            added.append({"kind": "link", "url": text[:500]})
            lines.append(ctx.text("emulation.report_link_taken"))
    if not added:
        if not lines:
            ctx.say("emulation.report_needs_file")
        else:
            ctx.say("emulation.report_taken", lines=lines, count=len(kept),
                    choices=[common.button(ctx, "report_done", "done")])  # fmt: skip
        return
    assert ctx.person is not None
    now = ctx.services.now()
    first = not kept
    due = date.fromisoformat(report["due"])
    late = ctx.services.local(now).date() > due
    entry = dict(card.reports.get(report["key"]) or {})
    entry.update(files=[*kept, *added], by=ctx.person.id)
    if first:
        entry.update(at=now.isoformat(), late=late)
    # Reassigned so the JSON column is written.
    card.reports = {**card.reports, report["key"]: entry}
    for item in added:
        await common.log(ctx, "emu_card", card.id, "report_sent", role="unit_head",
                         report=report["key"], kind=item["kind"], late=late)  # fmt: skip
    ctx.say("emulation.report_taken", lines=lines, count=len(kept) + len(added),
            choices=[common.button(ctx, "report_done", "done")])  # fmt: skip
    if first:
        text = ctx.text("emulation.report_to_leaders", unit=card.unit, report=report, late=late)
        await common.tell_leaders(ctx, access.block, Reply(text))


async def remind_reports(session: AsyncSession, services: Services) -> int:
    """From three days before a report is due until a month after, remind each day the heads
    of units that have not sent it; returns how many units were reminded."""
    now, today = services.now(), services.today()
    if services.local(now).hour < FROM_HOUR:
        return 0
    notifier = Notifier(session, services)
    reminded = 0
    for block in await repo.blocks(session):
        for report in due_reports(block):
            due = date.fromisoformat(report["due"])
            if not due - REMIND_BEFORE <= today <= due + REMIND_AFTER:
                continue
            for unit in await repo.members(session, block):
                card = await repo.card(session, block.id, unit.id)
                heads = await roles.unit_heads(session, unit.id)
                if _sent(card, report["key"]) or not heads:
                    continue
                key = f"{block.id}:{unit.id}:{report['key']}"
                if not await marks.once(session, "emu_report", key, today, now):
                    continue
                text = services.texts.render(
                    "emulation.report_reminder", block=block, report=report, due=due,
                    late=today > due,
                )  # fmt: skip
                for head in heads:
                    await notifier.to_person(head, Reply(text))
                reminded += 1
    return reminded
