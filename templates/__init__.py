"""Every word a person reads, as Jinja2 templates, and the renderer that fills them.

Chat texts are written in a small HTML subset (b, i, code, a) with user input auto-escaped;
channels that show plain text turn it into plain text with `to_plain`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

TEMPLATE_DIR = Path(__file__).parent
_TAG = re.compile(r"</?(?:b|i|u|s|code|pre|a)(?:\s[^>]*)?>")


def format_number(value: int) -> str:
    """Vietnamese thousands separator: 1234 → "1.234"."""
    return f"{value:,}".replace(",", ".")


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut between words and ended with "…" when cut.

    A single word longer than half the limit is cut inside itself: it would leave too little.
    """
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-–—") + "…"


def quoted(text: object) -> str:
    """`text` in «», unless it holds guillemets of its own (Mô hình «Vườn rau sạch»):
    quotes inside quotes read as a typing mistake."""
    value = str(text or "")
    return value if "«" in value or "»" in value else f"«{value}»"


class _Unrestricted:
    """The capabilities of a channel that can do everything, for a text rendered with no
    channel in view (a notification for whoever reads it)."""

    def __getattr__(self, name: str) -> bool:
        return True


class Texts:
    """Renders `module.macro` names from `templates/<area>/<module>.j2` files."""

    def __init__(self, area: str = "chat", html: bool = True) -> None:
        self.area = area
        # Chat texts are HTML with user input escaped; terminal texts are plain.
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR),
            autoescape=select_autoescape(["j2", "html"], default_for_string=True)
            if html
            else False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # Templates ship with the code and change only with a restart; checking each
            # file's modification time on every render was a stat() call per message.
            auto_reload=False,
        )
        self.env.filters["num"] = format_number
        self.env.filters["shorten"] = shorten
        self.env.filters["quoted"] = quoted
        # A macro declares `caps=all_caps` to word itself after the channel it goes to.
        self.env.globals["all_caps"] = _Unrestricted()

    def render(
        self, name: str, /, *, ambient: Mapping[str, Any] | None = None, **values: Any
    ) -> str:
        """Render macro `name` ("module.macro") with `values`; surrounding blank lines trimmed.

        `ambient` values (the channel's capabilities, say) go only to macros that name them
        as an argument, so a text can depend on them without every caller passing them.
        """
        module_name, _, macro_name = name.partition(".")
        module = self.env.get_template(f"{self.area}/{module_name}.j2").module
        macro = getattr(module, macro_name)
        if ambient:
            wanted = {k: v for k, v in ambient.items() if k in macro.arguments and k not in values}
            values = {**wanted, **values}
        return str(macro(**values)).strip()

    def page(self, template: str, /, **values: Any) -> str:
        """Render a whole template file (web pages, posts)."""
        return self.env.get_template(template).render(**values)


@cache
def chat_texts() -> Texts:
    """The shared renderer for chat messages."""
    return Texts("chat")


def to_plain(text: str) -> str:
    """Drop the HTML subset and unescape entities, for channels without formatting."""
    return html.unescape(_TAG.sub("", text))


def escape(text: str) -> Markup:
    """Escape user text for the HTML subset."""
    return Markup.escape(text)
