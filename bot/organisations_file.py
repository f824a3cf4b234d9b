"""Reads an organisations list (CSV or XLSX with columns name, parent): the nomination
ladder's bodies and the level above each (issue 20), importable like units."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from handlers.text_rules import clean_line, fold
from storage.nominations import OrganisationRow

# A district's offices and unions are a few hundred rows; the caps keep a wrong file (a
# whole database dump, a photo renamed .csv) from filling the memory of a small server.
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
MAX_NAME = 200


@dataclass
class OrganisationsFile:
    """Rows that can be imported, with the file's line of each, and the problems of the
    rows that cannot (by line number)."""

    rows: list[OrganisationRow] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_organisations(path: Path) -> OrganisationsFile:
    """Parse `path` (blocking: run it in a thread); every bad row is reported, none skipped.

    Checks what the file alone can tell: names, lengths, duplicates. Whether a parent exists
    and whether the parents go round in a loop also needs the database (`check_against`).
    """
    result = OrganisationsFile()
    if path.stat().st_size > MAX_BYTES:
        result.errors.append((1, f"tệp lớn quá {MAX_BYTES // (1024 * 1024)} MB"))
        return result
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            table = _xlsx_rows(path)
        else:
            table = list(csv.reader(io.StringIO(_decode(path.read_bytes()))))
    except _TooLong:
        result.errors.append((1, f"tệp có quá {MAX_ROWS} dòng"))
        return result
    except (ValueError, OSError, KeyError, csv.Error, zipfile.BadZipFile) as exc:
        # openpyxl raises these for a file that is not a workbook at all.
        result.errors.append((1, f"không đọc được tệp ({exc.__class__.__name__})"))
        return result
    if len(table) > MAX_ROWS + 1:
        result.errors.append((1, f"tệp có quá {MAX_ROWS} dòng"))
        return result
    if not table:
        result.errors.append((1, "tệp trống"))
        return result
    header = [fold(str(h or "")) for h in table[0]]
    if "name" not in header:
        result.errors.append((1, "dòng tiêu đề phải có các cột name và parent"))
        return result
    name_col, parent_col = (
        header.index("name"),
        header.index("parent") if "parent" in header else None,
    )
    for number, raw in enumerate(table[1:], start=2):
        cells = [clean_line(str(c)) if c is not None else "" for c in raw]
        if not any(cells):
            continue
        name = cells[name_col] if name_col < len(cells) else ""
        parent = cells[parent_col] if parent_col is not None and parent_col < len(cells) else ""
        if not name:
            result.errors.append((number, "thiếu tên tổ chức (cột name)"))
        elif len(name) > MAX_NAME or len(parent) > MAX_NAME:
            result.errors.append((number, f"tên tổ chức dài quá {MAX_NAME} ký tự"))
        elif name in result.lines:
            result.errors.append((number, f"'{name}' đã có ở dòng {result.lines[name]}"))
        elif parent == name:
            result.errors.append((number, f"'{name}' không thể là cấp trên của chính nó"))
        else:
            result.rows.append(OrganisationRow(name, parent or None))
            result.lines[name] = number
    return result


def check_against(parsed: OrganisationsFile, existing: dict[str, str | None]) -> None:
    """Add to `parsed.errors` what needs the database too: a parent that is neither in the
    file nor already imported, and parents that go round in a loop once the file's rows
    replace the database's (`existing`: every organisation's name → its parent's name)."""
    parents = {**existing, **{row.name: row.parent for row in parsed.rows}}
    for row in parsed.rows:
        line = parsed.lines[row.name]
        if row.parent is not None and row.parent not in parents:
            parsed.errors.append(
                (line, f"cấp trên '{row.parent}' không có trong tệp và chưa được nhập trước đó")
            )
            continue
        seen, up = {row.name}, row.parent
        while up is not None:
            if up in seen:
                parsed.errors.append((line, f"cấp trên của '{row.name}' vòng lại chính nó"))
                break
            seen.add(up)
            up = parents.get(up)
    parsed.errors.sort()


class _TooLong(Exception):
    """More rows than MAX_ROWS: stop reading the sheet."""


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
        rows: list[list[object]] = []
        for row in workbook.worksheets[0].iter_rows(values_only=True):
            rows.append(list(row))
            if len(rows) > MAX_ROWS + 1:
                # A sheet's declared size can be a million rows; stop as soon as it is too many.
                raise _TooLong
        return rows
    finally:
        workbook.close()
