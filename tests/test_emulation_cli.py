"""Letter 004 from the command line: blocks listed by name, criteria sheets checked row by
row, the result table exported; and the sheet's own checks."""

from __future__ import annotations

from pathlib import Path

from docx import Document

from handlers.emulation.criteria import parse_sheet
from tests.apps import UNITS_CSV, run_cli
from tests.emulation_helpers import EMULATION

BAD_SHEET = """
title = "Bảng tiêu chí thử"
[[sections]]
name = "I. Chuyên môn"
[[sections.criteria]]
id = "1.1"
name = "Chất lượng giáo dục"
max = 10
[[sections.criteria]]
id = "1.2"
name = "Đổi mới"
max = -5
[[sections]]
name = "II. Thi đua"
[[sections.criteria]]
id = "1.1"
name = "Trùng mã"
max = 5
[[sections.criteria]]
id = "2.2"
max = 5
kind = "extra"
"""


def test_a_sheet_with_errors_names_each_row_and_problem() -> None:
    result = parse_sheet(BAD_SHEET)
    assert result.sheet is None
    assert result.errors == [
        "Phần 1, tiêu chí 2 («1.2»): điểm tối đa (max) phải là số lớn hơn 0 và không quá 1000",
        "Phần 2, tiêu chí 1: mã «1.1» bị trùng",
        "Phần 2, tiêu chí 2 («2.2»): thiếu nội dung tiêu chí (name)",
        "Phần 2, tiêu chí 2 («2.2»): kind «extra» không hợp lệ (chọn score, bonus hoặc deduction)",
    ]
    good = parse_sheet((EMULATION / "criteria-thcs-2024.toml").read_text(encoding="utf-8"))
    assert good.sheet is not None and len(good.sheet.criteria) == 10
    assert good.sheet.max_total == 105


def test_blocks_listed_sheet_refused_then_loaded_and_exported(tmp_path: Path) -> None:
    env = {
        "GUONGSANG_DATA_DIR": str(tmp_path / "data"),
        "GUONGSANG_CONFIG": str(EMULATION / "campaigns.toml"),
    }
    assert run_cli(env, "units", "import", str(UNITS_CSV)).returncode == 0
    listed = run_cli(env, "blocks")
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    assert "Khối thi đua các trường THCS (khoi-thcs-2024) — năm 2024" in out
    assert (
        "Trưởng khối: Trường THCS Nhân Chính" in out and "Phó khối: Trường THCS Thanh Xuân" in out
    )
    assert "Đơn vị thành viên (4)" in out and "Trường THCS Kim Giang [THCS]" in out
    assert "(phiên bản 1 chờ ban hành)" in out

    bad = tmp_path / "bad.toml"
    bad.write_text(BAD_SHEET, encoding="utf-8")
    refused = run_cli(env, "blocks", "sheet", "khoi-thcs-2024", str(bad))
    assert refused.returncode == 2
    assert "Phần 2, tiêu chí 1: mã «1.1» bị trùng" in refused.stderr
    same = run_cli(
        env, "blocks", "sheet", "khoi-thcs-2024", str(EMULATION / "criteria-thcs-2024.toml")
    )
    assert same.returncode == 0 and "không đổi" in same.stdout
    changed = tmp_path / "v2.toml"
    changed.write_text(
        (EMULATION / "criteria-thcs-2024.toml")
        .read_text(encoding="utf-8")
        .replace("max = 20", "max = 25"),
        encoding="utf-8",
    )
    loaded = run_cli(env, "blocks", "sheet", "khoi-thcs-2024", str(changed))
    assert loaded.returncode == 0 and "phiên bản 2" in loaded.stdout, loaded.stderr

    unknown = run_cli(env, "blocks", "export", "khoi-khac", "--output", str(tmp_path / "x.docx"))
    assert unknown.returncode == 2 and "Không có khối «khoi-khac»" in unknown.stderr
    # Nothing published yet: no table to export.
    none = run_cli(env, "blocks", "export", "khoi-thcs-2024", "--format", "docx",
                   "--output", str(tmp_path / "x.docx"))  # fmt: skip
    assert none.returncode == 2 and "chưa ban hành bảng tiêu chí" in none.stderr


