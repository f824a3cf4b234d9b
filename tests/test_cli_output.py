"""What the command line prints: the answer, in the chat's words, without the bot's log.

Each command runs as a real child process (`python -m bot`) on the test's database.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.app import GuongSang
from bot.settings import Settings
from storage.models import Broadcast
from tests.apps import FIXTURES, SECOND_CAMPAIGN, run_cli, run_cli_beside, run_python
from tests.factories import honour_and_send, story

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")


def fresh_env(tmp_path: Path) -> dict[str, str]:
    """A first run, as after a fresh clone: the default SQLite file in an empty data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    return {**env, "GUONGSANG_DATA_DIR": str(tmp_path / "data")}


def test_a_command_loads_neither_file_builders_nor_alembic_unless_it_uses_them(
    tmp_path: Path,
) -> None:
    # They were a third of every command's start (and of the bot's): python-docx and
    # openpyxl load when a file is built, Alembic when the schema is behind.
    env = fresh_env(tmp_path)
    lazy = ("alembic", "docx", "openpyxl")

    def loaded(*args: str) -> set[str]:
        done = run_python(env, "-X", "importtime", "-m", "bot", *args)
        assert done.returncode == 0, done.stderr[-2000:]
        names = (line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines())
        return {name.split(".")[0] for name in names} & set(lazy)

    assert loaded("campaigns") == {"alembic"}  # the first run creates the schema
    assert loaded("campaigns") == set()
    out = tmp_path / "bai.xlsx"
    assert loaded("export", "submissions", "--format", "xlsx", "--output", str(out)) == {"openpyxl"}
    assert out.stat().st_size > 0


def test_commands_print_their_answer_without_the_log(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    # The first command creates and migrates the database: alembic's lines stay out too.
    first = run_cli(env, "campaigns")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("nguoi-tot-viec-tot-"), first.stdout
    assert first.stderr == ""
    upgraded = run_cli(env, "db", "upgrade")
    assert upgraded.stderr == "" and "phiên bản mới nhất" in upgraded.stdout
    # Asked for, before or after the command's name, the log is there (on stderr).
    for args in (("-v", "campaigns"), ("campaigns", "--verbose"), ("db", "upgrade", "-v")):
        verbose = run_cli(env, *args)
        assert verbose.returncode == 0, verbose.stderr
        assert "INFO bot.app: ready" in verbose.stderr, args
        assert "INFO" not in verbose.stdout


async def test_cli_says_levels_kinds_and_times_as_the_chat_does(
    app: GuongSang, settings: Settings
) -> None:
    await story(app, code="GS-2024-0006")
    await honour_and_send(app, "GS-2024-0006")
    env = {
        "GUONGSANG_DATA_DIR": str(settings.data_dir),
        "GUONGSANG_DATABASE_URL": settings.resolved_database_url,
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
    }

    invite = await run_cli_beside(env, "invite", "--role", "reviewer", "--levels", "TH,THCS")
    assert invite.returncode == 0, invite.stderr
    assert "Người chấm — Tiểu học, THCS" in invite.stdout and "TH,THCS" not in invite.stdout
    assert "(giờ Hà Nội)" in invite.stdout
    everyone = await run_cli_beside(env, "invite", "--role", "reviewer")
    assert "Người chấm — mọi cấp" in everyone.stdout

    await run_cli_beside(env, "audience", "add", "telegram:4242")
    await run_cli_beside(env, "audience", "add", "telegram:-1001234", "--kind", "channel")
    listing = (await run_cli_beside(env, "audience", "list")).stdout
    assert "telegram:4242 · người đăng ký · đang nhận" in listing
    assert "telegram:-1001234 · kênh · đang nhận" in listing
    assert "person" not in listing and "channel" not in listing

    async with app.db.transaction() as session:
        (broadcast,) = await session.scalars(select(Broadcast))
    status = (await run_cli_beside(env, "broadcast", "status")).stdout
    local = broadcast.created_at.astimezone(HANOI)
    assert local.strftime("%H:%M %d/%m/%Y") in status, status
    assert broadcast.created_at.strftime("%Y-%m-%d %H:%M") not in status

    report = await run_cli_beside(
        env, "report", "monthly", "--campaign", "thanh-xuan-2024", "--month", "2024-01"
    )
    assert report.returncode == 0, report.stderr
    kim_giang = next(line for line in report.stdout.splitlines() if "Tiểu học Kim Giang" in line)
    assert " Tiểu học " in kim_giang.replace("Trường Tiểu học", "")
    assert " TH " not in report.stdout


def test_a_command_needing_a_campaign_takes_the_only_one_or_asks(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    # As the quick start leaves it: the sample units imported.
    assert run_cli(env, "units", "import", str(FIXTURES / "units-thanh-xuan.csv")).returncode == 0
    # The built-in campaign is the only one: nobody needs to know its slug.
    only = run_cli(env, "report", "monthly", "--month", "2026-11")
    assert only.returncode == 0, only.stderr
    assert only.stdout.startswith("Báo cáo tháng 11/2026 — Cuộc thi viết")
    # No registration campaign is configured: say where one comes from.
    none = run_cli(env, "export", "registrations", "--output", str(tmp_path / "r.xlsx"))
    assert none.returncode == 2 and "campaigns.example.toml" in none.stderr
    assert not (tmp_path / "r.xlsx").exists()
    # Two story campaigns, neither open today: ask which, naming them.
    two = tmp_path / "two.toml"
    two.write_text(
        (FIXTURES / "campaigns.toml").read_text(encoding="utf-8") + SECOND_CAMPAIGN,
        encoding="utf-8",
    )
    asked = run_cli(
        {**env, "GUONGSANG_CONFIG": str(two)}, "report", "monthly", "--month", "2024-01"
    )
    assert asked.returncode == 2
    assert "chọn một bằng --campaign: thanh-xuan-2024, thanh-xuan-2025" in asked.stderr
