"""`guongsang campaigns`, `guongsang report monthly` and `guongsang report year`: the figures
offices file."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from bot.app import GuongSang, running
from bot.settings import Settings
from handlers import reports, year_summary
from handlers.campaigns import CampaignSpec
from templates import Texts

FORMATS = ("table", "csv", "xlsx")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the campaigns and report commands."""
    sub.add_parser("campaigns", help="campaigns, their dates and counts").set_defaults(
        func=_campaigns
    )
    report = sub.add_parser("report", help="reports")
    report_sub = report.add_subparsers(dest="report_command", required=True)
    monthly = report_sub.add_parser("monthly", help="per-unit monthly quota")
    monthly.add_argument("--campaign", required=True, help="campaign slug")
    monthly.add_argument("--month", required=True, help="YYYY-MM")
    monthly.add_argument("--format", choices=FORMATS, default="table")
    monthly.add_argument("--output", type=Path, help="file to write (csv, xlsx)")
    monthly.set_defaults(func=_monthly)
    year = report_sub.add_parser(
        "year", help="per-unit year summary for the emulation review (letter 001)"
    )
    year.add_argument("--campaign", required=True, help="campaign slug")
    year.add_argument("--year", required=True, type=int, help="calendar year, e.g. 2024")
    year.add_argument("--format", choices=FORMATS, default="table")
    year.add_argument("--output", type=Path, help="file to write (csv, xlsx)")
    year.set_defaults(func=_year)


async def _campaigns(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    async with running(settings) as app, app.db.transaction() as session:
        today = app.services.today()
        rows = [
            (
                c,
                c.is_open(today),
                await reports.campaign_counts(session, app.services.campaign_ids[c.slug]),
            )
            for c in app.services.campaigns
        ]
    print(texts.render("reports.campaigns", rows=rows))
    return 0


async def _monthly(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    month = reports.parse_month(args.month)
    if month is None:
        print(texts.render("reports.bad_month", raw=args.month), file=sys.stderr)
        return 2
    if args.format != "table" and args.output is None:
        print(texts.render("reports.needs_output", format=args.format), file=sys.stderr)
        return 2
    async with running(settings) as app:
        campaign = _campaign(app, args.campaign, texts)
        if campaign is None:
            return 2
        async with app.db.transaction() as session:
            rows = await reports.monthly(
                session, campaign, app.services.campaign_ids[campaign.slug], month, app.services.tz
            )
    if not rows:
        # Nothing to hold the quota against: an empty table (or file) would read as "no unit
        # is behind", which is not what happened.
        print(texts.render("reports.no_units", campaign=campaign), file=sys.stderr)
        return 1
    headers, table = reports.monthly_table(texts, rows)
    if args.format == "table":
        print(
            texts.render(
                "reports.table",
                campaign=campaign,
                month=month,
                headers=headers,
                table=table,
                met=sum(r.met for r in rows),
            )
        )
        return 0
    if args.format == "csv":
        _write_csv(args.output, headers, table)
    else:
        args.output.write_bytes(reports.monthly_xlsx(texts, campaign, month, rows))
    print(texts.render("reports.written", path=args.output, count=len(table)))
    return 0


async def _year(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    if not 2000 <= args.year <= 2100:
        print(texts.render("reports.bad_year", raw=args.year), file=sys.stderr)
        return 2
    if args.format != "table" and args.output is None:
        print(texts.render("reports.needs_output", format=args.format), file=sys.stderr)
        return 2
    async with running(settings) as app:
        campaign = _campaign(app, args.campaign, texts)
        if campaign is None:
            return 2
        async with app.db.transaction() as session:
            rows = await year_summary.year_summary(session, app.services, campaign, args.year)
    if not rows:
        print(texts.render("reports.no_units", campaign=campaign), file=sys.stderr)
        return 1
    headers, table = year_summary.year_table(texts, campaign, rows)
    title = texts.render("reports.year_title", campaign=campaign, year=args.year)
    if args.format == "table":
        print(texts.render("reports.year_table", title=title, headers=headers, table=table))
        return 0
    if args.format == "csv":
        _write_csv(args.output, headers, table)
    else:
        args.output.write_bytes(year_summary.year_xlsx(texts, campaign, args.year, rows))
    print(texts.render("reports.written", path=args.output, count=len(table)))
    return 0


def _campaign(app: GuongSang, slug: str, texts: Texts) -> CampaignSpec | None:
    """The campaign named on the command line, or None after saying which ones exist."""
    campaign = app.services.campaign(slug)
    if campaign is None:
        known = [c.slug for c in app.services.campaigns]
        print(texts.render("reports.unknown_campaign", slug=slug, known=known), file=sys.stderr)
    return campaign


def _write_csv(path: Path, headers: list[str], table: list[list[object]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(table)
    # A BOM so Excel on Vietnamese Windows reads UTF-8 rather than the ANSI code page.
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")
