"""The core's Reply → Zalo's plain text: numbered choices, typed hints, 2,000-character pieces."""

from __future__ import annotations

import re

from bot.channels.zalo.client import MAX_TEXT
from handlers.types import Reply
from templates import chat_texts, to_plain

# Where a sentence ends: . ! ? … (and closing quotes or brackets) followed by a space.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*\s")


def reply_text(reply: Reply) -> str:
    """The whole text of a reply as a person on Zalo reads it."""
    texts = chat_texts()
    parts = [to_plain(reply.text)]
    if reply.choices:
        lines = "\n".join(f"{i}. {to_plain(c.label)}" for i, c in enumerate(reply.choices, 1))
        parts.append(f"{lines}\n{to_plain(texts.render('zalo.choose_by_number'))}")
    if reply.typed_hint:
        parts.append(to_plain(reply.typed_hint))
    if reply.link:
        # Zalo makes a URL in a message tappable; it opens in Zalo's own browser.
        parts.append(f"{to_plain(reply.link.label)}: {reply.link.url}")
    if reply.menu:
        parts.append(to_plain(texts.render("zalo.commands")))
    return "\n\n".join(p for p in parts if p.strip())


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, else a sentence, else a word.

    A word is only ever cut when it alone is longer than the limit (a pasted link, say).
    """
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut(rest, limit)
        piece = rest[:cut].rstrip()
        if piece:
            pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut(text: str, limit: int) -> int:
    window = text[: limit + 1]
    paragraph = window.rfind("\n\n")
    if paragraph > 0:
        return paragraph
    line = window.rfind("\n")
    sentences = [m.end() for m in _SENTENCE_END.finditer(window)]
    sentence = sentences[-1] if sentences else -1
    best = max(line, sentence)
    if best > 0:
        return best
    space = max(window.rfind(" "), window.rfind("\t"))
    return space if space > 0 else limit
