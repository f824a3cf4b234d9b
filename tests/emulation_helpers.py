"""Helpers for the emulation (letter 004) tests: the app with the example block, and people
typing in the console channel through the real application."""

from __future__ import annotations

from pathlib import Path

from bot import blocks_file
from bot.app import GuongSang
from bot.settings import Settings
from handlers.types import IncomingFile, Response
from templates import to_plain
from tests.apps import FIXTURES, Clock, start_app
from tests.drivers import invite_code, typed, typed_photo

EMULATION = FIXTURES / "emulation"
BLOCK_UNITS = {
    "head": "Trường THCS Nhân Chính",
    "deputy": "Trường THCS Thanh Xuân",
    "kd": "Trường THCS Khương Đình",
    "kg": "Trường THCS Kim Giang",
}


def emulation_settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings with the campaigns file that holds the example block."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        config=EMULATION / "campaigns.toml",
        admins="telegram:999",
        # A head fills a sheet of ten criteria in one go, far faster than a person types; the
        # flood limit (real time) is not what these tests are about.
        user_message_burst=10_000,
    )


async def start_emulation_app(settings: Settings, clock: Clock) -> GuongSang:
    """The real app with the sample units and the block synced (as the next start does)."""
    app = await start_app(settings, clock)
    await sync_blocks(app)
    return app


async def sync_blocks(app: GuongSang) -> None:
    """Write the campaigns file's blocks, now that the units they name are imported."""
    async with app.db.transaction() as session:
        problems = await blocks_file.sync(session, app.blocks, app.services.now())
    assert problems == []


def plain(response: Response) -> str:
    """Everything a console user reads in one response."""
    return "\n".join(to_plain(r.text) for r in response.replies)


def number_of(response: Response, label: str) -> str:
    """The number to type for the choice whose label holds `label` (newest numbered list)."""
    with_choices = [r for r in response.replies if r.choices]
    assert with_choices, plain(response)
    for n, choice in enumerate(with_choices[-1].choices, start=1):
        if label in choice.label:
            return str(n)
    raise AssertionError(f"no choice «{label}» in {[c.label for c in with_choices[-1].choices]}")


class Console:
    """One person typing in the console channel."""

    def __init__(self, app: GuongSang, name: str) -> None:
        self.app, self.name = app, name
        self.last = Response()

    async def send(self, text: str) -> str:
        """Type a line; returns what the bot answers, as plain text."""
        self.last = await self.app.handle(typed(self.name, text))
        return plain(self.last)

    async def choose(self, label: str) -> str:
        """Type the number of the choice labelled `label`."""
        return await self.send(number_of(self.last, label))

    async def document(self, name: str, data: bytes) -> str:
        """Send a document (a file, not a photo)."""

        async def fetch() -> bytes:
            return data

        event = typed(self.name, "")
        event.kind = "document"
        event.files = [
            IncomingFile(kind="document", file_id=f"d{event.update_key}", fetch=fetch,
                         file_name=name, size=len(data))
        ]  # fmt: skip
        self.last = await self.app.handle(event)
        return plain(self.last)

    async def photo(self, data: bytes) -> str:
        """Send a photo."""
        self.last = await self.app.handle(typed_photo(self.name, data))
        return plain(self.last)


async def unit_head(app: GuongSang, name: str, unit: str) -> Console:
    """A unit head who joined with an invitation (no registration needed)."""
    person = Console(app, name)
    text = await person.send(f"/start {await invite_code(app, 'unit_head', unit)}")
    assert unit in text, text
    return person
