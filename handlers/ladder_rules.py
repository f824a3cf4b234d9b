"""The ladder's rules per level (issue 20): when a level takes stories, and how many a month.

A campaign's `ladder` entries may carry `opens`, `closes` and `quota`. Sending a story up to
a level is refused outside its window, or when the level below has already sent the month's
quota; once a level has closed, deciding at it is refused too (the level is locked). These
checks are pure: the caller gives today's date and the month's count, and gets back None
(allowed) or a Refusal that the chat renders politely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from handlers.campaigns import CampaignSpec

NOT_OPEN = "not_open"  # the level's window has not started
CLOSED = "closed"  # the level's window has ended
QUOTA = "quota"  # the month's quota to that level is used up


@dataclass(frozen=True)
class Refusal:
    """Why a ladder step is refused: `reason` is one of NOT_OPEN, CLOSED, QUOTA, with the
    values the message shows (the window's days, the quota used and its total)."""

    reason: str
    name: str
    opens: date | None = None
    closes: date | None = None
    used: int = 0
    quota: int = 0


def window_refusal(spec: CampaignSpec, level: int, today: date) -> Refusal | None:
    """Why `level` does not take stories sent up on `today`, or None when it does."""
    rule = spec.rule(level)
    if rule.opens is not None and today < rule.opens:
        return Refusal(NOT_OPEN, rule.organisation, rule.opens, rule.closes)
    if rule.closes is not None and today > rule.closes:
        return Refusal(CLOSED, rule.organisation, rule.opens, rule.closes)
    return None


def send_up_refusal(spec: CampaignSpec, level: int, today: date, used: int) -> Refusal | None:
    """Why a story may not be sent up to `level` on `today`, when `used` stories have already
    been sent up to it this calendar month; None when it may."""
    refusal = window_refusal(spec, level, today)
    if refusal is not None:
        return refusal
    rule = spec.rule(level)
    if rule.quota is not None and used >= rule.quota:
        return Refusal(QUOTA, rule.organisation, rule.opens, rule.closes, used, rule.quota)
    return None


def lock_level(spec: CampaignSpec, level: int, today: date) -> Refusal | None:
    """Why `level` may no longer decide on `today` (it has closed), or None when it may.

    Only the end counts: a story sent up before the level opened cannot be, so a pending one
    may always be decided until the level closes. Level 0, the campaign's own review, has no
    ladder window (its dates are the campaign's).
    """
    if level == 0:
        return None
    rule = spec.rule(level)
    if rule.closes is not None and today > rule.closes:
        return Refusal(CLOSED, rule.organisation, rule.opens, rule.closes)
    return None


def quota_applies(spec: CampaignSpec, level: int) -> bool:
    """Whether sending up to `level` is counted against a monthly quota."""
    return spec.rule(level).quota is not None
