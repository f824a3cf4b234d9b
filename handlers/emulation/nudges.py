"""Reminders to member units that have not sent their self-scoring sheet.

From `remind_days_before` days before the block's deadline, and every day after it while the
sheet is still missing (late sheets are taken and marked late), once a day per unit.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.emulation import reports
from handlers.notify import Notifier
from handlers.reminders import FROM_HOUR
from handlers.services import Services
from handlers.types import Reply
from storage import emulation as repo
from storage import marks, roles


async def remind_scoring(session: AsyncSession, services: Services) -> int:
    """Remind the heads of units whose sheet or periodic report is not sent; returns how many
    reminders (a unit missing both gets two)."""
    now, today = services.now(), services.today()
    if services.local(now).hour < FROM_HOUR:
        return 0
    notifier = Notifier(session, services)
    reminded = 0
    for block in await repo.blocks(session):
        raw = block.settings.get("score_deadline")
        if not raw or await repo.published_sheet(session, block.id) is None:
            continue
        deadline = date.fromisoformat(raw)
        days = int(block.settings.get("remind_days_before", 3))
        if today < deadline - timedelta(days=days):
            continue
        for unit in await repo.members(session, block):
            card = await repo.card(session, block.id, unit.id)
            if card.status not in repo.EDITABLE:
                continue
            heads = await roles.unit_heads(session, unit.id)
            if not heads or not await marks.once(
                session, "emu_score", f"{block.id}:{unit.id}", today, now
            ):
                continue
            text = services.texts.render(
                "emulation.reminder", block=block, deadline=deadline, late=today > deadline
            )
            for head in heads:
                await notifier.to_person(head, Reply(text))
            reminded += 1
    return reminded + await reports.remind_reports(session, services)
