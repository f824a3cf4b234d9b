"""Telegram Mini App `initData`: checked as Telegram documents it
(https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app).

The data-check-string is every received field but `hash`, sorted by key, as ``key=value``
lines joined by "\\n"; its HMAC-SHA256 under the key HMAC-SHA256("WebAppData", bot token) must
equal `hash`. `auth_date` says when Telegram opened the app: the page sends it at once, so an
hour-old one is a replay, not a slow phone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

MAX_AGE = timedelta(hours=1)
# Clocks differ a little; a date further ahead than this was not made by Telegram now.
MAX_AHEAD = timedelta(minutes=5)


def sign_init_data(fields: dict[str, str], bot_token: str) -> str:
    """The `hash` Telegram puts on these fields (tests and the check below share it)."""
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()


def verify_init_data(init_data: str, bot_token: str, now: datetime) -> int | None:
    """The Telegram user id of genuine, fresh `initData` (the URL-encoded string the Mini App
    got); None for anything else."""
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    fields = dict(pairs)
    given = fields.get("hash", "")
    if len(fields) != len(pairs) or not given.isascii():
        return None  # a field sent twice is not what Telegram signs
    if not hmac.compare_digest(sign_init_data(fields, bot_token), given):
        return None
    auth_date = fields.get("auth_date", "")
    if not auth_date.isascii() or not auth_date.isdigit():
        return None
    age = now.timestamp() - int(auth_date)
    if age > MAX_AGE.total_seconds() or -age > MAX_AHEAD.total_seconds():
        return None
    try:
        user = json.loads(fields.get("user", ""))
    except ValueError:
        return None
    user_id = user.get("id") if isinstance(user, dict) else None
    return user_id if isinstance(user_id, int) and not isinstance(user_id, bool) else None
