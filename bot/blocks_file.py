"""Emulation blocks from the campaigns file (`[[blocks]]`) or a CSV/XLSX list, and their
sync into the database (units resolved by code or name, criteria files loaded as versions)."""

from __future__ import annotations

import csv
import io
import logging
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign_file import CampaignFileError
from handlers.emulation.criteria import parse_sheet
from storage import emulation
from storage.models import Unit
from storage.search_keys import fold

log = logging.getLogger(__name__)
_KNOWN = {
    "slug", "name", "year", "head", "deputy", "members", "titles", "score_deadline",
    "remind_days_before", "criteria", "reports",
}  # fmt: skip
# What people write in the "role" column of a blocks spreadsheet.
_ROLES = {
    "head": "head", "truong khoi": "head", "truong": "head",
    "deputy": "deputy", "pho khoi": "deputy", "pho": "deputy",
    "member": "member", "thanh vien": "member", "": "member",
}  # fmt: skip


@dataclass
class BlockSpec:
    """A block as written: units named by code or name, not yet looked up."""

    slug: str
    name: str
    year: int
    head: str
    deputy: str | None = None
    members: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    score_deadline: date | None = None
    remind_days_before: int = 3
    criteria: Path | None = None
    # The criteria file's text, read with the campaigns file (None when it names none).
    criteria_text: str | None = None
    reports: list[dict[str, str]] = field(default_factory=list)


def load_blocks(path: Path | None) -> list[BlockSpec]:
    """The `[[blocks]]` of the campaigns file (none without a file or without the table)."""
    if path is None:
        return []
    raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    tables = raw.get("blocks", [])
    if not isinstance(tables, list):
        raise CampaignFileError(f"{path}: blocks phải là các bảng [[blocks]]")
    specs = [_parse(t, f"{path}: blocks[{i}]", path.parent) for i, t in enumerate(tables)]
    slugs = [s.slug for s in specs]
    for slug in slugs:
        if slugs.count(slug) > 1:
            raise CampaignFileError(f"{path}: khối «{slug}» bị trùng")
    return specs


