"""Units (schools, unions): `guongsang units import` through the real CLI, and unit search.

The import runs as a subprocess exactly as an admin runs it, against a fresh database of the
test's backend; the database is then read directly, so what is counted is what was committed.
Search runs on the `app` fixture's database (both backends: LIKE escaping and lower() differ
between SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.app import GuongSang
from storage import units

REPO = Path(__file__).resolve().parent.parent
UNITS_CSV = REPO / "tests" / "fixtures" / "units-thanh-xuan.csv"
IMPORTED = re.compile(r"Đã nhập đơn vị: (\d+) mới, (\d+) cập nhật; hiện có (\d+) đơn vị\.")


def fixture_rows() -> list[list[str]]:
    """The sample units file as rows, header first."""
    with UNITS_CSV.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


@dataclass
class Store:
    """Where the CLI imports to: a data dir and a fresh database of the test's backend."""

    data: Path
    url: str

    def import_units(self, path: Path) -> subprocess.CompletedProcess[str]:
        """`python -m bot units import PATH`, as an admin runs it, with only our settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
        env.update(
            PYTHONPATH=str(REPO),
            PYTHONUTF8="1",
            GUONGSANG_DATA_DIR=str(self.data),
            GUONGSANG_DATABASE_URL=self.url,
        )
        return subprocess.run(
            [sys.executable, "-m", "bot", "units", "import", str(path)],
            env=env,
            cwd=self.data.parent,  # not the repo: no .env file is picked up
            capture_output=True,
            text=True,
            timeout=60,
        )

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of `sql`, read back from what the CLI committed."""
        engine = create_async_engine(self.url)
        try:
            async with engine.connect() as conn:
                return [tuple(row) for row in await conn.execute(text(sql))]
        finally:
            await engine.dispose()

    async def rows(self) -> list[tuple[str, str, str | None]]:
        """(name, level, code) of every unit, in the order they were created."""
        return await self.query("SELECT name, level, code FROM units ORDER BY id")  # type: ignore[return-value]


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Store:
    """An empty data dir and database for the CLI to import into."""
    return Store(tmp_path / "data", database_url)


def imported(done: subprocess.CompletedProcess[str]) -> tuple[int, int, int]:
    """(created, updated, total) from the CLI's summary line."""
    assert done.returncode == 0, done.stderr
    match = IMPORTED.search(done.stdout)
    assert match, done.stdout
    created, updated, total = (int(n) for n in match.groups())
    return created, updated, total


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


# ---------------------------------------------------------------- import through the CLI


async def test_import_then_reimport_creates_once(store: Store) -> None:
    assert imported(store.import_units(UNITS_CSV)) == (27, 0, 27)
    expected = [(name, level, code) for name, level, code, _ in fixture_rows()[1:]]
    assert await store.rows() == expected

    # Importing the same list again (the admin re-sends the spreadsheet) changes nothing.
    assert imported(store.import_units(UNITS_CSV)) == (0, 27, 27)
    assert await store.rows() == expected


async def test_xlsx_imports_the_same_units(tmp_path: Path, store: Store) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in fixture_rows():
        sheet.append(row)
    xlsx = tmp_path / "don-vi.xlsx"
    workbook.save(xlsx)

    assert imported(store.import_units(xlsx)) == (27, 0, 27)
    assert await store.rows() == [(n, lv, c) for n, lv, c, _ in fixture_rows()[1:]]


async def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    tmp_path: Path, store: Store
) -> None:
    imported(store.import_units(UNITS_CSV))
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            ["name", "level", "code", "organisation"],
            ["Trường Mầm non Ban Mai", "MN", "MN-BM", ""],  # line 2: fine on its own
            ["Trường Đại học Thanh Xuân", "DH", "DH-TX", ""],  # line 3: no such level
            ["", "TH", "TH-XX", ""],  # line 4: no name
            ["Trường Tiểu học Mới", "Tiểu học", "TH-MOI", ""],  # line 5: a spelled-out level
        ],
    )
    done = store.import_units(bad)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "dòng 3" in done.stderr and "dòng 4" in done.stderr, done.stderr
    assert "dòng 2" not in done.stderr and "dòng 5" not in done.stderr, done.stderr
    assert "DH" in done.stderr and "cột name" in done.stderr
    # All or nothing: the valid lines 2 and 5 were not imported either.
    names = [name for name, _, _ in await store.rows()]
    assert len(names) == 27
    assert "Trường Mầm non Ban Mai" not in names and "Trường Tiểu học Mới" not in names


def test_bad_row_message_is_plain_text(tmp_path: Path, store: Store) -> None:
    # The terminal is not HTML: the admin must read "cấp 'DH'", not "cấp &#39;DH&#39;".
    bad = write_csv(tmp_path / "bad.csv", [["name", "level"], ["Trường Đại học X", "DH"]])
    done = store.import_units(bad)
    assert done.returncode == 2
    assert "dòng 2: cấp 'DH' không hợp lệ" in done.stderr, done.stderr


