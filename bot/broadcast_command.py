"""`guongsang honour`, `guongsang audience …` and `guongsang broadcast …`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from datetime import date

from sqlalchemy import select

from bot.app import GuongSang, running
from bot.channels.chat_ids import is_target
from bot.delivery import status_counts
from bot.settings import Settings
from handlers import broadcast as broadcasting
from storage import outbox
from storage.models import AudienceMember, Broadcast, Submission, utcnow
from templates import Texts

BAR_WIDTH = 30


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the honour, audience and broadcast commands."""
    honour = sub.add_parser("honour", help="honour an approved story and broadcast it")
    honour.add_argument("code", help="GS-2024-0007")
    honour.add_argument("--decision", required=True, help='e.g. "1625/QĐ-UBND"')
    honour.add_argument("--date", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
    honour.add_argument("--summary", required=True, help="the achievement summary")
    honour.add_argument("--no-send", action="store_true", help="queue only; the bot sends")
    honour.set_defaults(func=_honour)

    audience = sub.add_parser("audience", help="who receives broadcasts")
    audience_sub = audience.add_subparsers(dest="audience_command", required=True)
    for name, helptext in (("add", "add a chat"), ("remove", "stop sending to a chat")):
        command = audience_sub.add_parser(name, help=helptext)
        command.add_argument("target", help="telegram:<chat id>")
        command.add_argument("--kind", choices=("channel", "group", "person"), default=None)
        command.set_defaults(func=_audience, adding=name == "add")
    audience_sub.add_parser("list", help="list the audience").set_defaults(func=_audience_list)

    bc = sub.add_parser("broadcast", help="broadcast deliveries")
    bc_sub = bc.add_subparsers(dest="broadcast_command", required=True)
    bc_sub.add_parser("status", help="progress of every broadcast").set_defaults(func=_status)
    bc_sub.add_parser("run", help="deliver what is queued, with a progress bar").set_defaults(
        func=_run
    )


async def _honour(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    async with running(settings) as app:
        async with app.db.transaction() as session:
            try:
                row, broadcast = await broadcasting.honour(
                    session,
                    app.services,
                    args.code,
                    decision_number=args.decision,
                    decision_date=args.date,
                    summary=args.summary,
                    actor_id=None,
                    channel="cli",
                )
            except broadcasting.HonourRefused as exc:
                print(
                    texts.render("broadcast.refused", reason=exc.reason, code=args.code),
                    file=sys.stderr,
                )
                return 2
        print(
            texts.render(
                "broadcast.honoured",
                code=args.code,
                total=broadcast.total,
                link=f"{settings.public_url}/exemplars/{row.slug}",
            )
        )
        if args.no_send:
            return 0
        if not _has_channel(settings):
            # Honoured and queued: that succeeded; the bot delivers when it runs.
            print(texts.render("broadcast.no_token", honoured=True), file=sys.stderr)
            return 0
        return await _deliver(app, settings, texts)


async def _run(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    if not _has_channel(settings):
        print(texts.render("broadcast.no_token", honoured=False), file=sys.stderr)
        return 2
    async with running(settings) as app:
        return await _deliver(app, settings, texts)


def _has_channel(settings: Settings) -> bool:
    return bool(settings.telegram_token or settings.zalo_token)


async def _deliver(app: GuongSang, settings: Settings, texts: Texts) -> int:
    """Deliver the outbox through every channel with a token, showing a progress bar."""
    async with contextlib.AsyncExitStack() as channels:
        if settings.telegram_token:
            from bot.channels.telegram.channel import standalone_sender

            bot, sender = await standalone_sender(
                settings.telegram_token, settings.telegram_api_url
            )
            channels.push_async_callback(bot.shutdown)
            app.delivery.register("telegram", sender)
        if settings.zalo_token:
            from bot.channels.zalo.channel import standalone_zalo_sender

            client, zalo = standalone_zalo_sender(app, settings.zalo_token, settings.zalo_api_url)
            channels.push_async_callback(client.close)
            app.delivery.register("zalo", zalo)
        running = await _unfinished(app)
        started, since = time.monotonic(), utcnow()
        work = asyncio.create_task(app.delivery.drain())
        while not work.done():
            await _draw(app, running, started)
            await asyncio.wait({work}, timeout=0.5)
        await work
    seconds = time.monotonic() - started
    print(file=sys.stderr)
    async with app.db.transaction() as session:
        for broadcast_id in running:
            row = await session.get(Broadcast, broadcast_id)
            assert row is not None
            counts = await status_counts(session, broadcast_id)
            # This run's own sends: a run resumed after a crash does not count the first's.
            sent_now = await outbox.sent_since(session, broadcast_id, since)
            print(
                texts.render(
                    "broadcast.report", row=row, counts=counts, seconds=seconds, sent_now=sent_now
                )
            )
    return 0


async def _unfinished(app: GuongSang) -> list[int]:
    async with app.db.transaction() as session:
        rows = await session.scalars(select(Broadcast.id).where(Broadcast.finished_at.is_(None)))
        return list(rows)


async def _draw(app: GuongSang, running: list[int], started: float) -> None:
    total = done = 0
    async with app.db.transaction() as session:
        for broadcast_id in running:
            counts = await status_counts(session, broadcast_id)
            total += sum(counts.values())
            done += sum(n for s, n in counts.items() if s not in (outbox.PENDING, outbox.SENDING))
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    rate = done / max(time.monotonic() - started, 0.001)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    sys.stderr.write(f"\r[{bar}] {done:,}/{total:,} ({rate:.1f}/s)".replace(",", "."))
    sys.stderr.flush()


async def _status(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    async with running(settings) as app:
        async with app.db.transaction() as session:
            rows = list(await session.scalars(select(Broadcast).order_by(Broadcast.id)))
            lines = []
            for row in rows:
                code = await session.scalar(
                    select(Submission.code).where(Submission.id == row.submission_id)
                )
                lines.append((row, code, await status_counts(session, row.id)))
        print(texts.render("broadcast.status", lines=lines, tz=app.services.tz))
    return 0


async def _audience(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    channel, _, chat_id = args.target.partition(":")
    if not is_target(args.target):
        print(texts.render("broadcast.bad_target", target=args.target), file=sys.stderr)
        return 2
    kind = args.kind or ("group" if chat_id.startswith("-") else "person")
    async with running(settings) as app:
        async with app.db.transaction() as session:
            member, changed = await broadcasting.set_subscription(
                session, app.services, channel, chat_id, None, args.adding, kind=kind
            )
            if args.adding:
                member.kind = kind
        print(
            texts.render(
                "broadcast.audience_changed",
                target=args.target,
                adding=args.adding,
                changed=changed,
            )
        )
    return 0


async def _audience_list(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    async with running(settings) as app:
        async with app.db.transaction() as session:
            members = list(
                await session.scalars(select(AudienceMember).order_by(AudienceMember.id))
            )
        print(texts.render("broadcast.audience", members=members))
    return 0
