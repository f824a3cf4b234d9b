"""`guongsang export …`: the lists and documents offices file.

- `summary`: letter 000's summary list of honoured exemplars, as XLSX or DOCX;
- `submissions`: one campaign's submitted stories, an internal office report, as XLSX or CSV;
- `docx`: one story as a Word document to print and bind, with the principal's confirmation;
- `exemplars`: the month's exemplars the office sends up (letter 001), as XLSX or DOCX.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import running
from bot.settings import Settings
from handlers import month_exports, reports
from handlers.exports import (
    export_texts,
    summary_docx,
    summary_heading,
    summary_rows,
    summary_xlsx,
)
from handlers.registration_exports import (
    Signer,
    registration_rows,
    registrations_xlsx,
    unit_signer,
)
from handlers.story_exports import (
    MissingPhoto,
    campaign_exists,
    story_document,
    story_docx,
    submission_rows,
    submissions_csv,
    submissions_xlsx,
)
from storage import units
from storage.models import Campaign
from templates import Texts

FORMATS = ("xlsx", "docx")
SUBMISSION_FORMATS = ("xlsx", "csv")


def add_parser(sub: Any) -> None:
    """Register `export summary [--campaign SLUG] --format xlsx|docx --output PATH` on `sub`.

    `sub` is the object `ArgumentParser.add_subparsers()` returned (argparse keeps its class
    private, hence `Any`).
    """
    export = sub.add_parser("export", help="export lists and reports")
    export_sub = export.add_subparsers(dest="export_command", required=True)
    summary = export_sub.add_parser(
        "summary",
        help="summary list of honoured exemplars (letter 000's 'danh sách trích ngang')",
    )
    summary.add_argument("--campaign", metavar="SLUG", help="only this campaign (default: all)")
    summary.add_argument("--format", choices=FORMATS, required=True, help="Excel or Word")
    summary.add_argument(
        "--output", type=Path, required=True, metavar="PATH", help="file to write (replaced)"
    )
    summary.add_argument(
        "--body",
        metavar="TEXT",
        help=(
            "the issuing body, top left, lines separated by '|', e.g. "
            "'ỦY BAN NHÂN DÂN|QUẬN THANH XUÂN' (default: the campaign's organisation, else dots)"
        ),
    )
    summary.add_argument(
        "--letter-number", metavar="NUMBER", help="'Kèm theo Công văn số …' (default: dots)"
    )
    summary.add_argument(
        "--letter-date", metavar="DATE", help="the letter's date, 2024-03-21 (default: dots)"
    )
    summary.add_argument(
        "--decided-by",
        metavar="BODY",
        help="who issued the decisions, e.g. 'UBND Thành phố' (in the title)",
    )
    summary.set_defaults(func=_summary)

    listing = export_sub.add_parser(
        "submissions", help="every submitted story of a campaign (internal: has authors' phones)"
    )
    listing.add_argument("--campaign", metavar="SLUG", required=True, help="the campaign")
    listing.add_argument(
        "--format",
        choices=SUBMISSION_FORMATS,
        required=True,
        help=(
            "xlsx: the file to open in Excel or LibreOffice; csv: for other programs "
            "(UTF-8, ISO dates such as 2024-01-31, phones as written; a spreadsheet's default "
            "CSV import drops the phones' leading zero)"
        ),
    )
    listing.add_argument(
        "--output", type=Path, required=True, metavar="PATH", help="file to write (replaced)"
    )
    listing.set_defaults(func=_submissions)

    registrations = export_sub.add_parser(
        "registrations",
        help=(
            "letter 003's list of registered models and exemplars (Excel): one row per unit, "
            "only entries its head confirmed; one school's with --unit, else the whole office's"
        ),
    )
    registrations.add_argument("--campaign", metavar="SLUG", required=True, help="the campaign")
    registrations.add_argument(
        "--unit",
        metavar="NAME_OR_CODE",
        help="one school's list, signed by its head (default: every unit, for the office)",
    )
    registrations.add_argument(
        "--output", type=Path, required=True, metavar="PATH", help="file to write (replaced)"
    )
    registrations.set_defaults(func=_registrations)

    story = export_sub.add_parser(
        "docx", help="one story as a Word document to print and bind (letter 001)"
    )
    story.add_argument("code", metavar="CODE", help="the story's code, e.g. GS-2024-0001")
    story.add_argument(
        "--output", type=Path, required=True, metavar="PATH", help="file to write (replaced)"
    )
    story.set_defaults(func=_story_docx)

    exemplars = export_sub.add_parser(
        "exemplars",
        help=(
            "the month's exemplars (letter 001's '01 gương tiêu biểu' a unit a month): the ones "
            "the office marked to go up, or every unit's with --all"
        ),
    )
    exemplars.add_argument("--campaign", metavar="SLUG", required=True, help="the campaign")
    exemplars.add_argument("--month", metavar="YYYY-MM", required=True, help="the month")
    exemplars.add_argument("--format", choices=FORMATS, required=True, help="Excel or Word")
    exemplars.add_argument(
        "--output", type=Path, required=True, metavar="PATH", help="file to write (replaced)"
    )
    exemplars.add_argument(
        "--all", action="store_true", help="every unit's nomination, marked or not"
    )
    exemplars.set_defaults(func=_exemplars)


async def _summary(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Write the summary list to `args.output`; returns the exit status."""
    # `texts` is the cli area's renderer; this command's words live with the export's own.
    words = export_texts()
    letter_date = None
    if args.letter_date:
        letter_date = _parse_date(args.letter_date)
        if letter_date is None:
            print(words.render("summary.bad_date", raw=args.letter_date), file=sys.stderr)
            return 2
    async with running(settings) as app, app.db.transaction() as session:
        campaign = None
        if args.campaign:
            campaign = await session.scalar(select(Campaign).where(Campaign.slug == args.campaign))
            if campaign is None:
                return await _unknown_campaign(session, args.campaign, words)
        rows = await summary_rows(session, args.campaign)
    heading = summary_heading(
        campaign_title=campaign.title if campaign else None,
        body=args.body or (campaign.organisation if campaign else None),
        decided_by=args.decided_by,
        letter_number=args.letter_number,
        letter_date=letter_date,
    )
    data = summary_xlsx(rows, heading) if args.format == "xlsx" else summary_docx(rows, heading)
    if not _write(args.output, data):
        return 2
    print(words.render("summary.exported", count=len(rows), path=args.output))
    return 0


