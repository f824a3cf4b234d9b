"""What a chat or user id looks like on each platform: for ids typed by people (CLI, campaigns
file) and for ids arriving in updates, checked before anything is stored under them."""

from __future__ import annotations

import re

from storage.models import PLATFORM_ID_LENGTH

# Telegram: numbers, groups and channels negative. Zalo: strings (hex in every payload seen;
# the length is not documented, so anything the database holds is taken).
_FORMS = {
    "telegram": re.compile(r"-?\d{1,20}"),
    "zalo": re.compile(rf"[0-9A-Za-z_-]{{1,{PLATFORM_ID_LENGTH}}}"),
}
# An id arriving from a platform: visible ASCII, no spaces or control characters, and short
# enough for the columns that hold it.
_ARRIVING = re.compile(rf"[\x21-\x7e]{{1,{PLATFORM_ID_LENGTH}}}")


class MalformedUpdate(ValueError):
    """The body is not an update as the platform sends them."""


def is_chat_id(channel: str, chat_id: str) -> bool:
    """Whether `chat_id` can be a chat of `channel` (False for an unknown channel)."""
    form = _FORMS.get(channel)
    return form is not None and form.fullmatch(chat_id) is not None


def is_target(target: str) -> bool:
    """Whether `target` is "<channel>:<chat id>" with a chat id of that channel."""
    channel, sep, chat_id = target.partition(":")
    return bool(sep) and is_chat_id(channel, chat_id)


def check_arriving_id(value: str, where: str) -> str:
    """`value`, an id from an update; MalformedUpdate if no platform could have sent it."""
    if _ARRIVING.fullmatch(value) is None:
        raise MalformedUpdate(f"{where} is no possible id: {value!r:.60}")
    return value
