"""Signed, expiring download links for files the bot cannot send into a chat.

Zalo's Bot API, the console and the web chat send no files, so an export asked in chat or an
evidence document opened by a block's leader reaches them as a link instead:
``/files/<token>/<name>``. The token is ``<base64url path>.<expires, unix seconds>.<HMAC>``,
signed by the photo links' signer (bot/web/media.py) under a purpose of its own, over the path
(relative to the data folder), the name shown and the expiry: no other kind of token opens a
file, and neither the path nor the name can be changed.

A day: long enough to open it on a computer at the office, short enough that a link forwarded
to a group soon stops handing out an internal list. Forged links get 403, expired ones 410 (so
the person knows to ask again), a file gone 404. The token never reaches the access log.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.web.media import signed

if TYPE_CHECKING:
    from bot.app import GuongSang

DOWNLOAD_TTL = timedelta(hours=24)
_PURPOSE = b"guongsang-download-v1:"
# A path of a few folders, a time and a signature; anything much longer is not ours.
_MAX_TOKEN = 400
# Only what the bot made or keeps: exports and stored media, never the database beside them.
_SERVED_FOLDERS = ("exports", "media")
_TOKEN_IN_PATH = re.compile(r"/files/[^/\s]+/")


@dataclass(frozen=True)
class Download:
    """What a genuine token names: `path` relative to the data folder, valid until `expires`."""

    path: str
    expires: int


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _decode(text: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def sign_download(path: str, name: str, expires: int, secret: str) -> str:
    """The token for the file at `path` (relative to the data folder), shown as `name`."""
    token = signed(_PURPOSE, f"{_encode(path)}.{expires}.{_encode(name)}", secret)
    # The name rides in the URL's last segment; the token keeps only its signature over it.
    encoded_path, stamp, _name, signature = token.split(".")
    return f"{encoded_path}.{stamp}.{signature}"


def verify_download(token: str, name: str, secret: str) -> Download | None:
    """The download a genuine token names for `name`, expired or not; None when forged or
    malformed (compared in constant time)."""
    if len(token) > _MAX_TOKEN or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    path = _decode(parts[0])
    if path is None:
        return None
    expires = int(parts[1])
    if not hmac.compare_digest(sign_download(path, name, expires, secret), token):
        return None
    return Download(path, expires)


def download_url(
    public_url: str, path: str, name: str, now: datetime, secret: str, ttl: timedelta = DOWNLOAD_TTL
) -> str:
    """The absolute link to download the file at `path` (relative to the data folder)."""
    expires = int((now + ttl).timestamp())
    return f"{public_url}/files/{sign_download(path, name, expires, secret)}/{quote(name)}"


class _HideTokens(logging.Filter):
    """Keeps download tokens out of the access log: a logged one could be replayed for a day."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and "/files/" in a for a in record.args
        ):
            record.args = tuple(
                _TOKEN_IN_PATH.sub("/files/…/", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def hide_tokens_in_access_log() -> None:
    """Install the filter on uvicorn's access log (idempotent)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _HideTokens) for f in logger.filters):
        logger.addFilter(_HideTokens())


def download_routes(app: GuongSang) -> list[Route]:
    """The /files route, serving from the app's data folder."""
    data_dir = app.settings.data_dir
    secret = app.settings.secret_key

    async def download(request: Request) -> Response:
        name = request.path_params["name"]
        grant = verify_download(request.path_params["token"], name, secret)
        if grant is None:
            return PlainTextResponse("Liên kết tải tệp không hợp lệ.", status_code=403)
        if grant.expires <= int(app.services.now().timestamp()):
            return PlainTextResponse(
                "Liên kết tải tệp đã hết hạn. Bạn hãy xin lại tệp trong cuộc trò chuyện với bot.",
                status_code=410,
            )
        root = data_dir.resolve()
        path = (root / grant.path).resolve()
        # Signed paths come from our own writes; still, never serve outside those folders.
        inside = any(path.is_relative_to(root / folder) for folder in _SERVED_FOLDERS)
        if not inside or not path.is_file():
            return PlainTextResponse("Tệp không còn nữa.", status_code=404)
        return FileResponse(
            Path(path),
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    hide_tokens_in_access_log()
    return [Route("/files/{token}/{name}", download)]
