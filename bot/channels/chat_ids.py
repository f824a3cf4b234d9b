"""What a chat id looks like on each platform, for ids typed by people (CLI, campaigns file)."""

from __future__ import annotations

import re

# Telegram: numbers, groups and channels negative. Zalo: strings (hex in every payload seen).
_FORMS = {
    "telegram": re.compile(r"-?\d{1,20}"),
    "zalo": re.compile(r"[0-9A-Za-z_-]{1,64}"),
}


def is_chat_id(channel: str, chat_id: str) -> bool:
    """Whether `chat_id` can be a chat of `channel` (False for an unknown channel)."""
    form = _FORMS.get(channel)
    return form is not None and form.fullmatch(chat_id) is not None


def is_target(target: str) -> bool:
    """Whether `target` is "<channel>:<chat id>" with a chat id of that channel."""
    channel, sep, chat_id = target.partition(":")
    return bool(sep) and is_chat_id(channel, chat_id)