def _parse_date(raw: str) -> date | None:
    """2024-03-21 or 21/03/2024 (or 21/3/2024); None when neither."""
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw.strip(), pattern).date()
        except ValueError:
            continue
    return None


async def _submissions(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Write the campaign's submitted stories to `args.output`; returns the exit status."""
    words = export_texts()
    async with running(settings) as app, app.db.transaction() as session:
        if not await campaign_exists(session, args.campaign):
            return await _unknown_campaign(session, args.campaign, words)
        rows = await submission_rows(session, app.services, args.campaign)
    data = submissions_xlsx(rows) if args.format == "xlsx" else submissions_csv(rows)
    if not _write(args.output, data):
        return 2
    print(
        words.render(
            "submissions.exported", count=len(rows), path=args.output, csv=args.format == "csv"
        )
    )
    return 0


async def _registrations(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Write a registration campaign's confirmed entries in letter 003's table."""
    words = export_texts()
    async with running(settings) as app, app.db.transaction() as session:
        campaign = await session.scalar(select(Campaign).where(Campaign.slug == args.campaign))
        if campaign is None:
            return await _unknown_campaign(session, args.campaign, words)
        if campaign.form != "registration":
            # A story campaign has no models: its "list" would be rows of empty cells.
            print(
                words.render("registrations.not_registration", slug=campaign.slug), file=sys.stderr
            )
            return 2
        unit = None
        if args.unit:
            unit, matches = await units.find_one(session, args.unit)
            if unit is None:
                print(
                    words.render("registrations.unit_problem", name=args.unit, matches=matches),
                    file=sys.stderr,
                )
                return 2
        rows = await registration_rows(session, args.campaign, unit.id if unit else None)
        signer = (
            await unit_signer(session, unit)
            if unit
            else Signer(title=words.render("registrations.office_title"))
        )
        data = registrations_xlsx(
            rows,
            year=campaign.opens.year,
            organisation=campaign.organisation or "",
            unit=unit.name if unit else None,
            signer=signer,
        )
    if not _write(args.output, data):
        return 2
    count = sum(len(r.models) for r in rows)
    print(words.render("registrations.exported", count=count, units=len(rows), path=args.output))
    return 0


async def _story_docx(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Write one story as a Word document to `args.output`; returns the exit status."""
    words = export_texts()
    async with running(settings) as app, app.db.transaction() as session:
        story = await story_document(session, app.services, args.code)
    if story is None:
        print(words.render("story.unknown_code", code=args.code.strip()), file=sys.stderr)
        return 2
    try:
        data = story_docx(story)
    except MissingPhoto as exc:
        print(words.render("story.missing_photo", code=story.code, path=exc.path), file=sys.stderr)
        return 2
    if not _write(args.output, data):
        return 2
    print(words.render("story.exported", code=story.code, path=args.output))
    return 0


async def _exemplars(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Write the month's exemplar list to `args.output`; returns the exit status."""
    words = export_texts()
    month = reports.parse_month(args.month)
    if month is None:
        print(texts.render("reports.bad_month", raw=args.month), file=sys.stderr)
        return 2
    key = f"{month.year:04d}-{month.month:02d}"
    async with running(settings) as app, app.db.transaction() as session:
        campaign = app.services.campaign(args.campaign)
        if campaign is None:
            return await _unknown_campaign(session, args.campaign, words)
        if not campaign.monthly_exemplar:
            print(words.render("month.not_monthly", slug=campaign.slug), file=sys.stderr)
            return 2
        campaign_id = app.services.campaign_ids[campaign.slug]
        rows = await month_exports.rows(session, campaign_id, key, marked_only=not args.all)
        frame = await month_exports.heading(session, campaign, campaign_id, key, app.services.tz)
    build = month_exports.xlsx if args.format == "xlsx" else month_exports.docx
    if not _write(args.output, build(rows, frame)):
        return 2
    print(words.render("month.exported", count=len(rows), path=args.output))
    return 0


async def _unknown_campaign(session: AsyncSession, slug: str, words: Texts) -> int:
    """Say which campaigns exist; the exit status for an unknown one."""
    known = list(await session.scalars(select(Campaign.slug).order_by(Campaign.slug)))
    print(words.render("summary.unknown_campaign", slug=slug, known=known), file=sys.stderr)
    return 2


def _write(path: Path, data: bytes) -> bool:
    """Write a file built in memory (so a failure never leaves half a file); False if it failed."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(
            export_texts().render("summary.write_failed", path=path, reason=reason), file=sys.stderr
        )
        return False
    return True
