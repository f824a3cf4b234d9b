"""The persistent main menu for people who never type commands."""

from __future__ import annotations

from functools import cache

from handlers.context import Ctx
from handlers.text_rules import bare_words, fold
from templates import Texts

# Menu rows of (button name in templates/chat/buttons.j2, command it stands for).
MENU = (
    (("menu_new", "new"), ("menu_continue", "continue")),
    (("menu_mine", "mine"), ("menu_profile", "profile")),
    (("menu_subscribe", "subscribe"), ("menu_unsubscribe", "unsubscribe"), ("menu_help", "help")),
)


@cache
def _labels(texts: Texts) -> tuple[list[list[str]], dict[str, str], dict[str, str]]:
    # The labels are fixed text; render them once, not on every message that arrives.
    rows = [[texts.render(f"buttons.{name}") for name, _ in row] for row in MENU]
    labels = [(texts.render(f"buttons.{name}"), command) for row in MENU for name, command in row]
    tapped = {fold(label): command for label, command in labels}
    typed = {bare_words(label): command for label, command in labels}
    return rows, tapped, typed


def main_menu(ctx: Ctx) -> list[list[str]]:
    """The main menu's button labels, row by row."""
    return [list(row) for row in _labels(ctx.services.texts)[0]]


def command_for(ctx: Ctx, text: str) -> str | None:
    """The command a main-menu label stands for, if `text` is one.

    A tap sends the label exactly, emoji and all, and counts at any step. The label's words
    typed without it ("viet bai moi", as on Zalo, which shows no menu) count only while no
    step is waiting for an answer, where they could be meant as the answer.
    """
    _, tapped, typed = _labels(ctx.services.texts)
    command = tapped.get(fold(text))
    if command is None and ctx.conv.step == "idle":
        command = typed.get(bare_words(text))
    return command
