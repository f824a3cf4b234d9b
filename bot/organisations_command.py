"""`guongsang organisations`: import the nomination ladder's organisations from CSV or XLSX
(name, parent), and list them as a tree (issue 20)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.app import running
from bot.campaign_file import CampaignFileError
from bot.organisations_file import check_against, read_organisations
from bot.settings import Settings
from handlers.collation import vietnamese_key
from storage import events
from storage import organisations as store
from storage.models import Organisation
from templates import Texts


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `organisations import FILE` and `organisations list`."""
    orgs = sub.add_parser("organisations", help="organisations of the nomination ladder")
    orgs_sub = orgs.add_subparsers(dest="organisations_command", required=True)
    imp = orgs_sub.add_parser("import", help="import organisations from CSV or XLSX: name, parent")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=import_file)
    orgs_sub.add_parser("list", help="print the organisations as a tree").set_defaults(
        func=list_tree
    )


def _texts() -> Texts:
    return Texts("cli", html=False)


async def import_file(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Import `args.file`: all its rows, or none when one is wrong (each reported by line)."""
    path: Path = args.file
    if not await asyncio.to_thread(path.is_file):
        print(texts.render("messages.file_missing", path=path), file=sys.stderr)
        return 2
    # Reading and parsing a spreadsheet is slow, blocking work: off the event loop.
    parsed = await asyncio.to_thread(read_organisations, path)
    if parsed.errors:
        print(_texts().render("organisations.errors", path=path, errors=parsed.errors),
              file=sys.stderr)  # fmt: skip
        return 2
    # The ladder check waits: the organisations a ladder still misses may be in this file.
    async with running(settings, check_ladders=False) as app, app.db.transaction() as session:
        check_against(parsed, await store.parents(session))
        if parsed.errors:
            print(_texts().render("organisations.errors", path=path, errors=parsed.errors),
                  file=sys.stderr)  # fmt: skip
            return 2
        created, updated = await store.upsert_tree(session, parsed.rows)
        total = len(await store.tree(session))
        await events.record(
            session,
            subject="organisations",
            subject_id=0,
            action="imported",
            actor_id=None,
            channel="cli",
            reason=str(path),
            data={"rows": len(parsed.rows), "created": created, "updated": updated},
            at=app.services.now(),
        )
        names = set(await store.parents(session))
    print(_texts().render("organisations.imported", created=created, updated=updated, total=total))
    try:
        app.check_ladders(names)
    except CampaignFileError as exc:
        # Imported all the same: the rest may come in another file; the bot will not start
        # until then, and says so.
        print(_texts().render("organisations.ladder_missing", message=str(exc)), file=sys.stderr)
    return 0


async def list_tree(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Print every organisation under the one above it, in Vietnamese order."""
    async with running(settings, check_ladders=False) as app, app.db.transaction() as session:
        lines = indented(await store.tree(session))
    print(_texts().render("organisations.listing", lines=lines))
    return 0


def indented(orgs: list[Organisation]) -> list[tuple[int, str]]:
    """(depth, name) of each organisation, each under its parent, siblings in Vietnamese
    order. Walked with a set of those shown, so even a loop made by hand in the database
    prints once rather than forever."""
    ids = {org.id for org in orgs}
    children: dict[int | None, list[Organisation]] = {}
    for org in orgs:
        parent = org.parent_id if org.parent_id in ids else None
        children.setdefault(parent, []).append(org)
    for group in children.values():
        group.sort(key=lambda org: vietnamese_key(org.name))
    lines: list[tuple[int, str]] = []
    shown: set[int] = set()
    stack = [(0, org) for org in reversed(children.get(None, []))]
    while stack:
        depth, org = stack.pop()
        if org.id in shown:
            continue
        shown.add(org.id)
        lines.append((depth, org.name))
        stack.extend((depth + 1, child) for child in reversed(children.get(org.id, [])))
    return lines
