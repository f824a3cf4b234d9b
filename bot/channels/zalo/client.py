"""A small client for Zalo's Bot API over httpx (`{root}/bot{token}/{method}`, JSON bodies).

Zalo's quirks stay here: an empty long poll ends with error 408 (with HTTP 200 or 408), and
`getUpdates` answers one update or a list of them.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from bot import http_pool

log = logging.getLogger(__name__)

DEFAULT_ROOT = "https://bot-api.zaloplatforms.com"
# sendMessage takes 1 to 2,000 characters; longer text must be split.
MAX_TEXT = 2000
POLL_TIMEOUT = 30
EMPTY_POLL = 408


class ZaloError(Exception):
    """Zalo answered `ok: false`, or not with JSON at all."""

    def __init__(self, error_code: int, description: str, http_status: int = 200) -> None:
        super().__init__(f"{error_code}: {description}")
        self.error_code = error_code
        self.description = description
        self.http_status = http_status

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed (rate limits and server trouble)."""
        return self.error_code == 429 or self.error_code >= 500 or self.http_status >= 500


class ZaloClient:
    """One bot's connection to the Bot API; share it between polling and sending."""

    def __init__(
        self,
        token: str,
        api_root: str = DEFAULT_ROOT,
        http: httpx.AsyncClient | None = None,
        poll_timeout: int = POLL_TIMEOUT,
    ) -> None:
        self.token = token
        self.api_root = api_root.rstrip("/")
        self.poll_timeout = poll_timeout
        # Sends (and long polls) share one pool; the outbox sends several messages at once.
        self.http = http or http_pool.client(
            32, 16, timeout=httpx.Timeout(15.0, read=poll_timeout + 15.0)
        )

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self.http.aclose()

    async def call(self, method: str, body: dict[str, Any] | None = None) -> Any:
        """Call `method` and return its `result`; raises ZaloError or an httpx error."""
        response = await self.http.post(
            f"{self.api_root}/bot{self.token}/{method}", json=body or {}
        )
        try:
            answer = response.json()
        except ValueError:
            raise ZaloError(
                response.status_code, f"not JSON ({response.status_code})", response.status_code
            ) from None
        if not isinstance(answer, dict):
            raise ZaloError(response.status_code, "unexpected answer", response.status_code)
        if not answer.get("ok"):
            code = answer.get("error_code")
            raise ZaloError(
                code if isinstance(code, int) else response.status_code,
                str(answer.get("description") or ""),
                response.status_code,
            )
        return answer.get("result")

    async def get_me(self) -> dict[str, Any]:
        """The bot's account: id, account_name, account_type, can_join_groups."""
        return _object(await self.call("getMe"))

    async def get_updates(self, wait: int | None = None) -> list[dict[str, Any]]:
        """Wait up to `wait` seconds for updates (long polling); an empty poll returns []."""
        seconds = self.poll_timeout if wait is None else wait
        try:
            result = await self.call("getUpdates", {"timeout": str(seconds)})
        except ZaloError as exc:
            if exc.error_code == EMPTY_POLL or exc.http_status == EMPTY_POLL:
                return []
            raise
        if result is None:
            return []
        updates = result if isinstance(result, list) else [result]
        for odd in (u for u in updates if not isinstance(u, dict)):
            log.warning("zalo getUpdates: skipped a result that is no update: %.200r", odd)
        return [u for u in updates if isinstance(u, dict)]

    async def set_webhook(self, url: str, secret_token: str) -> dict[str, Any]:
        """Have Zalo POST updates to `url` with the secret in X-Bot-Api-Secret-Token."""
        return _object(await self.call("setWebhook", {"url": url, "secret_token": secret_token}))

    async def delete_webhook(self) -> dict[str, Any]:
        """Go back to polling."""
        return _object(await self.call("deleteWebhook"))

    async def get_webhook_info(self) -> dict[str, Any]:
        """The webhook URL ("" when none) and when it was set."""
        return _object(await self.call("getWebhookInfo"))

    async def send_message(self, chat_id: str, text: str) -> str:
        """Send text of 1 to 2,000 characters; returns the message id."""
        return _message_id(await self.call("sendMessage", {"chat_id": chat_id, "text": text}))

    async def send_photo(self, chat_id: str, photo_url: str, caption: str = "") -> str:
        """Send the photo Zalo fetches from `photo_url`; returns the message id."""
        body = {"chat_id": chat_id, "photo": photo_url}
        if caption:
            body["caption"] = caption
        return _message_id(await self.call("sendPhoto", body))

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> None:
        """Show "typing…" while a long answer is prepared."""
        await self.call("sendChatAction", {"chat_id": chat_id, "action": action})


def _object(result: Any) -> dict[str, Any]:
    return result if isinstance(result, dict) else {}


def _message_id(result: Any) -> str:
    return str(_object(result).get("message_id", ""))
