"""Daily nudges: units below their monthly quota, and each reviewer's queue as one digest."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import reports, review
from handlers.notify import Notifier
from handlers.services import Services
from handlers.types import Reply
from storage import marks, roles
from storage import submissions as repo
from storage.models import Person, Submission

# Nobody wants a reminder at midnight: the first tick after this hour sends the day's.
FROM_HOUR = 7


async def remind_quota(session: AsyncSession, services: Services) -> int:
    """On a campaign's reminder days, remind the heads of units below quota (once per unit/day)."""
    now, today = services.now(), services.today()
    if services.local(now).hour < FROM_HOUR:
        return 0
    reminded = 0
    notifier = Notifier(session, services)
    for campaign in services.open_campaigns():
        if today.day not in campaign.reminder_days or today.day >= campaign.monthly_deadline_day:
            continue
        rows = await reports.monthly(
            session,
            campaign,
            services.campaign_ids[campaign.slug],
            today.replace(day=1),
            services.tz,
        )
        deadline = date(today.year, today.month, campaign.monthly_deadline_day)
        for row in rows:
            heads = await roles.unit_heads(session, row.unit.id)
            if row.met or not heads:
                continue
            if not await marks.once(session, "quota", f"{campaign.slug}:{row.unit.id}", today, now):
                continue
            reply = Reply(
                services.texts.render(
                    "reminders.quota", campaign=campaign, row=row, deadline=deadline
                )
            )
            for head in heads:
                await notifier.to_person(head, reply)
            reminded += 1
    return reminded


async def digests(session: AsyncSession, services: Services) -> int:
    """Once a day, each reviewer and unit head with stories waiting gets the list."""
    now, today = services.now(), services.today()
    if services.local(now).hour < FROM_HOUR:
        return 0
    waiting = await repo.waiting(session, (repo.SUBMITTED, repo.IN_REVIEW))
    if not waiting:
        return 0
    people: dict[int, Person] = {}
    for role in (roles.REVIEWER, roles.UNIT_HEAD):
        for _grant, person in await roles.holders(session, role):
            people[person.id] = person
    sent = 0
    notifier = Notifier(session, services)
    for person in people.values():
        grants = await roles.of(session, person.id)
        mine: list[tuple[Submission, int]] = []
        for sub in waiting:
            stage = review.UNIT if sub.status == repo.SUBMITTED else review.REVIEW
            if (await review.allowed(session, grants, False, sub, stage))[0]:
                since = sub.status_since or sub.created_at
                mine.append((sub, (now - since).days))
        if not mine or not await marks.once(session, "digest", str(person.id), today, now):
            continue
        await notifier.to_person(
            person, Reply(services.texts.render("reminders.digest", items=mine))
        )
        sent += 1
    return sent
