"""What handlers need from the outside world, handed in by the application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from handlers.campaigns import CampaignSpec
from handlers.flood import FloodGuard
from storage.db import Database
from templates import Texts


def system_clock() -> datetime:
    """The real current time, in UTC."""
    return datetime.now(UTC)


@dataclass
class Services:
    """Shared, long-lived parts: database, texts, campaigns, limits and the clock."""

    db: Database
    texts: Texts
    campaigns: list[CampaignSpec]
    media_dir: Path
    max_upload_bytes: int = 20 * 1024 * 1024
    admins: set[tuple[str, str]] = field(default_factory=set)
    clock: Callable[[], datetime] = system_clock
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    campaign_ids: dict[str, int] = field(default_factory=dict)
    public_url: str = "http://127.0.0.1:8080"
    # Set by channels when they connect: the bot's own username per channel, for deep links.
    bot_usernames: dict[str, str] = field(default_factory=dict)
    flood: FloodGuard = field(default_factory=FloodGuard)
    # The web editor's signed link for (person id, draft id), when the app serves it.
    editor_link: Callable[[int, int], str] | None = None
    # The same page's signed link for an emulation criterion's note: (person id, card id,
    # sheet id, criterion number).
    note_link: Callable[[int, int, int, int], str] | None = None
    # A signed, expiring download link for a file under the data folder, shown under a name,
    # where the channel cannot send files (Zalo, the console, the web chat).
    download_link: Callable[[Path, str], str] | None = None
    # What each channel's events say it can show (Event fields), for events the core makes
    # itself for a chat (the web editor's «Xong»); Telegram's are the defaults.
    chat_capabilities: dict[str, dict[str, bool | int]] = field(default_factory=dict)

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        return self.clock()

    def today(self) -> date:
        """Today's date where the users are."""
        return self.clock().astimezone(self.tz).date()

    def local(self, moment: datetime) -> datetime:
        """`moment` in the users' time zone, for display."""
        return moment.astimezone(self.tz)

    def campaign(self, slug: str) -> CampaignSpec | None:
        """The campaign with this slug, if configured."""
        return next((c for c in self.campaigns if c.slug == slug), None)

    def campaign_by_id(self, campaign_id: int) -> CampaignSpec | None:
        """The configured campaign stored under this database id."""
        slug = next((s for s, i in self.campaign_ids.items() if i == campaign_id), None)
        return self.campaign(slug) if slug else None

    def open_campaigns(self) -> list[CampaignSpec]:
        """Campaigns accepting submissions today."""
        today = self.today()
        return [c for c in self.campaigns if c.is_open(today)]
