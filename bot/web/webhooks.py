"""Webhook endpoints: a platform POSTs one update per call, with our secret in a header.

The checks are the same for every platform; what an update means is the channel's business.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger(__name__)
ZALO_HEADER = "x-bot-api-secret-token"
TELEGRAM_HEADER = "x-telegram-bot-api-secret-token"
# One chat update as JSON is a few kilobytes; anything far bigger is not from the platform.
MAX_BODY = 256 * 1024

ZALO_PATH = "/webhook/zalo"
TELEGRAM_PATH = "/webhook/telegram"

Endpoint = Callable[[Request], Awaitable[Response]]


def webhook_route(
    name: str, path: str, secret: str, header: str, handle: Callable[[Any], Awaitable[None]]
) -> Route:
    """A POST route at `path` running `webhook_endpoint`."""
    return Route(path, webhook_endpoint(name, secret, header, handle), methods=["POST"])


def webhook_endpoint(
    name: str, secret: str, header: str, handle: Callable[[Any], Awaitable[None]]
) -> Endpoint:
    """The endpoint: 403 without the secret, 413/400 for bodies that are no update, else 200.

    `handle` raises ValueError for JSON that is not an update. An update seen before is
    acknowledged and ignored (the core remembers update keys).
    """
    expected = secret.encode()

    async def endpoint(request: Request) -> Response:
        given = request.headers.get(header, "").encode()
        # Constant time, so the secret cannot be guessed byte by byte from response times.
        if not hmac.compare_digest(given, expected):
            log.warning("%s webhook: wrong or missing secret from %s", name, _client(request))
            return _error(403, "forbidden")
        body = await _read_limited(request)
        if body is None:
            log.warning("%s webhook: body over %d bytes from %s", name, MAX_BODY, _client(request))
            return _error(413, "body too large")
        try:
            update = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            log.warning("%s webhook: malformed JSON from %s", name, _client(request))
            return _error(400, "malformed JSON")
        try:
            await handle(update)
        except ValueError as exc:
            log.warning("%s webhook: not an update (%s): %.300r", name, exc, update)
            return _error(400, "not an update")
        return JSONResponse({"ok": True})

    return endpoint


async def _read_limited(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return bytes(body)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _error(status: int, description: str) -> Response:
    return JSONResponse({"ok": False, "description": description}, status_code=status)
