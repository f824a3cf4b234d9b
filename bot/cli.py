"""The `guongsang` command line (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import os
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from bot import (
    backup_command,
    blocks_command,
    broadcast_command,
    export_command,
    heap,
    organisations_command,
    report_command,
    serve_command,
    webhook_command,
)
from bot.app import GuongSang, running
from bot.campaign_file import CampaignFileError
from bot.settings import Settings
from templates import Texts, to_plain

log = logging.getLogger("guongsang")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
VERBOSE = ("-v", "--verbose")
# The long-running commands keep their log: it is how an operator sees them work.
LOGGING_COMMANDS = ("run", "serve")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if _logs_info(args) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO, and Bot API URLs carry the bot's token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    texts = Texts("cli", html=False)
    try:
        settings = Settings()
        if getattr(args, "campaign_needed", False) and args.campaign is None:
            args.campaign, problem = _only_campaign(settings, args.campaign_form, texts)
            if problem:
                print(problem, file=sys.stderr)
                return 2
        result = args.func(args, settings, texts)
        # Most commands are coroutines; `serve` runs its own loop (or uvicorn's workers).
        return asyncio.run(result) if inspect.iscoroutine(result) else result
    except (CampaignFileError, ValidationError) as exc:
        print(texts.render("messages.config_error", message=str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `guongsang … | head`: the reader has gone, which is no error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _logs_info(args: argparse.Namespace) -> bool:
    """Whether the log shows INFO lines: always for the long-running bot and web app, whose
    log is their record; for other commands only when asked, so their output is the answer."""
    return args.verbose or args.command in LOGGING_COMMANDS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guongsang", description="Gương Sáng chat bot")
    parser.add_argument(*VERBOSE, action="store_true", help="show the log (INFO lines) too")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start every channel that has a token")
    run.set_defaults(func=_run)
    console = sub.add_parser("console", help="talk to the bot in this terminal")
    console.add_argument("--user", default=os.environ.get("USER") or "giaovien")
    console.set_defaults(func=_console)
    db = sub.add_parser("db", help="database tasks")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to the newest schema").set_defaults(func=_db_upgrade)
    units = sub.add_parser("units", help="units (schools, unions)")
    units_sub = units.add_subparsers(dest="units_command", required=True)
    units_import = units_sub.add_parser("import", help="import units from CSV or XLSX")
    units_import.add_argument("file", type=Path)
    units_import.set_defaults(func=_units_import)
    invite = sub.add_parser("invite", help="make (or revoke) a one-time role invitation")
    # "web": for someone with neither Telegram nor Zalo, who then writes on the web.
    invite.add_argument("--role", choices=("unit_head", "reviewer", "admin", "web"))
    invite.add_argument("--unit", help="unit name or code (unit_head)")
    invite.add_argument("--organisation", help="limit a reviewer to one organisation")
    invite.add_argument("--levels", help="MN,TH,THCS,other (reviewer; default all)")
    invite.add_argument("--days", type=int, default=7, help="days until the code expires")
    invite.add_argument("--json", action="store_true", help="print one JSON object")
    invite.add_argument("--revoke", metavar="CODE", help="revoke an unused code")
    invite.set_defaults(func=_invite)
    export_command.add_parser(sub)
    blocks_command.add_parser(sub)
    broadcast_command.add_parser(sub)
    serve_command.add_parser(sub)
    report_command.add_parser(sub)
    organisations_command.add_parser(sub)
    webhook_command.add_parser(sub)
    backup_command.add_parser(sub)
    _accept_verbose_anywhere(sub)
    _campaign_by_default(sub)
    return parser


def _campaign_by_default(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Make `--campaign` optional where a command needs one: with one campaign (the built-in
    one, on a fresh install) there is nothing to choose, so nobody needs to know its slug."""
    for name, parser in sub.choices.items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _campaign_by_default(action)
            elif action.dest == "campaign" and action.required:
                action.required = False
                action.help = f"{action.help or 'the campaign'} (default: the only one)"
                # Reports and story lists are about stories; a registration list about entries.
                form = "registration" if name == "registrations" else "story"
                parser.set_defaults(campaign_needed=True, campaign_form=form)


