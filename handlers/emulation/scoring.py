"""Totals and the ranking of a block, from the sheet and the cards (no database, no text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handlers.emulation.criteria import DEDUCTION, Criterion, Sheet


def _signed(criterion: Criterion, points: float) -> float:
    return -points if criterion.kind == DEDUCTION else points


def self_total(sheet: Sheet, scores: dict[str, Any]) -> float:
    """The unit's own total: its scores and bonuses, less its deductions."""
    total = 0.0
    for c in sheet.criteria:
        entry = scores.get(c.id) or {}
        if entry.get("self") is not None:
            total += _signed(c, float(entry["self"]))
    return round(total, 2)


def final_points(entry: dict[str, Any]) -> float | None:
    """A criterion's score after the cross-check: the block's if it adjusted, else the unit's."""
    if entry.get("block") is not None:
        return float(entry["block"])
    if entry.get("self") is not None:
        return float(entry["self"])
    return None


def block_total(sheet: Sheet, scores: dict[str, Any]) -> float:
    """The total after the block's adjustments."""
    total = 0.0
    for c in sheet.criteria:
        points = final_points(scores.get(c.id) or {})
        if points is not None:
            total += _signed(c, points)
    return round(total, 2)


def unscored(sheet: Sheet, scores: dict[str, Any]) -> list[Criterion]:
    """Criteria still without the unit's score (bonus and deduction lines may stay empty)."""
    return [
        c
        for c in sheet.criteria
        if c.kind not in ("bonus", DEDUCTION) and (scores.get(c.id) or {}).get("self") is None
    ]


@dataclass
class Ranked:
    """One unit's line in the block's result."""

    card_id: int
    unit_name: str
    self_total: float
    block_total: float
    rank: int
    submitted_at: datetime | None
    late: bool
    award: str | None
    adjusted: int


def rank(
    rows: list[tuple[int, str, dict[str, Any], datetime | None, bool, str | None]], sheet: Sheet
) -> list[Ranked]:
    """The block's ranking. Rule: the higher block score ranks first; on equal scores the
    sheet sent earlier ranks first (letter 004 asks members to report on time), and a late
    sheet after every on-time one with the same score; the unit name only orders what is
    still equal, and such units share the rank.

    `rows` are (card id, unit name, scores, submitted at, late, award) of submitted sheets.
    """
    lines = [
        Ranked(
            card_id=card_id,
            unit_name=name,
            self_total=self_total(sheet, scores),
            block_total=block_total(sheet, scores),
            rank=0,
            submitted_at=submitted,
            late=late,
            award=award,
            adjusted=sum(1 for e in scores.values() if (e or {}).get("block") is not None),
        )
        for card_id, name, scores, submitted, late, award in rows
    ]

    def key(r: Ranked) -> tuple[float, bool, float]:
        moment = r.submitted_at.timestamp() if r.submitted_at else float("inf")
        return (-r.block_total, r.late, moment)

    lines.sort(key=lambda r: (*key(r), r.unit_name))
    for i, line in enumerate(lines):
        if i and key(line) == key(lines[i - 1]):
            line.rank = lines[i - 1].rank
        else:
            line.rank = i + 1
    return lines