async def test_renamed_unit_is_updated_not_duplicated(tmp_path: Path, store: Store) -> None:
    imported(store.import_units(UNITS_CSV))
    renamed = write_csv(
        tmp_path / "renamed.csv",
        [
            ["name", "level", "code", "organisation"],
            ["Trường THCS Lê Quý Đôn - Thanh Xuân", "THCS", "THCS-LQD", ""],
        ],
    )
    assert imported(store.import_units(renamed)) == (0, 1, 27)
    rows = await store.rows()
    assert len(rows) == 27
    assert [name for name, _, code in rows if code == "THCS-LQD"] == [
        "Trường THCS Lê Quý Đôn - Thanh Xuân"
    ]
    assert "Trường THCS Lê Quý Đôn" not in [name for name, _, _ in rows]
    # The search key follows the new name, so search finds the unit by it.
    [(key,)] = await store.query("SELECT search_key FROM units WHERE code = 'THCS-LQD'")
    assert key == "truong thcs le quy don - thanh xuan"


def test_missing_file_is_reported(tmp_path: Path, store: Store) -> None:
    done = store.import_units(tmp_path / "khong-co.csv")
    assert done.returncode == 2
    assert "Không tìm thấy tệp" in done.stderr and "khong-co.csv" in done.stderr


_SHAPE_MARKS = {"\u0302", "\u0306", "\u031b"}  # circumflex, breve, horn: precomposed in 1258


def cp1258(text: str) -> bytes:
    """`text` as Windows-1258, the way Excel's plain "CSV" saves on Vietnamese Windows.

    The code page has â, ă, ơ, ư, đ precomposed but tone marks only as combining characters.
    """
    out = []
    for ch in unicodedata.normalize("NFC", text):
        marks = unicodedata.normalize("NFD", ch)
        base = marks[0] + "".join(m for m in marks[1:] if m in _SHAPE_MARKS)
        tones = "".join(m for m in marks[1:] if m not in _SHAPE_MARKS)
        out.append(unicodedata.normalize("NFC", base) + tones)
    return "".join(out).encode("cp1258")


async def test_windows_1258_csv_imports(tmp_path: Path, store: Store) -> None:
    legacy = tmp_path / "don-vi-ansi.csv"
    legacy.write_bytes(cp1258(UNITS_CSV.read_text(encoding="utf-8")))
    done = store.import_units(legacy)
    assert "Traceback" not in done.stderr, done.stderr
    assert imported(done) == (27, 0, 27)
    # Decoded and NFC-composed: the names are the same text as the UTF-8 original.
    assert "Trường THCS Lê Quý Đôn" in [name for name, _, _ in await store.rows()]


# ---------------------------------------------------------------- search


async def search(app: GuongSang, query: str, limit: int = 8) -> list[str]:
    """The names found, the same in the same order as ORM rows (commands) and as plain
    values (a chat's unit question)."""
    async with app.db.transaction() as session:
        rows = await units.search(session, query, limit)
        briefs = await units.search_briefs(session, query, limit)
    assert [(u.id, u.name, u.level) for u in rows] == [(u.id, u.name, u.level) for u in briefs]
    return [unit.name for unit in rows]


async def test_search_ignores_accents_and_case(app: GuongSang) -> None:
    assert (await search(app, "thcs le quy don"))[0] == "Trường THCS Lê Quý Đôn"
    assert (await search(app, "LÊ QUÝ"))[0] == "Trường THCS Lê Quý Đôn"
    assert (await search(app, "Lê Quý Đôn"))[0] == "Trường THCS Lê Quý Đôn"


async def test_search_needs_every_word(app: GuongSang) -> None:
    assert sorted(await search(app, "kim giang")) == [
        "Trường Mầm non Kim Giang",
        "Trường THCS Kim Giang",
        "Trường Tiểu học Kim Giang",
    ]
    # Words in any order, and each must match: "tieu hoc" narrows to one school.
    assert await search(app, "giang tieu hoc") == ["Trường Tiểu học Kim Giang"]
    assert await search(app, "kim giang dai hoc") == []


async def test_search_respects_the_limit_shortest_first(app: GuongSang) -> None:
    found = await search(app, "truong", limit=5)
    assert len(found) == 5  # 27 names contain "trường"; only 5 asked for
    lengths = [len(name) for name in found]
    assert lengths == sorted(lengths)


async def test_a_long_query_is_searched_too(app: GuongSang) -> None:
    """Past the words a prepared search takes, the statement is built for the query."""
    name = "Trường Tiểu học Kim Giang"
    assert await search(app, f"truong tieu hoc kim giang {name}") == [name]
    assert await search(app, f"truong tieu hoc kim giang {name} ha noi") == []


async def test_search_by_code(app: GuongSang) -> None:
    assert await search(app, "THCS-LQD") == ["Trường THCS Lê Quý Đôn"]
    assert await search(app, "thcs-lqd") == ["Trường THCS Lê Quý Đôn"]


@pytest.mark.parametrize("query", ["%", "_", "kim%giang", "kim_giang", "%%%", "\\"])
async def test_like_wildcards_are_literal(app: GuongSang, query: str) -> None:
    # Unescaped, "%" would match every unit and "_" any character (such as the space in
    # "kim giang"); typed by a person they are just characters no unit name contains.
    assert await search(app, query) == []
