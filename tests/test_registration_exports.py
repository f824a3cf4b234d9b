"""Letter 003's registration list: one row per unit with its models numbered in one cell, only
what the unit's head confirmed, per school (signed by its head) or for the whole office.

Entries are made through the storage layer on the real app's database; the command runs
in-process through its own argparse registration and the file is read back with openpyxl.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select

from bot import export_command
from bot.app import GuongSang
from bot.settings import Settings
from storage import people, roles
from storage.models import Submission, Unit
from templates import Texts
from tests.apps import FIXTURES, Clock, start_app
from tests.factories import story
from tests.test_registration_form import REGISTRATION

CAMPAIGN = "dang-ky-mo-hinh-2024"
LQD, HOA_SUA, HA_DINH = (
    "Trường THCS Lê Quý Đôn", "Trường Mầm non Hoa Sữa", "Trường Mầm non Hạ Đình",
)  # fmt: skip
HEADERS = ("TT", "TÊN ĐƠN VỊ", "TÊN MÔ HÌNH, ĐIỂN HÌNH TIÊN TIẾN", "LĨNH VỰC", "GHI CHÚ")
TITLE = "DANH SÁCH ĐĂNG KÝ MÔ HÌNH, ĐIỂN HÌNH TIÊN TIẾN NĂM 2024"
HEADER_ROW = 6


@pytest.fixture
async def app(settings: Settings, clock: Clock, tmp_path: Path) -> AsyncIterator[GuongSang]:
    """The app with letter 001's contest and letter 003's registration campaign."""
    config = tmp_path / "campaigns.toml"
    config.write_text((FIXTURES / "campaigns.toml").read_text() + REGISTRATION)
    app = await start_app(settings.model_copy(update={"config": config}), clock)
    yield app
    await app.close()


async def entry(
    app: GuongSang, n: int, unit: str, name: str, field: str, note: str, status: str
) -> None:
    """One registered model in `status`, as the form and the review flow would leave it."""
    sub = await story(
        app, code=f"GS-2024-{n:04d}", status=status, unit_name=unit, photos=0,
        campaign_slug=CAMPAIGN,
    )  # fmt: skip
    async with app.db.transaction() as session:
        row = await session.get(Submission, sub.id)
        assert row is not None
        row.values = {"model_name": name, "field": field, "note": note, "_author": {}}


@pytest.fixture
async def registered(app: GuongSang) -> None:
    """Confirmed entries of three units, and some the heads have not confirmed."""
    await entry(app, 1, LQD, "Mô hình thư viện xanh", "Văn hóa", "", "in_review")
    await entry(app, 2, LQD, "Cô Nguyễn Thị Lan — giáo viên dạy giỏi", "Giáo dục",
                "Đề nghị nhân rộng", "approved")  # fmt: skip
    await entry(app, 3, LQD, "Góc đọc sách cuối tuần", "Văn hóa", "", "submitted")  # not yet
    await entry(app, 4, LQD, "Bếp ăn an toàn", "Y tế", "", "returned")  # sent back by the head
    await entry(app, 5, LQD, "Sân chơi tái chế", "Văn hóa", "", "rejected")
    await entry(app, 6, HOA_SUA, "Vườn rau của bé", "Y tế", "", "honoured")
    await entry(app, 7, HA_DINH, "Tủ thuốc nhân ái", "Y tế", "", "changes_requested")
    await entry(app, 8, "Trường Tiểu học Kim Giang", "Chưa xác nhận", "Y tế", "", "submitted")
    async with app.db.transaction() as session:
        unit_id = await session.scalar(select(Unit.id).where(Unit.name == LQD))
        for chat, name, title in (("801", "Nguyễn Văn Bình", "Hiệu trưởng"),
                                  ("802", "Trần Thị Mai", "Phó Hiệu trưởng")):  # fmt: skip
            head = await people.create_with_identity(session, "telegram", chat, chat, "x")
            head.full_name = name
            grant = await roles.grant(session, head.id, roles.UNIT_HEAD, unit_id=unit_id)
            grant.title = title


async def export(settings: Settings, *argv: str) -> int:
    """`guongsang export registrations …` through the command's own argparse registration."""
    parser = argparse.ArgumentParser(prog="guongsang")
    sub = parser.add_subparsers(dest="command", required=True)
    export_command.add_parser(sub)
    args = parser.parse_args(["export", "registrations", "--campaign", *argv])
    return await args.func(args, settings, Texts("cli", html=False))