def _parse(table: Any, where: str, base: Path) -> BlockSpec:
    if not isinstance(table, dict):
        raise CampaignFileError(f"{where}: phải là một bảng [[blocks]]")
    for key in table:
        if key not in _KNOWN:
            raise CampaignFileError(f"{where}.{key}: khóa không được hỗ trợ")
    for key in ("slug", "name", "year", "head", "members"):
        if key not in table:
            raise CampaignFileError(f"{where}.{key}: thiếu khóa bắt buộc")
    year = table["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise CampaignFileError(f"{where}.year: phải là năm, ví dụ 2024")
    for key in ("members", "titles"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise CampaignFileError(f"{where}.{key}: phải là danh sách chuỗi không rỗng")
    deadline = table.get("score_deadline")
    if deadline is not None and (not isinstance(deadline, date) or isinstance(deadline, datetime)):
        raise CampaignFileError(f"{where}.score_deadline: phải là ngày dạng YYYY-MM-DD")
    days = table.get("remind_days_before", 3)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 30:
        raise CampaignFileError(f"{where}.remind_days_before: phải là số nguyên từ 0 đến 30")
    reports = []
    for i, report in enumerate(table.get("reports", [])):
        due = report.get("due") if isinstance(report, dict) else None
        name = report.get("name") if isinstance(report, dict) else None
        if not isinstance(name, str) or not isinstance(due, date):
            raise CampaignFileError(f"{where}.reports[{i}]: cần name và due (YYYY-MM-DD)")
        reports.append({"key": f"r{i + 1}", "name": name.strip(), "due": due.isoformat()})
    criteria = table.get("criteria")
    if criteria is not None and not isinstance(criteria, str):
        raise CampaignFileError(f"{where}.criteria: phải là đường dẫn tệp tiêu chí .toml")
    criteria_path = base / criteria if criteria else None
    criteria_text = None
    if criteria_path is not None:
        try:
            criteria_text = criteria_path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CampaignFileError(
                f"{where}.criteria: không đọc được tệp {criteria_path} ({exc.strerror})"
            ) from exc
    return BlockSpec(
        slug=str(table["slug"]).strip(),
        name=str(table["name"]).strip(),
        year=year,
        head=str(table["head"]).strip(),
        deputy=str(table["deputy"]).strip() if table.get("deputy") else None,
        members=[m.strip() for m in table["members"]],
        titles=[t.strip() for t in table.get("titles", [])],
        score_deadline=deadline,
        remind_days_before=days,
        criteria=criteria_path,
        criteria_text=criteria_text,
        reports=reports,
    )


@dataclass
class BlocksFile:
    """Blocks read from a spreadsheet, and the problems of rows that cannot be used."""

    specs: list[BlockSpec] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_blocks(path: Path) -> BlocksFile:
    """A CSV or XLSX with columns block, name, year, unit, role (head/deputy/member)."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from bot.units_file import _xlsx_rows

        table = _xlsx_rows(path)
    else:
        from bot.units_file import _decode

        table = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
    result = BlocksFile()
    if not table:
        result.errors.append((1, "tệp trống"))
        return result
    header = [fold(str(h or "")) for h in table[0]]
    needed = ("block", "name", "year", "unit")
    if not all(h in header for h in needed):
        result.errors.append((1, "dòng tiêu đề phải có các cột block, name, year, unit, role"))
        return result
    col = {h: header.index(h) for h in (*needed, "role") if h in header}
    found: dict[str, BlockSpec] = {}
    for number, raw in enumerate(table[1:], start=2):
        cells = ["" if c is None else str(c).strip() for c in raw]
        if not any(cells):
            continue

        def cell(name: str, cells: list[str] = cells) -> str:
            i = col.get(name)
            return cells[i] if i is not None and i < len(cells) else ""

        slug, unit, role = cell("block"), cell("unit"), _ROLES.get(fold(cell("role")))
        year = cell("year").removesuffix(".0")
        if not slug or not unit:
            result.errors.append((number, "thiếu mã khối (block) hoặc đơn vị (unit)"))
            continue
        if not year.isdigit():
            result.errors.append((number, f"năm «{cell('year')}» không hợp lệ"))
            continue
        if role is None:
            result.errors.append(
                (
                    number,
                    f"vai trò «{cell('role')}» không hợp lệ (trưởng khối, phó khối, thành viên)",
                )
            )
            continue
        spec = found.setdefault(slug, BlockSpec(slug, cell("name") or slug, int(year), head=""))
        spec.members.append(unit)
        if role == "head":
            spec.head = unit
        elif role == "deputy":
            spec.deputy = unit
    for slug, spec in found.items():
        if not spec.head:
            result.errors.append((1, f"khối «{slug}» chưa có đơn vị trưởng khối"))
        else:
            result.specs.append(spec)
    return result


async def find_unit(session: AsyncSession, ref: str) -> Unit | None:
    """The unit whose code or (accent-insensitive) name is `ref`; "Tiểu học Hạ Đình" finds
    "Trường Tiểu học Hạ Đình", as spreadsheets often leave out "Trường"."""
    unit = await session.scalar(select(Unit).where(func.lower(Unit.code) == ref.lower()))
    for key in (fold(ref), f"truong {fold(ref)}"):
        if unit is None:
            unit = await session.scalar(
                select(Unit).where(Unit.search_key == key).order_by(Unit.id).limit(1)
            )
    return unit


async def sync(session: AsyncSession, specs: list[BlockSpec], now: datetime) -> list[str]:
    """Write the blocks to the database; returns the problems (units not found, bad
    criteria). A block whose head unit is unknown is skipped until the units are imported."""
    problems: list[str] = []
    for spec in specs:
        head = await find_unit(session, spec.head)
        if head is None:
            problems.append(f"{spec.slug}: không tìm thấy đơn vị trưởng khối «{spec.head}»")
            continue
        deputy = await find_unit(session, spec.deputy) if spec.deputy else None
        if spec.deputy and deputy is None:
            problems.append(f"{spec.slug}: không tìm thấy đơn vị phó khối «{spec.deputy}»")
        member_ids = []
        for ref in spec.members:
            unit = await find_unit(session, ref)
            if unit is None:
                problems.append(f"{spec.slug}: không tìm thấy đơn vị «{ref}»")
            else:
                member_ids.append(unit.id)
        settings = {
            "titles": spec.titles,
            "score_deadline": spec.score_deadline.isoformat() if spec.score_deadline else None,
            "remind_days_before": spec.remind_days_before,
            "reports": spec.reports,
        }
        row = emulation.BlockRow(
            spec.slug, spec.name, spec.year, head.id, deputy.id if deputy else None, member_ids,
            settings,
        )  # fmt: skip
        block, _ = await emulation.upsert_block(session, row)
        if spec.criteria_text is not None:
            errors = await load_sheet_text(session, block.id, spec.criteria_text, now)
            if errors:
                problems.append(f"{spec.slug}: {spec.criteria}: " + "; ".join(errors))
    return problems


async def load_sheet_text(
    session: AsyncSession, block_id: int, text: str, now: datetime
) -> list[str]:
    """Store a criteria sheet as the block's next version when it differs from the newest;
    returns the problems that refused it (none when stored or unchanged)."""
    result = parse_sheet(text)
    if result.sheet is None:
        return result.errors
    sheet = result.sheet
    await emulation.add_sheet_if_changed(session, block_id, sheet.title, sheet.to_data(), now)
    return []
