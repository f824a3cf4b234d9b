"""The persistent main menu for people who never type commands."""

from __future__ import annotations

from functools import cache

from handlers.context import Ctx
from handlers.text_rules import fold
from templates import Texts

# Menu rows of (button name in templates/chat/buttons.j2, command it stands for).
MENU = (
    (("menu_new", "new"), ("menu_continue", "continue")),
    (("menu_mine", "mine"), ("menu_profile", "profile")),
    (("menu_help", "help"),),
)


@cache
def _labels(texts: Texts) -> tuple[list[list[str]], dict[str, str]]:
    # The labels are fixed text; render them once, not on every message that arrives.
    rows = [[texts.render(f"buttons.{name}") for name, _ in row] for row in MENU]
    commands = {
        fold(texts.render(f"buttons.{name}")): command for row in MENU for name, command in row
    }
    return rows, commands


def main_menu(ctx: Ctx) -> list[list[str]]:
    """The main menu's button labels, row by row."""
    return [list(row) for row in _labels(ctx.services.texts)[0]]


def command_for(ctx: Ctx, text: str) -> str | None:
    """The command a main-menu label stands for, if `text` is one."""
    return _labels(ctx.services.texts)[1].get(fold(text))