def table(sheet: Worksheet) -> list[tuple[object, ...]]:
    """The table's rows under the header, up to the first empty row."""
    rows = []
    for row in sheet.iter_rows(min_row=HEADER_ROW + 1, max_col=5, values_only=True):
        if row[0] is None:
            break
        rows.append(row)
    return rows


def texts_below_table(sheet: Worksheet) -> list[str]:
    below = sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True)
    return [str(v) for row in below for v in row if isinstance(v, str) and row[0] is None]


def assert_printed_one_page_wide(sheet: Worksheet) -> None:
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.print_title_rows == f"${HEADER_ROW}:${HEADER_ROW}", "header on every page"


async def test_the_offices_list_has_one_row_per_unit_with_its_confirmed_models(
    app: GuongSang, registered: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dang-ky.xlsx"
    assert await export(app.settings, CAMPAIGN, "--output", str(out)) == 0
    assert "Đã xuất 4 mô hình, điển hình của 3 đơn vị" in capsys.readouterr().out
    sheet = load_workbook(out).active
    assert sheet["A1"].value == "PHÒNG GDĐT QUẬN THANH XUÂN"
    titles = [
        c.value for row in sheet.iter_rows() for c in row if c.value and "DANH SÁCH" in str(c.value)
    ]
    assert titles == [TITLE], "one title, not the letter's and the campaign's"
    assert tuple(c.value for c in sheet[HEADER_ROW]) == HEADERS
    # Vietnamese order: Hạ Đình before Hoa Sữa (code points would swap them).
    assert table(sheet) == [
        (1, HA_DINH, "Mô hình 1: Tủ thuốc nhân ái", "Y tế", None),
        (2, HOA_SUA, "Mô hình 1: Vườn rau của bé", "Y tế", None),
        (
            3,
            LQD,
            "Mô hình 1: Mô hình thư viện xanh\nMô hình 2: Cô Nguyễn Thị Lan — giáo viên dạy giỏi",
            "Văn hóa\nGiáo dục",
            "Mô hình 2: Đề nghị nhân rộng",
        ),
    ]
    assert_printed_one_page_wide(sheet)
    lqd_row = HEADER_ROW + 3
    assert (
        sheet.row_dimensions[lqd_row].height >= 2 * sheet.row_dimensions[HEADER_ROW + 1].height - 4
    )
    assert all(sheet.cell(row=lqd_row, column=c).alignment.wrap_text for c in range(2, 6))
    below = texts_below_table(sheet)
    assert "TRƯỞNG PHÒNG" in below and "(Ký, ghi rõ họ tên, đóng dấu)" in below


async def test_a_schools_list_is_signed_by_its_head(
    app: GuongSang, registered: None, tmp_path: Path
) -> None:
    out = tmp_path / "lqd.xlsx"
    assert await export(app.settings, CAMPAIGN, "--unit", "THCS-LQD", "--output", str(out)) == 0
    sheet = load_workbook(out).active
    assert (sheet["A1"].value, sheet["A2"].value) == ("PHÒNG GDĐT QUẬN THANH XUÂN", LQD.upper())
    assert [row[:2] for row in table(sheet)] == [(1, LQD)]
    below = texts_below_table(sheet)
    # The head, not the deputy, signs as the letter asks ("HIỆU TRƯỞNG"), with the full name.
    assert below[-3:] == ["HIỆU TRƯỞNG", "(Ký, ghi rõ họ tên, đóng dấu)", "Nguyễn Văn Bình"]
    assert "Trần Thị Mai" not in below
    assert_printed_one_page_wide(sheet)


async def test_refused_on_a_story_campaign_and_for_an_unknown_unit(
    app: GuongSang, registered: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.xlsx"
    assert await export(app.settings, "thanh-xuan-2024", "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert "«thanh-xuan-2024» là đợt thi đua viết bài, không phải đăng ký mô hình" in err
    assert "chưa xuất tệp nào" in err and "export submissions" in err
    assert not out.exists()
    assert (
        await export(app.settings, CAMPAIGN, "--unit", "Trường Tiểu học", "--output", str(out)) == 2
    )
    assert "khớp với nhiều đơn vị" in capsys.readouterr().err
    assert not out.exists()
