"""A non-editable install works: templates and migrations are shipped in the wheel.

Tests that import from the repo can never notice a file missing from the package, because the
repo has every file. Here the wheel is built, installed into an empty folder, and run from a
folder where the repo is not importable; only the venv's dependencies are shared.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from storage.db import alembic_config

REPO = Path(__file__).resolve().parent.parent
SHIPPED = (
    "templates/chat/form.j2",
    "templates/cli/messages.j2",
    "storage/migrations/env.py",
    "storage/migrations/versions/0001_initial_schema.py",
    "storage/migrations/script.py.mako",
    "templates/web/base.html",
    "templates/web/feed.atom",
)


@dataclass(frozen=True)
class Built:
    """The wheel, and why the build without isolation failed (None when it worked)."""

    wheel: Path
    no_isolation_error: str | None


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_source(target: Path) -> Path:
    """The project as an sdist would hold it, copied so the build never writes into the repo.

    setuptools builds in the source tree (build/, *.egg-info); in the repo, a stale build/lib
    from an earlier build could even put deleted files into the wheel.
    """
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "tests", "data", "build", "dist", "*.egg-info", "__pycache__", ".*cache"
    )
    shutil.copytree(REPO, target, ignore=ignore)
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("packaging")
    source = copy_source(root / "source")
    out = root / "wheels"
    done = pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source), cwd=root)
    error = None
    if done.returncode != 0:
        # Keep checking what matters (the package's contents) with an isolated build; the
        # failure itself is asserted by test_venv_builds_without_isolation.
        error = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        shutil.rmtree(out, ignore_errors=True)
        done = pip("wheel", "--no-deps", "-w", str(out), str(source), cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = out.glob("guongsang-*.whl")
    return Built(wheel, error)


def test_venv_builds_without_isolation(built: Built) -> None:
    assert built.no_isolation_error is None, built.no_isolation_error


def test_wheel_ships_templates_and_migrations(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points_text = wheel.read(entry_points).decode()
    missing = [path for path in SHIPPED if path not in names]
    assert not missing, f"not in the wheel: {missing}"
    # Every template, not just the two named: a new .j2 must not be forgotten either.
    in_repo = {p.relative_to(REPO).as_posix() for p in (REPO / "templates").rglob("*.j2")}
    assert in_repo <= names, sorted(in_repo - names)
    assert not any(n.startswith("tests/") for n in names), "tests must not be shipped"
    assert "guongsang = bot.cli:main" in entry_points_text


def test_installed_wheel_migrates_from_anywhere(built: Built, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = pip("install", "--no-deps", "--target", str(site), str(built.wheel), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    # Only the installed copy is importable; the venv's own site-packages gives the dependencies.
    env.update(PYTHONPATH=str(site), PYTHONUTF8="1", GUONGSANG_DATA_DIR=str(tmp_path / "data"))

    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import bot, storage.db, templates\n"
            "print(templates.__file__); print(bot.__file__); print(storage.db.MIGRATIONS)\n"
            "print(templates.chat_texts().render('console.banner', user='lan'))",
        ],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    templates_file, bot_file, migrations, *banner = where.stdout.splitlines()
    for path in (templates_file, bot_file, migrations):
        assert Path(path).resolve().is_relative_to(site.resolve()), path
    assert "Gương Sáng" in "\n".join(banner)  # a chat template loads from the installed copy

    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "phiên bản mới nhất" in done.stdout
    database = tmp_path / "data" / "guongsang.db"
    assert database.is_file()
    with sqlite3.connect(database) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    # The newest migration in the source tree is the one the installed copy reached.
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert version == head
    assert {"units", "people", "submissions", "campaigns"} <= tables


def test_wheel_carries_the_readme(built: Built) -> None:
    # pyproject names README.md as the package description; a missing file is only a warning
    # to setuptools, so check the description actually arrived in the wheel's METADATA.
    readme = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "readme"
    ]
    first_line = (REPO / readme).read_text(encoding="utf-8").splitlines()[0]
    with zipfile.ZipFile(built.wheel) as wheel:
        (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        assert first_line in wheel.read(metadata).decode("utf-8")