def _only_campaign(settings: Settings, form: str, texts: Texts) -> tuple[str | None, str | None]:
    """The campaign a command means when none is named: the only one of the form, else the
    only one of the form open today; or else the message that asks to choose."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from bot.campaign_file import load_campaigns

    today = datetime.now(ZoneInfo(settings.timezone)).date()
    campaigns = [c for c in load_campaigns(settings.config, today) if c.form == form]
    if len(campaigns) != 1:
        open_now = [c for c in campaigns if c.opens <= today <= c.closes]
        if len(open_now) == 1:
            return open_now[0].slug, None
        return None, texts.render(
            "messages.choose_campaign", slugs=[c.slug for c in campaigns], form=form
        )
    return campaigns[0].slug, None


def _accept_verbose_anywhere(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Let `--verbose` follow the subcommand too (`guongsang campaigns -v`), as people type it."""
    for parser in sub.choices.values():
        # SUPPRESS: a subcommand that was not given the flag leaves the top-level value alone.
        parser.add_argument(
            *VERBOSE, action="store_true", default=argparse.SUPPRESS, help="show the log"
        )
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_verbose_anywhere(action)


async def _run(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    if not settings.telegram_token and not settings.zalo_token:
        print(texts.render("messages.no_channels"))
        if not sys.stdin.isatty():
            return 2
        print(texts.render("messages.starting_console"))
        if not args.verbose:
            # The console is a conversation; the bot's log would interleave with it.
            logging.getLogger().setLevel(logging.WARNING)
        args.user = os.environ.get("USER") or "giaovien"
        return await _console(args, settings, texts)
    app = GuongSang(settings)
    await app.start()
    channels = []
    if settings.telegram_token:
        from bot.channels.telegram.channel import TelegramChannel

        telegram = TelegramChannel(app, settings.telegram_token, settings.telegram_api_url)
        channels.append(
            telegram.run_polling(
                on_ready=lambda name: log.info(
                    to_plain(texts.render("messages.telegram_running", username=name))
                )
            )
        )
    if settings.zalo_token:
        from bot.channels.zalo.channel import ZaloChannel
        from bot.channels.zalo.client import ZaloClient

        zalo = ZaloChannel(app, ZaloClient(settings.zalo_token, settings.zalo_api_url))
        channels.append(
            zalo.run_polling(
                on_ready=lambda name: log.info(
                    to_plain(texts.render("messages.zalo_running", name=name))
                )
            )
        )
    heap.settle()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        # SIGTERM (systemd, docker) stops as gently as Ctrl+C: channels, then the database.
        loop.add_signal_handler(sig, stop.set)
    try:
        # One channel failing (a wrong token) stops the others rather than running half a bot.
        async with asyncio.TaskGroup() as group:
            running_channels = [group.create_task(channel) for channel in channels]
            await stop.wait()
            for task in running_channels:
                task.cancel()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        await app.close()
    log.info("bot stopped")
    return 0


async def _console(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    from bot.channels.console.channel import ConsoleChannel

    async with running(settings) as app:
        await ConsoleChannel(app, args.user).run()
    return 0


async def _db_upgrade(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    async with running(settings) as app:
        url = app.db.engine.url.render_as_string(hide_password=True)
    print(texts.render("messages.migrated", url=url))
    return 0


async def _invite(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    from bot.invite_command import make_or_revoke

    return await make_or_revoke(args, settings, texts)


async def _units_import(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    from bot.units_file import read_units
    from storage import units

    if not args.file.is_file():
        print(texts.render("messages.file_missing", path=args.file), file=sys.stderr)
        return 2
    parsed = read_units(args.file)
    if parsed.errors:
        print(
            texts.render("messages.units_errors", path=args.file, errors=parsed.errors),
            file=sys.stderr,
        )
        return 2
    created = updated = 0
    async with running(settings) as app, app.db.transaction() as session:
        for row in parsed.rows:
            _, is_new = await units.upsert(session, row)
            created += is_new
            updated += not is_new
        total = await units.count(session)
    print(texts.render("messages.units_imported", created=created, updated=updated, total=total))
    return 0
