"""`guongsang blocks`: list the emulation blocks, import them, load a criteria sheet version,
export the block's result table and the registration list (letter 004)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot import blocks_file
from bot.app import running
from bot.settings import Settings
from handlers.emulation import exports
from handlers.emulation.criteria import parse_sheet
from handlers.emulation.crosscheck import ranking
from handlers.office_exports import block_registration_lines
from storage import emulation
from storage.emulation_models import EmulationBlock
from templates import Texts


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `blocks` and its sub-commands."""
    blocks = sub.add_parser("blocks", help="emulation blocks (letter 004)")
    blocks.set_defaults(func=_list)
    blocks_sub = blocks.add_subparsers(dest="blocks_command")
    imp = blocks_sub.add_parser("import", help="import blocks from CSV or XLSX")
    imp.add_argument("file", type=Path)
    imp.set_defaults(func=_import)
    sheet = blocks_sub.add_parser("sheet", help="load a criteria sheet (TOML) as a new version")
    sheet.add_argument("block", help="block slug")
    sheet.add_argument("file", type=Path)
    sheet.set_defaults(func=_sheet)
    export = blocks_sub.add_parser("export", help="the block's result table (XLSX or DOCX)")
    export.add_argument("block", help="block slug")
    export.add_argument("--format", choices=("xlsx", "docx"), default="xlsx")
    export.add_argument("--output", type=Path, required=True)
    export.set_defaults(func=_export)
    regs = blocks_sub.add_parser("registrations", help="the registration list (XLSX)")
    regs.add_argument("block", help="block slug")
    regs.add_argument("--output", type=Path, required=True)
    regs.set_defaults(func=_registrations)


def _texts() -> Texts:
    return Texts("cli", html=False)


async def _list(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    async with running(settings) as app, app.db.transaction() as session:
        rows = []
        for block in await emulation.blocks(session):
            cards = {c.unit_id: c for c in await emulation.cards(session, block.id)}
            rows.append(
                (
                    block,
                    await emulation.members(session, block),
                    await emulation.latest_sheet(session, block.id),
                    await emulation.published_sheet(session, block.id),
                    cards,
                )
            )
        print(_texts().render("blocks.listing", rows=rows, problems=app.block_problems))
    return 0


async def _import(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    if not args.file.is_file():
        print(texts.render("messages.file_missing", path=args.file), file=sys.stderr)
        return 2
    parsed = blocks_file.read_blocks(args.file)
    if parsed.errors:
        print(_texts().render("blocks.import_errors", path=args.file, errors=parsed.errors),
              file=sys.stderr)  # fmt: skip
        return 2
    async with running(settings) as app, app.db.transaction() as session:
        problems = await blocks_file.sync(session, parsed.specs, app.services.now())
    print(_texts().render("blocks.imported", count=len(parsed.specs), problems=problems))
    return 0


async def _block_or_fail(session: AsyncSession, slug: str) -> EmulationBlock | None:
    """The block called `slug`, or None after saying which blocks there are."""
    block = await emulation.block_by_slug(session, slug)
    if block is None:
        known = [b.slug for b in await emulation.blocks(session)]
        print(_texts().render("blocks.unknown_block", slug=slug, known=known), file=sys.stderr)
    return block


async def _sheet(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    if not args.file.is_file():
        print(texts.render("messages.file_missing", path=args.file), file=sys.stderr)
        return 2
    text = args.file.read_text(encoding="utf-8-sig")
    async with running(settings) as app, app.db.transaction() as session:
        block = await _block_or_fail(session, args.block)
        if block is None:
            return 2
        result = parse_sheet(text, tuple(app.services.campaign_ids))
        if result.sheet is None:
            print(_texts().render("blocks.sheet_errors", path=args.file, errors=result.errors),
                  file=sys.stderr)  # fmt: skip
            return 2
        before = await emulation.latest_sheet(session, block.id)
        await blocks_file.load_sheet_text(session, block.id, text, app.services.now())
        after = await emulation.latest_sheet(session, block.id)
        if after is None or (before is not None and after.id == before.id):
            print(_texts().render("blocks.sheet_same", block=block))
        else:
            print(_texts().render("blocks.sheet_loaded", block=block, sheet=after))
    return 0


async def _export(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    async with running(settings) as app, app.db.transaction() as session:
        block = await _block_or_fail(session, args.block)
        if block is None:
            return 2
        sheet, lines = await ranking(session, block)
        if sheet is None:
            print(_texts().render("blocks.no_sheet", block=block), file=sys.stderr)
            return 2
        today = app.services.today()
        signer = await exports.block_signer(session, block)
        if args.format == "xlsx":
            data = exports.result_xlsx(block, lines, today, signer=signer)
        else:
            data = exports.result_docx(block, lines, today, signer=signer)
    args.output.write_bytes(data)
    print(_texts().render("blocks.exported", count=len(lines), path=args.output))
    return 0


async def _registrations(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    async with running(settings) as app, app.db.transaction() as session:
        block = await _block_or_fail(session, args.block)
        if block is None:
            return 2
        lines = await block_registration_lines(session, block)
        signer = await exports.block_signer(session, block)
        data = exports.registrations_xlsx(
            block, lines, app.services.today(), app.services.tz, signer=signer
        )
    args.output.write_bytes(data)
    print(_texts().render("blocks.exported", count=len(lines), path=args.output))
    return 0
