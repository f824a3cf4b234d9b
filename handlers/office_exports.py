"""What an office may ask the bot for in chat (/baocao), who may ask, and how each is built.

Every export here is the CLI's own (`guongsang export …`, `report monthly`, `blocks export`):
the same builders, in handlers/, so a file asked in chat is the file the CLI writes. What
differs is the scope, checked on the server from the person's roles each time a file is made:

- an admin sees everything;
- a unit head sees their own unit(s);
- a reviewer sees the units of their levels and organisation (as their review queue does);
- a block's results and registrations only its head or deputy unit's head, or an admin.

The summary list of honoured exemplars is public once honoured, yet it is still cut to the
person's units: the office's file and a school's file should not be confused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import month_exports, reports, year_summary
from handlers.campaigns import CampaignSpec
from handlers.emulation import exports as emulation_exports
from handlers.emulation.crosscheck import ranking
from handlers.exports import export_texts, summary_docx, summary_heading, summary_rows, summary_xlsx
from handlers.registration_exports import (
    Signer,
    registration_rows,
    registrations_xlsx,
    unit_signer,
)
from handlers.services import Services
from handlers.story_exports import submission_rows, submissions_xlsx
from storage import emulation, roles
from storage.emulation_models import EmulationBlock
from storage.models import RoleGrant, Unit
from templates import Texts

# What an export needs chosen before it is made.
CAMPAIGN, REGISTRATION_CAMPAIGN, BLOCK = "campaign", "registration", "block"


@dataclass(frozen=True)
class Scope:
    """What one person may see, read from their roles when they ask."""

    admin: bool = False
    unit_ids: frozenset[int] = frozenset()
    reviewer_grants: tuple[RoleGrant, ...] = ()
    led_blocks: tuple[EmulationBlock, ...] = ()

    @property
    def office_wide(self) -> bool:
        """Whether the person speaks for an office above the units (admin or reviewer)."""
        return self.admin or bool(self.reviewer_grants)

    @property
    def office(self) -> bool:
        """Whether the person holds any role that sees a list of stories."""
        return self.admin or bool(self.unit_ids) or bool(self.reviewer_grants)

    def sees_unit(self, unit: Unit) -> bool:
        """Whether a unit's lines belong in this person's files."""
        if self.admin or unit.id in self.unit_ids:
            return True
        return any(
            (g.organisation_id is None or g.organisation_id == unit.organisation_id)
            and roles.covers_level(g, unit.level)
            for g in self.reviewer_grants
        )

    def leads(self, block: EmulationBlock) -> bool:
        """Whether the person may have a block's files."""
        return self.admin or any(b.id == block.id for b in self.led_blocks)

    def describe(self) -> str:
        """The scope in short, for the audit log."""
        if self.admin:
            return "all"
        parts = []
        if self.unit_ids:
            parts.append("units:" + ",".join(str(u) for u in sorted(self.unit_ids)))
        if self.reviewer_grants:
            parts.append(
                "reviewer:"
                + ",".join(
                    f"{g.organisation_id or '*'}/{g.levels or '*'}" for g in self.reviewer_grants
                )
            )
        return " ".join(parts)


async def scope_of(session: AsyncSession, person_id: int | None, admin: bool) -> Scope:
    """The scope of a person (None: nobody known, no scope unless named an admin)."""
    grants = await roles.of(session, person_id) if person_id is not None else []
    admin = admin or any(g.role == roles.ADMIN for g in grants)
    unit_ids = frozenset(g.unit_id for g in grants if g.role == roles.UNIT_HEAD and g.unit_id)
    led: tuple[EmulationBlock, ...] = ()
    if unit_ids:
        led = tuple(b for b in await emulation.blocks(session) if emulation.leads(b, [*unit_ids]))
    reviewer = tuple(g for g in grants if g.role == roles.REVIEWER)
    return Scope(admin, unit_ids, reviewer, led)


@dataclass(frozen=True)
class Picked:
    """What the person picked before the file is made: a campaign, a month, a block."""

    campaign: CampaignSpec | None = None
    month: date | None = None
    block: EmulationBlock | None = None
    year: int | None = None


@dataclass(frozen=True)
class Built:
    """A made file: its name, bytes and how many lines it holds."""

    name: str
    data: bytes
    count: int


Builder = Callable[[AsyncSession, Services, Scope, Picked], Awaitable[Built]]


@dataclass(frozen=True)
class Export:
    """One thing an office may ask for."""

    key: str
    needs: str
    allowed: Callable[[Scope], bool]
    build: Builder
    # A month is asked after the campaign (the monthly report, the month's exemplars).
    monthly: bool = False
    # A calendar year follows the campaign in the one-line form (else this year).
    yearly: bool = False
    # Which campaigns it can be made of, beyond the kind `needs` names.
    fits: Callable[[CampaignSpec], bool] = lambda _campaign: True


async def _visible_unit_names(session: AsyncSession, scope: Scope) -> set[str] | None:
    """The names of the units the person sees; None for all (an admin)."""
    if scope.admin:
        return None
    units = await session.scalars(select(Unit))
    return {u.name for u in units if scope.sees_unit(u)}


