"""The channel's Bot: python-telegram-bot's, but long polling hands over updates as JSON.

`Bot.get_updates` builds a `telegram.Update` for each polled update, which cost more than the
rest of taking it in (`convert`). python-telegram-bot's `Updater` polls through this method,
retrying and backing off as it should, and reads nothing of what it returns but the last
update's `update_id` (to confirm the batch) before queueing each for the application; so this
override returns `convert.RawUpdate`s, which have that id, and the channel's handler reads the
JSON. Every other call is python-telegram-bot's own. Tested against the real `Updater`
(tests/test_telegram_polling.py): a release whose Updater reads more of an update fails there.
"""

from __future__ import annotations

import datetime as dtm
import logging
from collections.abc import Sequence
from typing import Any

from telegram.ext import ExtBot
from telegram.request import BaseRequest

from bot.channels.chat_ids import MalformedUpdate
from bot.channels.telegram.convert import RawUpdate
from bot.channels.telegram.render import raw_call_unwarned

log = logging.getLogger(__name__)
# python-telegram-bot's "not given", as its public request class names it: a timeout not
# given is the request's own; None, as there, is none.
DEFAULT_NONE: Any = BaseRequest.DEFAULT_NONE
_DefaultValue = type(DEFAULT_NONE)


class JsonUpdatesBot(ExtBot[None]):
    """An ExtBot whose `get_updates` returns the updates' JSON (`RawUpdate`s)."""

    __slots__ = ("_poll_read_timeout",)

    def __init__(
        self,
        token: str,
        base_url: str,
        base_file_url: str,
        request: BaseRequest,
        get_updates_request: BaseRequest,
        poll_read_timeout: float,
    ) -> None:
        super().__init__(
            token,
            base_url=base_url,
            base_file_url=base_file_url,
            request=request,
            get_updates_request=get_updates_request,
        )
        # What a getUpdates answer may take beyond its long poll's own timeout, as
        # `Bot.get_updates` adds the request's read timeout to it.
        self._poll_read_timeout = poll_read_timeout

    async def get_updates(  # type: ignore[override]
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: int | float | dtm.timedelta | None = None,  # noqa: ASYNC109 (Bot API's)
        allowed_updates: Sequence[str] | None = None,
        *,
        read_timeout: float | None = DEFAULT_NONE,
        write_timeout: float | None = DEFAULT_NONE,
        connect_timeout: float | None = DEFAULT_NONE,
        pool_timeout: float | None = DEFAULT_NONE,
        api_kwargs: dict[str, Any] | None = None,
    ) -> tuple[RawUpdate, ...]:
        """getUpdates, its answer left as JSON: one `RawUpdate` per update.

        The read timeout is the long poll's plus the margin (or `read_timeout`, as
        `Bot.get_updates` adds them). An element without an integer `update_id` cannot be
        confirmed or told apart from the next; it (never seen from Telegram) is logged and
        left out, and the rest of the batch kept.
        """
        seconds = timeout.total_seconds() if isinstance(timeout, dtm.timedelta) else timeout or 0
        arguments: dict[str, Any] = {
            **(api_kwargs or {}),
            "offset": offset,
            # Whole seconds go as Telegram documents them, an integer.
            "timeout": int(seconds) if float(seconds).is_integer() else seconds,
        }
        if limit is not None:
            arguments["limit"] = limit
        if allowed_updates is not None:
            arguments["allowed_updates"] = list(allowed_updates)
        margin = (
            self._poll_read_timeout
            if isinstance(read_timeout, _DefaultValue)
            else read_timeout or 0
        )
        raw_call_unwarned()
        answer = await self.do_api_request(
            "get_updates",
            api_kwargs=arguments,
            read_timeout=margin + seconds,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        return tuple(update for item in answer if (update := _update(item)) is not None)


def _update(item: object) -> RawUpdate | None:
    try:
        if not isinstance(item, dict):
            raise MalformedUpdate("not an object")
        return RawUpdate(item)
    except MalformedUpdate as exc:
        log.warning("telegram update skipped: %s", exc)
        return None
