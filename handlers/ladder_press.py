"""The nomination ladder's buttons: "!n:<action>:<submission id>:<level>".

Kept apart from handlers.ladder so that the review (level 0) can offer "send up" on its
approved card without importing the ladder's handlers, which build on the review's.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.ids import parse_id
from handlers.services import Services
from handlers.types import Choice, Reply

LADDER = "n"
UP, SELECT, RETURN, NOT_SELECTED = "up", "ok", "rt", "no"
ACTIONS = (UP, SELECT, RETURN, NOT_SELECTED)


@dataclass(frozen=True)
class LadderPress:
    """A parsed ladder button: `level` is the level sent to (up) or deciding (the others)."""

    action: str
    submission_id: int
    level: int

    @classmethod
    def parse(cls, payload: str) -> LadderPress | None:
        """The press behind "!n:ok:12:1", or None for anything malformed."""
        parts = payload.lstrip("!").split(":")
        if len(parts) != 4 or parts[0] != LADDER or parts[1] not in ACTIONS:
            return None
        submission_id, level = parse_id(parts[2]), parse_id(parts[3])
        if submission_id is None or level is None:
            return None
        return cls(parts[1], submission_id, level)

    def data(self) -> str:
        """The callback data for this press."""
        return f"!{LADDER}:{self.action}:{self.submission_id}:{self.level}"


def stage(level: int) -> str:
    """The outbox stage of a level's cards, so a decision edits every one of them."""
    return f"{LADDER}{level}"


def up_choices(
    services: Services, ladder: tuple[str, ...], sub_id: int, level: int
) -> list[Choice]:
    """ "Send up" to the level above `level`, if there is one (else nothing)."""
    if level + 1 >= len(ladder):
        return []
    label = services.texts.render("ladder.button_up", name=ladder[level + 1])
    return [Choice(label, LadderPress(UP, sub_id, level + 1).data())]


def offer_up(
    services: Services, reply: Reply, ladder: tuple[str, ...], code: str, sub_id: int, level: int
) -> Reply:
    """`reply` (a decided card) with "send up" to the level above `level`, if there is one.

    The one who decided gets the same button on their confirmation: Telegram strips the
    pressed card's buttons once the press is taken, so the edit may lose it there.
    """
    choices = up_choices(services, ladder, sub_id, level)
    if choices:
        reply.choices = choices
        name = ladder[level + 1]
        reply.typed_hint = services.texts.render("ladder.typed_up", code=code, name=name)
    return reply
