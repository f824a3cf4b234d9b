"""The README's commands work as printed, after its quick start.

Every shell line the README shows is read from README.md itself: each must start with a program
the checkout has (`./scripts/…`, `./guongsang`), each `./guongsang` line must parse with the real
command line, and, on a fresh data dir holding what the quick start leaves (the sample units)
and the stories the README's codes name, each one that neither waits for a token, a terminal nor
runs until stopped is run for real and must succeed.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import _parser
from bot.settings import Settings
from tests.apps import REPO, Clock, start_app
from tests.factories import story

README = REPO / "README.md"
QUICK_START = ["./scripts/start", "./scripts/test"]
# Parsed, not run: they need a token or a terminal, or run until stopped.
NOT_RUN = (("run",), ("console",), ("serve",), ("webhook",), ("broadcast", "run"))
ASSIGNMENT = re.compile(r"[A-Z][A-Z0-9_]*=.*")


def shell_lines() -> list[str]:
    """The lines of the README's ```sh blocks, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def split(line: str) -> tuple[dict[str, str], list[str]]:
    """A shell line's leading VAR=value assignments and its words, comments dropped."""
    words = shlex.split(line, comments=True)
    env = {}
    while words and ASSIGNMENT.fullmatch(words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def guongsang_commands() -> list[tuple[dict[str, str], list[str]]]:
    """Each `./guongsang …` line: its environment and its arguments."""
    found = []
    for line in shell_lines():
        env, words = split(line)
        if words and words[0] == "./guongsang":
            found.append((env, words[1:]))
    return found


def test_quick_start_is_two_commands_and_every_line_names_a_program_of_the_checkout() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert first_block is not None
    assert [split(line)[1][0] for line in first_block.group(1).splitlines()] == QUICK_START
    for line in shell_lines():
        _, words = split(line)
        # A bare `guongsang` is not on PATH after the quick start; `./guongsang` is.
        assert words[0].startswith("./"), line
        assert (REPO / words[0]).is_file() and os.access(REPO / words[0], os.X_OK), line


def test_every_guongsang_line_parses() -> None:
    commands = guongsang_commands()
    assert len(commands) >= 20
    for _, args in commands:
        try:
            _parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"the README's `./guongsang {shlex.join(args)}` does not parse")


def test_launcher_runs_the_command_line() -> None:
    done = subprocess.run(
        [str(REPO / "guongsang"), "--help"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: guongsang")


async def quick_start_data(here: Path, codes: list[str]) -> None:
    """What the quick start leaves (the sample units in ./data, the built-in campaign), and a
    story, approved, for every code the README's commands name."""
    settings = Settings(_env_file=None, data_dir=here / "data")  # type: ignore[call-arg]
    app = await start_app(settings, Clock(datetime.now(UTC)))
    try:
        (campaign,) = app.services.campaigns
        for code in codes:
            await story(app, code=code, campaign_slug=campaign.slug)
    finally:
        await app.close()


def test_readme_commands_run_as_printed_on_the_sample_data(tmp_path: Path) -> None:
    commands = guongsang_commands()
    here = tmp_path / "checkout"
    here.mkdir()
    # The commands name files of the checkout by relative paths; they write their own beside.
    (here / "tests").mkdir()
    (here / "tests" / "fixtures").symlink_to(REPO / "tests" / "fixtures")
    (here / "campaigns.example.toml").symlink_to(REPO / "campaigns.example.toml")
    codes = sorted({w for _, args in commands for w in args if re.fullmatch(r"GS-\d+-\d+", w)})
    assert codes, "the README shows no story code"
    asyncio.run(quick_start_data(here, codes))

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GUONGSANG_")}
    base_env["PYTHONPATH"] = str(REPO)
    ran = 0
    for env, args in commands:
        if any(tuple(args[: len(skip)]) == skip for skip in NOT_RUN):
            continue
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            env={**base_env, **env},
            cwd=here,
            capture_output=True,
            text=True,
            timeout=120,
        )
        shown = shlex.join(["./guongsang", *args])
        assert done.returncode == 0, f"{shown}\n{done.stdout}\n{done.stderr}"
        assert done.stdout.strip(), shown
        assert "INFO" not in done.stdout + done.stderr, shown
        ran += 1
    assert ran >= 15
