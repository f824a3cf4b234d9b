"""`guongsang organisations import` and `list` (issue 20): the nomination ladder's bodies
come from a CSV or XLSX like units, and a campaign's ladder may name them without declaring
them in the campaigns file; the start checks them against the database instead.

The commands run through their real coroutines (one test through the real command line in a
subprocess) on a fresh database of the test's backend; the ladder test drives the real app
through the fake Telegram.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.app import GuongSang
from bot.campaign_file import CampaignFileError
from bot.channels.telegram.channel import TelegramChannel
from bot.organisations_command import import_file, list_tree
from bot.organisations_file import MAX_ROWS
from bot.settings import Settings
from storage import organisations as store
from storage.models import Event as LogEvent
from storage.models import Nomination
from templates import Texts
from tests.apps import FIXTURES, REPO, Clock, start_app
from tests.drivers import Chat, invite_code, join, register, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.test_ladder_telegram import Cast, approved_story, up_card
from tests.test_units import cp1258

SAMPLE = FIXTURES / "organisations-thanh-xuan.csv"
SCHOOL = "Trường THCS Lê Quý Đôn"
DISTRICT = "Phòng GDĐT quận Thanh Xuân"
HOME_AFFAIRS = "Phòng Nội vụ quận Thanh Xuân"
CITY = "Hội đồng thi cấp Thành phố"
FEDERATION = "Liên đoàn Lao động tỉnh Lai Châu"
UNION = "Công đoàn Viên chức tỉnh Lai Châu"
SAMPLE_TREE = {
    CITY: None,
    HOME_AFFAIRS: CITY,
    DISTRICT: HOME_AFFAIRS,
    FEDERATION: None,
    UNION: FEDERATION,
}

# Letter 001's contest, its ladder naming organisations the file does not declare.
CAMPAIGN = """
[[campaigns]]
slug = "thanh-xuan-2024"
title = "Cuộc thi viết về gương người tốt, việc tốt quận Thanh Xuân năm 2024"
organisation = "Phòng GDĐT quận Thanh Xuân"
opens = 2023-09-20
closes = 2024-04-03
focus_areas = ["An toàn trường học", "Chuyển đổi số trong lĩnh vực giáo dục"]
ladder = {ladder}
"""
LADDER = f'["{DISTRICT}", "{HOME_AFFAIRS}", "{CITY}"]'


def campaigns_file(tmp_path: Path, ladder: str = LADDER, head: str = "") -> Path:
    """A campaigns file with letter 001's contest and `ladder` (and `head` before it)."""
    path = tmp_path / "campaigns.toml"
    path.write_text(head + CAMPAIGN.format(ladder=ladder), encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """A campaigns file whose ladder names only organisations to be imported."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        config=campaigns_file(tmp_path),
        admins="telegram:999",
    )


async def run_import(settings: Settings, path: Path) -> int:
    """`guongsang organisations import PATH`, through the command's own coroutine."""
    return await import_file(argparse.Namespace(file=path), settings, Texts("cli", html=False))


async def tree_of(settings: Settings) -> dict[str, str | None]:
    """Every organisation → its parent, read back from what was committed."""
    app = GuongSang(settings)
    try:
        async with app.db.transaction() as session:
            return await store.parents(session)
    finally:
        await app.close()


async def import_events(settings: Settings) -> list[tuple[str | None, str | None, dict]]:
    app = GuongSang(settings)
    try:
        async with app.db.transaction() as session:
            rows = await session.scalars(
                select(LogEvent).where(LogEvent.subject == "organisations").order_by(LogEvent.id)
            )
            return [(e.action, e.channel, e.data) for e in rows]
    finally:
        await app.close()


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- import


async def test_the_sample_csv_imports_a_tree_and_a_reimport_updates_it(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_import(settings, SAMPLE) == 0
    out, err = capsys.readouterr()
    assert "Đã nhập tổ chức: 5 mới, 0 đổi cấp trên; hiện có 5 tổ chức." in out
    assert err == "", "every ladder name is imported now: no warning"
    assert await tree_of(settings) == SAMPLE_TREE

    assert await list_tree(argparse.Namespace(), settings, Texts("cli", html=False)) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing == [
        CITY,
        f"    └ {HOME_AFFAIRS}",
        f"        └ {DISTRICT}",
        # "Liên…" after "Hội…", whatever the code points say.
        FEDERATION,
        f"    └ {UNION}",
    ]

    # Re-imported with the district office moved straight under the city: updated, not doubled.
    moved = SAMPLE.read_text(encoding="utf-8")
    moved = moved.replace(f"{DISTRICT},{HOME_AFFAIRS}", f"{DISTRICT},{CITY}")
    assert await run_import(settings, write_csv(tmp_path / "moved.csv", moved)) == 0
    assert "0 mới, 1 đổi cấp trên; hiện có 5 tổ chức." in capsys.readouterr().out
    assert await tree_of(settings) == {**SAMPLE_TREE, DISTRICT: CITY}
    assert await import_events(settings) == [
        ("imported", "cli", {"rows": 5, "created": 5, "updated": 0}),
        ("imported", "cli", {"rows": 5, "created": 0, "updated": 1}),
    ]


async def test_xlsx_bom_and_windows_1258_files_import_the_same_tree(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Name", "Parent"])  # a header typed with capitals
    sheet.append([CITY, None])
    sheet.append([HOME_AFFAIRS, CITY])
    sheet.append([None, None])  # an empty row in the middle is no error
    sheet.append([DISTRICT, HOME_AFFAIRS])
    xlsx = tmp_path / "to-chuc.xlsx"
    workbook.save(xlsx)
    assert await run_import(settings, xlsx) == 0
    assert "3 mới, 0 đổi cấp trên" in capsys.readouterr().out
    tree = await tree_of(settings)
    assert {k: tree[k] for k in (CITY, HOME_AFFAIRS, DISTRICT)} == {
        CITY: None,
        HOME_AFFAIRS: CITY,
        DISTRICT: HOME_AFFAIRS,
    }

    text = SAMPLE.read_text(encoding="utf-8")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert await run_import(settings, bom) == 0
    assert "2 mới, 0 đổi cấp trên; hiện có 5 tổ chức." in capsys.readouterr().out
    legacy = tmp_path / "ansi.csv"
    legacy.write_bytes(cp1258(text))
    assert await run_import(settings, legacy) == 0
    assert "0 mới, 0 đổi cấp trên; hiện có 5 tổ chức." in capsys.readouterr().out
    assert await tree_of(settings) == SAMPLE_TREE


async def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_csv(
        tmp_path / "sai.csv",
        "name,parent\n"
        f"{CITY},\n"  # 2: fine
        f",{CITY}\n"  # 3: no name
        f"{'x' * 201},\n"  # 4: too long
        f"{CITY},\n"  # 5: twice
        f"Phòng Nội vụ quận Cầu Giấy,{CITY} \n"  # 6: fine (the space is trimmed)
        "Phòng GDĐT quận Cầu Giấy,Phòng Nội vụ quận Cầu Gấy\n",  # 7: a typo'd parent
    )
    assert await run_import(settings, bad) == 2
    err = capsys.readouterr().err
    assert "Không nhập tệp" in err and "chưa dòng nào được nhập" in err
    assert "dòng 3: thiếu tên tổ chức" in err
    assert "dòng 4: tên tổ chức dài quá 200 ký tự" in err
    assert f"dòng 5: '{CITY}' đã có ở dòng 2" in err
    assert "dòng 2:" not in err and "dòng 6:" not in err
    # The file's own faults come first; once they are fixed, the parents are checked (which
    # needs the database: a parent may have been imported before).
    fixed = bad.read_text(encoding="utf-8").splitlines()
    fixed = "\n".join(fixed[:2] + fixed[5:]) + "\n"
    assert await run_import(settings, write_csv(bad, fixed)) == 2
    err = capsys.readouterr().err
    assert "vì có 1 dòng lỗi" in err
    assert "dòng 4: cấp trên 'Phòng Nội vụ quận Cầu Gấy' không có trong tệp" in err
    assert await tree_of(settings) == {}, "nothing imported, not even the good rows"
    assert await import_events(settings) == []

    huge = write_csv(tmp_path / "nhieu.csv", "name,parent\n" + "".join(
        f"Tổ chức {n},\n" for n in range(MAX_ROWS + 1)
    ))  # fmt: skip
    assert await run_import(settings, huge) == 2
    assert f"dòng 1: tệp có quá {MAX_ROWS} dòng" in capsys.readouterr().err
    photo = tmp_path / "anh.xlsx"
    photo.write_bytes(b"\xff\xd8\xff not a workbook")
    assert await run_import(settings, photo) == 2
    assert "dòng 1: không đọc được tệp" in capsys.readouterr().err


async def test_a_loop_is_refused_in_the_file_and_through_the_database(
    tmp_path: Path, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = write_csv(tmp_path / "vong.csv", "name,parent\nA,B\nB,C\nC,A\n")
    assert await run_import(settings, loop) == 2
    err = capsys.readouterr().err
    for line, name in ((2, "A"), (3, "B"), (4, "C")):
        assert f"dòng {line}: cấp trên của '{name}' vòng lại chính nó" in err

    assert await run_import(settings, SAMPLE) == 0
    capsys.readouterr()
    # The city put under the district office, which is (in the database) below the city.
    back = write_csv(tmp_path / "nguoc.csv", f"name,parent\n{CITY},{DISTRICT}\n")
    assert await run_import(settings, back) == 2
    assert f"dòng 2: cấp trên của '{CITY}' vòng lại chính nó" in capsys.readouterr().err
    assert await tree_of(settings) == SAMPLE_TREE


def test_the_command_line_imports_and_lists(tmp_path: Path, settings: Settings) -> None:
    """The real `guongsang organisations …` in a subprocess, as an admin types it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    env.update(
        PYTHONPATH=str(REPO),
        PYTHONUTF8="1",
        GUONGSANG_DATA_DIR=str(settings.data_dir),
        GUONGSANG_DATABASE_URL=settings.database_url or "",
        GUONGSANG_CONFIG=str(settings.config),
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "organisations", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = cli("import", str(SAMPLE))
    assert done.returncode == 0, done.stderr
    assert "5 mới" in done.stdout
    done = cli("list")
    assert done.returncode == 0, done.stderr
    assert f"        └ {DISTRICT}" in done.stdout.splitlines()


# ---------------------------------------------------------------- the ladder


async def test_an_unknown_ladder_name_stops_the_start_until_it_is_imported(
    tmp_path: Path, settings: Settings, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    app = GuongSang(settings, clock=clock)
    with pytest.raises(CampaignFileError) as refused:
        await app.start()
    await app.close()
    assert (
        f"campaigns[0].ladder[0] (đợt 'thanh-xuan-2024', cấp 1): '{DISTRICT}' chưa được khai "
        "báo trong một bảng [[organisations]] và cũng chưa được nhập" in str(refused.value)
    )

    # Importing only part of the ladder works, and says what still stops the bot.
    part = write_csv(tmp_path / "mot-phan.csv", f"name,parent\n{CITY},\n{HOME_AFFAIRS},{CITY}\n")
    assert await run_import(settings, part) == 0
    err = capsys.readouterr().err
    assert "bot chưa chạy được" in err and f"cấp 1): '{DISTRICT}'" in err
    app = GuongSang(settings, clock=clock)
    with pytest.raises(CampaignFileError, match=f"cấp 1\\): '{DISTRICT}'"):
        await app.start()
    await app.close()

    assert await run_import(settings, SAMPLE) == 0
    app = GuongSang(settings, clock=clock)
    await app.start()
    await app.close()


async def test_the_file_syncing_at_start_leaves_imported_organisations_alone(
    tmp_path: Path, settings: Settings, clock: Clock
) -> None:
    assert await run_import(settings, SAMPLE) == 0
    # The file declares the city at the top and a new office under it; the ladder mixes a
    # declared name with imported ones.
    head = f'[[organisations]]\nname = "{CITY}"\n\n[[organisations]]\nname = "Sở Nội vụ"\n'
    head += f'parent = "{CITY}"\n'
    mixed = settings.model_copy(update={"config": campaigns_file(tmp_path, head=head)})
    app = GuongSang(mixed, clock=clock)
    await app.start()
    await app.close()
    assert await tree_of(settings) == {**SAMPLE_TREE, "Sở Nội vụ": CITY}

    # Without a file, the built-in two-level ladder (district office → Home Affairs) is
    # created if missing but moves nothing an import placed.
    builtin = settings.model_copy(update={"config": None})
    app = GuongSang(builtin, clock=clock)
    await app.start()
    await app.close()
    assert await tree_of(settings) == {**SAMPLE_TREE, "Sở Nội vụ": CITY}


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[GuongSang]:
    """The real app, started once the ladder's organisations were imported from the CSV."""
    assert await run_import(settings, SAMPLE) == 0
    application = await start_app(settings, clock)
    yield application
    await application.close()


async def test_a_ladder_of_imported_organisations_sends_a_story_up(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = Chat(telegram.user(201, "Bình"))
    await join(principal, await invite_code(app, "unit_head", SCHOOL))
    district = Chat(telegram.user(301, "Thu"))
    await join(district, await invite_code(app, "reviewer", organisation=DISTRICT))
    home_affairs = Chat(telegram.user(401, "Nam"))
    await join(home_affairs, await invite_code(app, "reviewer", organisation=HOME_AFFAIRS))
    cast = Cast(teacher, principal, district, home_affairs, home_affairs, home_affairs)

    code = await approved_story(cast)
    offered = await up_card(telegram, district, code, "Chọn gửi lên")
    await district.press(f"Chọn gửi lên {HOME_AFFAIRS}", offered)
    text = await district.send("Tấm gương tiêu biểu của khối THCS tháng 1.")
    assert f"được gửi lên {HOME_AFFAIRS}" in text
    card = text_of(await home_affairs.replies())
    assert f"Bài được gửi lên {HOME_AFFAIRS}" in card and "cấp 2/3" in card
    async with app.db.transaction() as session:
        levels = [(n.level, n.status) for n in await session.scalars(select(Nomination))]
    assert levels == [(1, "pending")]