async def _visible_unit_ids(session: AsyncSession, scope: Scope) -> set[int] | None:
    if scope.admin:
        return None
    units = await session.scalars(select(Unit))
    return {u.id for u in units if scope.sees_unit(u)}


def _slug_name(prefix: str, slug: str, extension: str) -> str:
    return f"{prefix}-{slug}.{extension}"


async def _summary(
    session: AsyncSession, services: Services, scope: Scope, choice: Picked, fmt: str
) -> Built:
    campaign = choice.campaign
    assert campaign is not None
    rows = await summary_rows(session, campaign.slug)
    names = await _visible_unit_names(session, scope)
    if names is not None:
        rows = [replace(r, number=n) for n, r in enumerate((r for r in rows if r.unit in names), 1)]
    heading = summary_heading(
        campaign_title=campaign.title,
        body=campaign.organisation or None,
        decided_by=None,
        letter_number=None,
        letter_date=None,
    )
    data = summary_xlsx(rows, heading) if fmt == "xlsx" else summary_docx(rows, heading)
    return Built(_slug_name("danh-sach-trich-ngang", campaign.slug, fmt), data, len(rows))


async def _summary_xlsx(s: AsyncSession, sv: Services, sc: Scope, c: Picked) -> Built:
    return await _summary(s, sv, sc, c, "xlsx")


async def _summary_docx(s: AsyncSession, sv: Services, sc: Scope, c: Picked) -> Built:
    return await _summary(s, sv, sc, c, "docx")


async def _submissions(
    session: AsyncSession, services: Services, scope: Scope, choice: Picked
) -> Built:
    campaign = choice.campaign
    assert campaign is not None
    rows = await submission_rows(session, services, campaign.slug)
    names = await _visible_unit_names(session, scope)
    if names is not None:
        rows = [r for r in rows if r.author_unit in names]
    return Built(_slug_name("bai-du-thi", campaign.slug, "xlsx"), submissions_xlsx(rows), len(rows))


async def _registrations(
    session: AsyncSession, services: Services, scope: Scope, choice: Picked
) -> Built:
    campaign = choice.campaign
    assert campaign is not None
    words = export_texts()
    own = None
    if not scope.admin and len(scope.unit_ids) == 1 and not scope.reviewer_grants:
        # A school's own list, signed by its head, as `export registrations --unit` makes it.
        own = await session.get(Unit, next(iter(scope.unit_ids)))
    rows = await registration_rows(session, campaign.slug, own.id if own else None)
    if own is None:
        names = await _visible_unit_names(session, scope)
        if names is not None:
            kept = [r for r in rows if r.unit in names]
            rows = [replace(r, number=n) for n, r in enumerate(kept, 1)]
    signer = (
        await unit_signer(session, own)
        if own
        else Signer(title=words.render("registrations.office_title"))
    )
    data = registrations_xlsx(
        rows,
        year=campaign.opens.year,
        organisation=campaign.organisation or "",
        unit=own.name if own else None,
        signer=signer,
    )
    count = sum(len(r.models) for r in rows)
    return Built(_slug_name("dang-ky-mo-hinh", campaign.slug, "xlsx"), data, count)


async def _monthly(
    session: AsyncSession, services: Services, scope: Scope, choice: Picked
) -> Built:
    campaign, month = choice.campaign, choice.month
    assert campaign is not None and month is not None
    unit_ids = await _visible_unit_ids(session, scope)
    rows = await reports.monthly(
        session, campaign, services.campaign_ids[campaign.slug], month, services.tz, unit_ids
    )
    data = reports.monthly_xlsx(Texts("cli", html=False), campaign, month, rows)
    name = f"bao-cao-thang-{month:%Y-%m}-{campaign.slug}.xlsx"
    return Built(name, data, len(rows))


async def _block_result(
    session: AsyncSession, services: Services, scope: Scope, choice: Picked, fmt: str
) -> Built:
    block = choice.block
    assert block is not None
    _sheet, lines = await ranking(session, block)
    today = services.today()
    signer = await emulation_exports.block_signer(session, block)
    if fmt == "xlsx":
        data = emulation_exports.result_xlsx(block, lines, today, signer=signer)
    else:
        data = emulation_exports.result_docx(block, lines, today, signer=signer)
    return Built(_slug_name("ket-qua-thi-dua", block.slug, fmt), data, len(lines))


async def _block_result_xlsx(s: AsyncSession, sv: Services, sc: Scope, c: Picked) -> Built:
    return await _block_result(s, sv, sc, c, "xlsx")


async def _block_result_docx(s: AsyncSession, sv: Services, sc: Scope, c: Picked) -> Built:
    return await _block_result(s, sv, sc, c, "docx")


