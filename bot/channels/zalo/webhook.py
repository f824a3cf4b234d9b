"""POST /webhook/zalo: Zalo delivers one update per call, with our secret in a header."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.channels.zalo.channel import ZaloChannel
from bot.channels.zalo.convert import MalformedUpdate

log = logging.getLogger(__name__)
SECRET_HEADER = "x-bot-api-secret-token"
# One chat message as JSON is a few kilobytes; anything far bigger is not from Zalo.
MAX_BODY = 256 * 1024


def zalo_webhook(channel: ZaloChannel, secret: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint: 403 without the secret, 413/400 for bodies that are no update, else 200.

    An update seen before is acknowledged and ignored (the core remembers update keys).
    """
    expected = secret.encode()

    async def endpoint(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        # Constant time, so the secret cannot be guessed byte by byte from response times.
        if not hmac.compare_digest(given, expected):
            log.warning("zalo webhook: wrong or missing secret from %s", _client(request))
            return _error(403, "forbidden")
        body = await _read_limited(request)
        if body is None:
            log.warning("zalo webhook: body over %d bytes from %s", MAX_BODY, _client(request))
            return _error(413, "body too large")
        try:
            update = json.loads(body)
        except ValueError:
            log.warning("zalo webhook: malformed JSON from %s", _client(request))
            return _error(400, "malformed JSON")
        try:
            await channel.handle_update(update)
        except MalformedUpdate as exc:
            log.warning("zalo webhook: not an update (%s): %.300r", exc, update)
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
