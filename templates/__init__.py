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
        self._macros: dict[str, Any] = {}
        # Texts already rendered from values that cannot change (see `_memo_key`).
        self._rendered: dict[tuple[Any, ...], str] = {}

    def render(
        self, name: str, /, *, ambient: Mapping[str, Any] | None = None, **values: Any
    ) -> str:
        """Render macro `name` ("module.macro") with `values`; surrounding blank lines trimmed.

        `ambient` values (the channel's capabilities, say) go only to macros that name them
        as an argument, so a text can depend on them without every caller passing them.
        """
        macro = self._macro(name)
        if ambient:
            wanted = {k: v for k, v in ambient.items() if k in macro.arguments and k not in values}
            values = {**wanted, **values}
        key = _memo_key(name, values)
        if key is None:
            return str(macro(**values)).strip()
        text = self._rendered.get(key)
        if text is None:
            text = str(macro(**values)).strip()
            if len(self._rendered) >= MEMO_SIZE:
                self._rendered.clear()
            self._rendered[key] = text
        return text

    def _macro(self, name: str) -> Any:
        macro = self._macros.get(name)
        if macro is None:
            module_name, _, macro_name = name.partition(".")
            module = self.env.get_template(f"{self.area}/{module_name}.j2").module
            macro = self._macros[name] = getattr(module, macro_name)
        return macro

    def page(self, template: str, /, **values: Any) -> str:
        """Render a whole template file (web pages, posts)."""
        return self.env.get_template(template).render(**values)


# Most of a chat's texts are rendered again and again from the same few values (a button's
# label, a field's question for a channel): a macro is a pure function of its arguments, so
# what it made once is kept. Bounded: emptied when full.
MEMO_SIZE = 4096
# Exact types: a Markup (a str that is not escaped again) must never stand for an equal str.
_PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})


def _memo_key(name: str, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A key for what `name` renders from `values`, or None when a value could change after
    the text was kept (ORM rows, lists, dicts): only plain values and frozen dataclasses
    (channel capabilities, form fields) that hash make a key, each with its type."""
    key: list[Any] = [name]
    for argument, value in values.items():
        kind = type(value)
        if kind not in _PLAIN_TYPES and not _frozen(kind):
            return None
        key.append((argument, kind, value))
    try:
        hash(tuple(key))
    except TypeError:  # a frozen dataclass holding a list or a dict
        return None
    return tuple(key)


@cache
def _frozen(kind: type) -> bool:
    params = getattr(kind, "__dataclass_params__", None)
    return bool(params is not None and params.frozen)


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
