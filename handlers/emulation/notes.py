"""A criterion's note written on the web page (the story editor in its character-count mode),
for channels where a long note is hard to type in one message (Zalo, the console).

The page writes the same entry of the same card the chat writes, through the same cleaning
and limit (common.clean_note, common.note_fits), only while the card may still be changed by
this person: they head its unit, the unit is in the block, the card is a draft or was sent
back, and it is still scored against the sheet version the link was made for.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.emulation import common
from handlers.emulation.criteria import Criterion, Sheet
from handlers.notify import Notifier
from handlers.services import Services
from handlers.types import Reply
from storage import emulation as repo
from storage import events
from storage.emulation_models import EmulationBlock, EmulationCard
from storage.models import Person

CHANNEL = "web"


@dataclass
class NoteDraft:
    """What the page shows and changes: one criterion's note on one unit's card."""

    card: EmulationCard
    block: EmulationBlock
    criterion: Criterion
    index: int
    value: str
    limit: int

    @property
    def chars(self) -> int:
        """The note's length in characters, as the limit counts it."""
        return len(self.value)


@dataclass
class NoteSaved:
    """A save's outcome: whether the note changed, and the problem when it was kept out."""

    stored: bool
    problem: str | None
    values: dict[str, int]
    note: str


async def editable(
    session: AsyncSession,
    person_id: int,
    card_id: int,
    sheet_id: int,
    index: int,
    lock: bool = False,
) -> NoteDraft | None:
    """The note, if this person may still change it; None otherwise (another person's card,
    a sheet sent to the block, a newer sheet version, a criterion that is not there)."""
    card = await repo.card_by_id(session, card_id, lock=lock)
    if card is None or card.sheet_id != sheet_id or card.status not in repo.EDITABLE:
        return None
    block = await repo.block(session, card.block_id)
    if block is None or card.unit_id not in repo.member_ids(block):
        return None
    if card.unit_id not in await repo.headed_units(session, person_id):
        return None
    sheet_row = await repo.sheet(session, sheet_id)
    if sheet_row is None:
        return None
    criteria = Sheet.from_data(sheet_row.data).criteria
    if not 0 <= index < len(criteria):
        return None
    criterion = criteria[index]
    value = str((card.scores.get(criterion.id) or {}).get("note") or "")
    return NoteDraft(card, block, criterion, index, value, common.NOTE_MAX)


def check(raw: str) -> tuple[str, str | None]:
    """The note as the chat would keep it, or the name of the problem that keeps it out
    (templates/web/editor_messages.html)."""
    text = common.clean_note(raw)
    if not text:
        return "", "note_empty"
    if not common.note_fits(text):
        return text, "note_over"
    return text, None


async def save(
    session: AsyncSession, services: Services, note: NoteDraft, person: Person, raw: str
) -> NoteSaved:
    """Keep the typed note if it passes the chat's checks; one event records the change."""
    text, problem = check(raw)
    if problem is not None:
        return NoteSaved(False, problem, {"chars": len(text), "limit": note.limit}, note.value)
    if text == note.value:
        return NoteSaved(False, None, {"chars": len(text), "limit": note.limit}, note.value)
    common.set_entry(note.card, note.criterion, note=text)
    note.value = text
    await events.record(
        session,
        at=services.now(),
        subject="emu_card",
        subject_id=note.card.id,
        action="note_set",
        actor_id=person.id,
        channel=CHANNEL,
        data={"role": "unit_head", "criterion": note.criterion.id, "note": text},
    )
    return NoteSaved(True, None, {"chars": len(text), "limit": note.limit}, text)


async def finish(
    session: AsyncSession, services: Services, note: NoteDraft, person: Person
) -> None:
    """ "Xong" on the page: the person's chats are told the note is kept, and how to go on."""
    text = services.texts.render(
        "emulation.web_note_saved", criterion=note.criterion, chars=note.chars, limit=note.limit
    )
    await Notifier(session, services).to_person(person, Reply(text))