async def block_registration_lines(
    session: AsyncSession, block: EmulationBlock
) -> list[emulation_exports.RegistrationLine]:
    """A block's members' registrations and covenants, one line per member unit (the CLI's
    `blocks registrations` and /baocao)."""
    lines = []
    for unit in await emulation.members(session, block):
        card = await emulation.card(session, block.id, unit.id)
        lines.append(
            emulation_exports.RegistrationLine(
                unit=unit.name,
                titles=list(card.registration.get("titles", [])),
                covenant_at=card.covenant_at,
                by=str(card.registration.get("by_name", "")),
            )
        )
    return lines


async def _block_registrations(
    session: AsyncSession, services: Services, scope: Scope, choice: Picked
) -> Built:
    block = choice.block
    assert block is not None
    lines = await block_registration_lines(session, block)
    signer = await emulation_exports.block_signer(session, block)
    data = emulation_exports.registrations_xlsx(
        block, lines, services.today(), services.tz, signer=signer
    )
    return Built(_slug_name("dang-ky-thi-dua", block.slug, "xlsx"), data, len(lines))


async def _exemplars(
    session: AsyncSession, services: Services, scope: Scope, choice: Picked, fmt: str
) -> Built:
    campaign, month = choice.campaign, choice.month
    assert campaign is not None and month is not None
    key = f"{month:%Y-%m}"
    campaign_id = services.campaign_ids[campaign.slug]
    # The office's file is the list it sends up (the marked picks); a school's is its own pick.
    rows = await month_exports.rows(session, campaign_id, key, marked_only=scope.office_wide)
    names = await _visible_unit_names(session, scope)
    if names is not None:
        rows = [replace(r, number=n) for n, r in enumerate((r for r in rows if r.unit in names), 1)]
    frame = await month_exports.heading(session, campaign, campaign_id, key, services.tz)
    data = month_exports.xlsx(rows, frame) if fmt == "xlsx" else month_exports.docx(rows, frame)
    return Built(f"guong-tieu-bieu-{key}-{campaign.slug}.{fmt}", data, len(rows))


async def _exemplars_xlsx(s: AsyncSession, sv: Services, sc: Scope, c: Picked) -> Built:
    return await _exemplars(s, sv, sc, c, "xlsx")


async def _exemplars_docx(s: AsyncSession, sv: Services, sc: Scope, c: Picked) -> Built:
    return await _exemplars(s, sv, sc, c, "docx")


async def _year_summary(
    session: AsyncSession, services: Services, scope: Scope, choice: Picked
) -> Built:
    campaign = choice.campaign
    assert campaign is not None
    year = choice.year or services.today().year
    unit_ids = await _visible_unit_ids(session, scope)
    rows = await year_summary.year_summary(session, services, campaign, year, unit_ids)
    data = year_summary.year_xlsx(Texts("cli", html=False), campaign, year, rows)
    return Built(f"tong-hop-nam-{year}-{campaign.slug}.xlsx", data, len(rows))


def _office(scope: Scope) -> bool:
    return scope.office


def _asks_exemplar(campaign: CampaignSpec) -> bool:
    return campaign.monthly_exemplar


def _leader(scope: Scope) -> bool:
    return scope.admin or bool(scope.led_blocks)


EXPORTS: dict[str, Export] = {
    e.key: e
    for e in (
        Export("summary_xlsx", CAMPAIGN, _office, _summary_xlsx),
        Export("summary_docx", CAMPAIGN, _office, _summary_docx),
        Export("submissions", CAMPAIGN, _office, _submissions),
        Export("registrations", REGISTRATION_CAMPAIGN, _office, _registrations),
        Export("monthly", CAMPAIGN, _office, _monthly, monthly=True),
        Export(
            "exemplars_xlsx",
            CAMPAIGN,
            _office,
            _exemplars_xlsx,
            monthly=True,
            fits=_asks_exemplar,
        ),
        Export(
            "exemplars_docx",
            CAMPAIGN,
            _office,
            _exemplars_docx,
            monthly=True,
            fits=_asks_exemplar,
        ),
        Export("year_summary", CAMPAIGN, _office, _year_summary, yearly=True),
        Export("block_result_xlsx", BLOCK, _leader, _block_result_xlsx),
        Export("block_result_docx", BLOCK, _leader, _block_result_docx),
        Export("block_registrations", BLOCK, _leader, _block_registrations),
    )
}


def offered(scope: Scope) -> list[Export]:
    """The exports this person may ask for, in the menu's order."""
    return [e for e in EXPORTS.values() if e.allowed(scope)]


def campaigns_for(services: Services, export: Export) -> list[CampaignSpec]:
    """The campaigns an export can be made of (letter 003's list: registration ones only)."""
    found = [c for c in services.campaigns if c.slug in services.campaign_ids and export.fits(c)]
    if export.needs == REGISTRATION_CAMPAIGN:
        return [c for c in found if c.form == "registration"]
    if export.monthly:
        return [c for c in found if c.monthly_quota > 0] or found
    return [c for c in found if c.form != "registration"]


async def blocks_for(session: AsyncSession, scope: Scope) -> list[EmulationBlock]:
    """The blocks whose files this person may have."""
    if scope.admin:
        return await emulation.blocks(session)
    return list(scope.led_blocks)
