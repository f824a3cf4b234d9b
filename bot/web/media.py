"""Signed, expiring photo URLs.

Zalo's Bot API can only send a photo by URL, and the public pages show photos too, yet the media
folder also holds photos of drafts and rejected stories. So no photo is reachable by a guessable
path: a URL carries the attachment id, an expiry time and an HMAC of both, and the /media route
serves it only while the signature holds and the story is honoured.

A token looks like ``<attachment id>.<expires, unix seconds>.<base64url HMAC-SHA256>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from bot.settings import Settings

DEFAULT_TTL = timedelta(days=7)
# Every page view would otherwise mint new URLs; rounding the expiry up to the hour keeps them
# identical for an hour, so browsers and Zalo's servers can cache the photo.
_ROUND = 3600
# Domain separation: the same secret may later sign other things (webhook paths, invite links).
_PURPOSE = b"guongsang-media-v1:"
# Ids and unix times are short; anything longer is not ours and is refused before parsing.
_MAX_TOKEN = 120


def sign(attachment_id: int, expires: int, secret: str) -> str:
    """The token for `attachment_id` valid until `expires` (unix seconds)."""
    return signed(_PURPOSE, f"{attachment_id}.{expires}", secret)


def verify(token: str, secret: str, now: datetime) -> int | None:
    """The attachment id of a genuine, unexpired token; None for anything else."""
    # We only issue ASCII; isdigit() alone would pass "٤٢" or "²", and compare_digest refuses
    # non-ASCII strings with an error rather than an answer.
    if len(token) > _MAX_TOKEN or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    # Re-signing the parsed numbers and comparing the whole token also refuses any other
    # spelling of them ("042" for 42) than the one we issued.
    attachment_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(sign(attachment_id, expires, secret), token):
        return None
    if expires <= int(now.timestamp()):
        return None
    return attachment_id


def media_path(attachment_id: int, now: datetime, ttl: timedelta, secret: str) -> str:
    """The site-relative path of a signed photo URL, valid for `ttl` (rounded up to the hour)."""
    deadline = int((now + ttl).timestamp())
    expires = -(-deadline // _ROUND) * _ROUND
    return f"/media/{sign(attachment_id, expires, secret)}"


def media_url(
    settings: Settings, attachment_id: int, now: datetime, ttl: timedelta = DEFAULT_TTL
) -> str:
    """The absolute, signed URL of a photo, as other platforms (Zalo) must fetch it.

    `now` must be timezone-aware (services.now()). The URL works for at least `ttl` and at most
    an hour longer, and only while the photo belongs to an honoured story.
    """
    return settings.public_url + media_path(attachment_id, now, ttl, settings.secret_key)


# Photos sent to Zalo chats (review cards, a story's photos for its reviewer) are not public,
# so they get their own kind of token, over the stored file's checksum name: a public-page
# token cannot be turned into one, nor the other way round.
_FILE_PURPOSE = b"guongsang-media-file-v1:"
FILE_TTL = timedelta(days=2)
_IMAGE_EXTENSIONS = ("jpg", "png", "webp", "gif", "bmp")


def sign_file(name: str, expires: int, secret: str) -> str:
    """The token for the stored file `name` ("<sha256>.<ext>") valid until `expires`."""
    return signed(_FILE_PURPOSE, f"{name}.{expires}", secret)


def verify_file(token: str, secret: str, now: datetime) -> str | None:
    """The media-relative path ("ab/ab….jpg") of a genuine, unexpired file token, else None."""
    if len(token) > 200 or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    sha, extension, expires = parts[0], parts[1], int(parts[2])
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        return None
    if extension not in _IMAGE_EXTENSIONS:
        return None
    name = f"{sha}.{extension}"
    if not hmac.compare_digest(sign_file(name, expires, secret), token):
        return None
    if expires <= int(now.timestamp()):
        return None
    return f"{sha[:2]}/{name}"


def file_url(settings: Settings, name: str, now: datetime, ttl: timedelta = FILE_TTL) -> str:
    """The absolute, signed URL of a stored photo ("<sha256>.<ext>"), for Zalo to fetch."""
    deadline = int((now + ttl).timestamp())
    expires = -(-deadline // _ROUND) * _ROUND
    return f"{settings.public_url}/media/f/{sign_file(name, expires, settings.secret_key)}"


def signed(purpose: bytes, payload: str, secret: str) -> str:
    """`payload` followed by its base64url HMAC-SHA256 under `purpose` (each kind of link has
    its own purpose, so a token of one kind can never pass for another)."""
    digest = hmac.new(secret.encode(), purpose + payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
