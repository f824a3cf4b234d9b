"""Reads a units list (CSV or XLSX with columns name, level, code, organisation)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from handlers.text_rules import clean_line, fold
from storage.units import LEVELS, UnitRow

# Spellings people use in spreadsheets for each level.
_LEVEL_ALIASES = {
    "mn": "MN",
    "mam non": "MN",
    "th": "TH",
    "tieu hoc": "TH",
    "thcs": "THCS",
    "trung hoc co so": "THCS",
    "other": "other",
    "khac": "other",
}


@dataclass
class UnitsFile:
    """Rows that can be imported, and the problems of those that cannot (by line number)."""

    rows: list[UnitRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_units(path: Path) -> UnitsFile:
    """Parse `path`; every bad row is reported, none is silently skipped."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        table = _xlsx_rows(path)
    else:
        table = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
    result = UnitsFile()
    if not table:
        result.errors.append((1, "tệp trống"))
        return result
    header = [fold(str(h or "")) for h in table[0]]
    if "name" not in header or "level" not in header:
        result.errors.append((1, "dòng tiêu đề phải có các cột name và level"))
        return result
    col = {
        name: header.index(name)
        for name in ("name", "level", "code", "organisation")
        if name in header
    }
    for number, raw in enumerate(table[1:], start=2):
        cells = [clean_line(str(c)) if c is not None else "" for c in raw]
        if not any(cells):
            continue

        def cell(name: str, cells: list[str] = cells) -> str:
            index = col.get(name)
            return cells[index] if index is not None and index < len(cells) else ""

        name, level = cell("name"), _LEVEL_ALIASES.get(fold(cell("level")))
        if not name:
            result.errors.append((number, "thiếu tên đơn vị (cột name)"))
        elif len(name) > 200:
            result.errors.append((number, "tên đơn vị dài quá 200 ký tự"))
        elif level is None:
            result.errors.append(
                (number, f"cấp '{cell('level')}' không hợp lệ (dùng {', '.join(LEVELS)})")
            )
        else:
            result.rows.append(
                UnitRow(name, level, cell("code") or None, cell("organisation") or None)
            )
    return result


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's plain "CSV" on Vietnamese Windows is saved in code page 1258.
        return data.decode("cp1258")


def _xlsx_rows(path: Path) -> list[list[object]]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()
