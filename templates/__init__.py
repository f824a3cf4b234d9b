"""Every word a person reads, as Jinja2 templates, and the renderer that fills them.

Chat texts are written in a small HTML subset (b, i, code, a) with user input auto-escaped;
channels that show plain text turn it into plain text with `to_plain`.
"""

from __future__ import annotations

import html
import re
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

    def render(self, name: str, /, **values: Any) -> str:
        """Render macro `name` ("module.macro") with `values`; surrounding blank lines trimmed."""
        module_name, _, macro = name.partition(".")
        module = self.env.get_template(f"{self.area}/{module_name}.j2").module
        out = getattr(module, macro)(**values)
        return str(out).strip()

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