def test_docx_table_shape(tmp_path: Path) -> None:
    from datetime import UTC, date, datetime
    from types import SimpleNamespace

    from handlers.emulation import exports
    from handlers.emulation.scoring import Ranked

    block = SimpleNamespace(name="Khối thi đua các trường THCS", year=2024,
                            head_unit=SimpleNamespace(name="Trường THCS Nhân Chính"))  # fmt: skip
    lines = [
        Ranked(1, "Trường THCS Khương Đình", 90.0, 85.5, 1, datetime(2024, 1, 10, tzinfo=UTC),
               False, "Tập thể lao động xuất sắc", 2),
        Ranked(2, "Trường THCS Thanh Xuân", 75.0, 75.0, 2, None, True, None, 0),
    ]  # fmt: skip
    data = exports.result_docx(block, lines, date(2024, 12, 5))  # type: ignore[arg-type]
    path = tmp_path / "ket-qua.docx"
    path.write_bytes(data)
    doc = Document(str(path))
    table = doc.tables[1]
    rows = [[c.text for c in row.cells] for row in table.rows]
    assert rows[0] == [
        "TT",
        "Đơn vị",
        "Tự chấm",
        "Khối chấm",
        "Xếp hạng",
        "Đề nghị khen thưởng",
        "Ghi chú",
    ]
    assert rows[1] == [
        "1", "Trường THCS Khương Đình", "90", "85,5", "1", "Tập thể lao động xuất sắc",
        "Khối điều chỉnh 2 tiêu chí",
    ]  # fmt: skip
    assert rows[2][6] == "Nộp muộn"
    assert "TRƯỞNG KHỐI THI ĐUA" in doc.tables[2].rows[0].cells[1].text
    assert doc.sections[0].page_width > doc.sections[0].page_height


def test_blocks_imported_from_a_spreadsheet(tmp_path: Path) -> None:
    env = {"GUONGSANG_DATA_DIR": str(tmp_path / "data")}
    assert run_cli(env, "units", "import", str(UNITS_CSV)).returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "block,name,year,unit,role\nkhoi-th,Khối Tiểu học,2024,TH-NC,trưởng khối\n"
        "khoi-th,Khối Tiểu học,năm nay,TH-KG,\n",
        encoding="utf-8",
    )
    refused = run_cli(env, "blocks", "import", str(bad))
    assert refused.returncode == 2 and "dòng 3: năm «năm nay» không hợp lệ" in refused.stderr
    good = tmp_path / "khoi.csv"
    good.write_text(
        "block,name,year,unit,role\n"
        "khoi-th-2024,Khối thi đua các trường Tiểu học,2024,TH-NC,Trưởng khối\n"
        "khoi-th-2024,Khối thi đua các trường Tiểu học,2024,Trường Tiểu học Kim Giang,phó khối\n"
        "khoi-th-2024,Khối thi đua các trường Tiểu học,2024,tieu hoc ha dinh,thành viên\n"
        "khoi-th-2024,Khối thi đua các trường Tiểu học,2024,TH-XYZ,thành viên\n",
        encoding="utf-8",
    )
    done = run_cli(env, "blocks", "import", str(good))
    assert done.returncode == 0, done.stderr
    assert "Đã nhập 1 khối thi đua" in done.stdout
    assert "không tìm thấy đơn vị «TH-XYZ»" in done.stdout
    out = run_cli(env, "blocks").stdout
    assert "Khối thi đua các trường Tiểu học (khoi-th-2024) — năm 2024" in out
    assert "Phó khối: Trường Tiểu học Kim Giang" in out
    assert "Trường Tiểu học Hạ Đình [TH]" in out and "Đơn vị thành viên (3)" in out


def test_ranking_tie_rule() -> None:
    from datetime import UTC, datetime

    from handlers.emulation.criteria import Criterion, Sheet
    from handlers.emulation.scoring import rank

    bonus = Criterion("T", "II", "Thưởng", 5, kind="bonus")
    sheet = Sheet("Thử", (Criterion("1", "I", "Một", 10), bonus))
    early, later = datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 6, tzinfo=UTC)
    rows = [
        (1, "Trường A", {"1": {"self": 9, "block": 8}}, later, False, None),
        (2, "Trường B", {"1": {"self": 7}, "T": {"self": 1}}, early, False, None),
        (3, "Trường C", {"1": {"self": 8}}, early, True, None),
        (4, "Trường D", {"1": {"self": 9}}, later, False, None),
        (5, "Trường E", {"1": {"self": 8}}, later, False, None),
    ]
    lines = rank(rows, sheet)
    # D leads; B (8, sent earliest), A (8 after the block's change), E (8, same moment as A:
    # shares A's rank), and C (8 but late) last.
    assert [(r.unit_name, r.block_total, r.rank) for r in lines] == [
        ("Trường D", 9.0, 1),
        ("Trường B", 8.0, 2),
        ("Trường A", 8.0, 3),
        ("Trường E", 8.0, 3),
        ("Trường C", 8.0, 5),
    ]
    assert lines[2].self_total == 9.0 and lines[2].adjusted == 1
