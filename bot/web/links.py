"""Signed, expiring links to the story editor, each bound to one person and one draft.

A token looks like ``<person id>.<draft id>.<expires, unix seconds>.<base64url HMAC-SHA256>``,
signed by the same signer as the photo URLs (bot/web/media.py) under a purpose of its own, so
no photo token can be turned into an editor link or the other way round.

Twelve hours: long enough to write a story over an evening from one link, short enough that a
link forwarded or left in a shared phone's history soon stops opening a draft. A new link comes
with every story prompt in the chat.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.web.media import signed

EDITOR_TTL = timedelta(hours=12)
_PURPOSE = b"guongsang-editor-v1:"
# The form's CSRF token is derived from the link, so it is bound to it and needs no storage.
_CSRF_PURPOSE = b"guongsang-editor-csrf-v1:"
# Three numbers and a 43-character signature; anything longer is not ours.
_MAX_TOKEN = 120


@dataclass(frozen=True)
class EditorGrant:
    """What a genuine, unexpired editor link allows: `person_id` may edit `draft_id`."""

    person_id: int
    draft_id: int
    expires: int


def sign_editor(person_id: int, draft_id: int, expires: int, secret: str) -> str:
    """The editor token for this person and draft, valid until `expires` (unix seconds)."""
    return signed(_PURPOSE, f"{person_id}.{draft_id}.{expires}", secret)


def verify_editor(token: str, secret: str, now: datetime) -> EditorGrant | None:
    """The grant of a genuine, unexpired token; None for anything else (forged, stale,
    malformed), without saying which."""
    if len(token) > _MAX_TOKEN or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]):
        return None
    person_id, draft_id, expires = (int(p) for p in parts[:3])
    # Re-signing the parsed numbers refuses any other spelling of them than the one issued.
    if not hmac.compare_digest(sign_editor(person_id, draft_id, expires, secret), token):
        return None
    if expires <= int(now.timestamp()):
        return None
    return EditorGrant(person_id, draft_id, expires)


def editor_path(
    person_id: int, draft_id: int, now: datetime, secret: str, ttl: timedelta = EDITOR_TTL
) -> str:
    """The site-relative path of a fresh editor link."""
    expires = int((now + ttl).timestamp())
    return f"/editor/{sign_editor(person_id, draft_id, expires, secret)}"


def csrf_token(token: str, secret: str) -> str:
    """The token every save and "Xong" from the page must carry: only a page served for
    this link holds it, and a page on another site cannot read it."""
    return hmac.new(secret.encode(), _CSRF_PURPOSE + token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(token: str, given: str, secret: str) -> bool:
    """Whether `given` is the CSRF token of this link (compared in constant time)."""
    if not given.isascii():
        return False
    return hmac.compare_digest(csrf_token(token, secret), given)


# The personal page of someone who joined on the web: their only way back, so it lasts the
# length of a contest and more. Its own purpose: no editor link or photo token opens it.
_ME_PURPOSE = b"guongsang-me-v1:"
ME_TTL = timedelta(days=365)


def sign_me(person_id: int, expires: int, secret: str) -> str:
    """The personal-page token of a person who joined on the web."""
    return signed(_ME_PURPOSE, f"{person_id}.{expires}", secret)


def verify_me(token: str, secret: str, now: datetime) -> int | None:
    """The person id of a genuine, unexpired personal-page token; None otherwise."""
    if len(token) > _MAX_TOKEN or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts[:2]):
        return None
    person_id, expires = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(sign_me(person_id, expires, secret), token):
        return None
    if expires <= int(now.timestamp()):
        return None
    return person_id


def me_path(person_id: int, now: datetime, secret: str) -> str:
    """The site-relative path of a person's personal page."""
    return f"/me/{sign_me(person_id, int((now + ME_TTL).timestamp()), secret)}"


# A criterion's note on the emulation sheet (letter 004), written on the same editor page in
# its character-count mode. Its own purpose: no story link, photo token or personal page opens
# a note, nor a note link a story. Bound to the person, their unit's card, the sheet version the
# card is scored against and the criterion's place on it: a new sheet version, another unit's
# card or another criterion needs a new link. Twelve hours, as the story editor's.
_NOTE_PURPOSE = b"guongsang-note-v1:"
NOTE_TTL = EDITOR_TTL
# Four numbers, the expiry and a 43-character signature.
_MAX_NOTE_TOKEN = 140


@dataclass(frozen=True)
class NoteGrant:
    """What a genuine, unexpired note link allows: `person_id` may write the note of
    criterion number `criterion` (0-based) of sheet `sheet_id` on card `card_id`."""

    person_id: int
    card_id: int
    sheet_id: int
    criterion: int
    expires: int


def sign_note(
    person_id: int, card_id: int, sheet_id: int, criterion: int, expires: int, secret: str
) -> str:
    """The note-editor token for this person, card, sheet and criterion, valid until `expires`."""
    return signed(_NOTE_PURPOSE, f"{person_id}.{card_id}.{sheet_id}.{criterion}.{expires}", secret)


def verify_note(token: str, secret: str, now: datetime) -> NoteGrant | None:
    """The grant of a genuine, unexpired note token; None for anything else, without saying
    which."""
    if len(token) > _MAX_NOTE_TOKEN or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 6 or not all(p.isdigit() for p in parts[:5]):
        return None
    person_id, card_id, sheet_id, criterion, expires = (int(p) for p in parts[:5])
    # Re-signing the parsed numbers refuses any other spelling of them than the one issued.
    expected = sign_note(person_id, card_id, sheet_id, criterion, expires, secret)
    if not hmac.compare_digest(expected, token):
        return None
    if expires <= int(now.timestamp()):
        return None
    return NoteGrant(person_id, card_id, sheet_id, criterion, expires)


def note_path(
    person_id: int,
    card_id: int,
    sheet_id: int,
    criterion: int,
    now: datetime,
    secret: str,
    ttl: timedelta = NOTE_TTL,
) -> str:
    """The site-relative path of a fresh note-editor link."""
    expires = int((now + ttl).timestamp())
    return f"/note/{sign_note(person_id, card_id, sheet_id, criterion, expires, secret)}"
