"""Editor links and Telegram's initData: what is genuine passes, anything else is refused."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from bot.web.editor import HideEditorLinks, hide_link
from bot.web.links import (
    EDITOR_TTL,
    EditorGrant,
    csrf_ok,
    csrf_token,
    editor_path,
    sign_editor,
    verify_editor,
)
from bot.web.media import sign
from bot.web.telegram_init import sign_init_data, verify_init_data

SECRET = "a-long-random-secret-for-tests"
NOW = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)
BOT_TOKEN = "123456:ABC-test-token"


def token_at(now: datetime = NOW, person: int = 7, draft: int = 42) -> str:
    return editor_path(person, draft, now, SECRET).removeprefix("/editor/")


def test_a_fresh_link_names_its_person_and_draft_for_twelve_hours() -> None:
    token = token_at()
    grant = verify_editor(token, SECRET, NOW)
    assert grant == EditorGrant(7, 42, int((NOW + EDITOR_TTL).timestamp()))
    assert verify_editor(token, SECRET, NOW + timedelta(hours=11, minutes=59)) is not None
    assert timedelta(hours=12) == EDITOR_TTL


def test_a_stale_link_is_refused() -> None:
    token = token_at()
    assert verify_editor(token, SECRET, NOW + EDITOR_TTL) is None
    assert verify_editor(token, SECRET, NOW + timedelta(days=3)) is None


def test_a_forged_or_altered_link_is_refused() -> None:
    token = token_at()
    person, draft, expires, mac = token.split(".")
    altered = [
        f"{person}.43.{expires}.{mac}",  # another draft
        f"8.{draft}.{expires}.{mac}",  # another person
        f"{person}.{draft}.{int(expires) + 86400}.{mac}",  # a later expiry
        f"{person}.0{draft}.{expires}.{mac}",  # another spelling of the same numbers
        f"{person}.{draft}.{expires}.{mac[:-1]}A",
        sign_editor(7, 42, int(expires), "another-secret"),
        f"{person}.{draft}.{expires}",
        "٧.٤٢.1.x",
        token + "é",
        "x" * 500,
    ]
    for bad in altered:
        assert verify_editor(bad, SECRET, NOW) is None, bad


def test_a_photo_token_is_not_an_editor_link() -> None:
    # The same signer, another purpose: the numbers of a media token do not open a draft.
    media = sign(42, int((NOW + timedelta(hours=1)).timestamp()), SECRET)
    attachment, expires, mac = media.split(".")
    assert verify_editor(f"7.{attachment}.{expires}.{mac}", SECRET, NOW) is None


def test_csrf_token_is_bound_to_its_link() -> None:
    one, other = token_at(), token_at(draft=43)
    assert csrf_ok(one, csrf_token(one, SECRET), SECRET)
    assert not csrf_ok(one, csrf_token(other, SECRET), SECRET)
    assert not csrf_ok(one, "", SECRET)
    assert not csrf_ok(one, "é" * 64, SECRET)


def test_the_access_log_never_shows_a_link() -> None:
    token = token_at()
    assert hide_link(f"/editor/{token}/save") == "/editor/…/save"
    assert hide_link(f"/editor/{token}?tg=1") == "/editor/…?tg=1"
    assert hide_link("/editor/telegram/session") == "/editor/telegram/session"
    assert hide_link("/exemplars") == "/exemplars"
    assert hide_link("/me/12.1767225600.abcDEF_-/photo") == "/me/…/photo"
    assert hide_link("/join/K7Q2M9XD") == "/join/…"
    # As uvicorn logs an access line: client, method, path, HTTP version, status.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", f"/editor/{token}/save", "1.1", 200),
        None,
    )
    assert HideEditorLinks().filter(record)
    assert token not in record.getMessage()
    assert "/editor/…/save" in record.getMessage()


def init_data(user_id: int = 101, auth_date: datetime = NOW, **extra: str) -> dict[str, str]:
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": "Hoa", "language_code": "vi"}),
        "auth_date": str(int(auth_date.timestamp())),
        **extra,
    }
    return {**fields, "hash": sign_init_data(fields, BOT_TOKEN)}


def test_genuine_init_data_names_the_telegram_user() -> None:
    assert verify_init_data(urlencode(init_data()), BOT_TOKEN, NOW + timedelta(minutes=5)) == 101


def test_known_vector_from_telegrams_scheme() -> None:
    # Computed by hand from the documented steps, independent of sign_init_data's code.
    import hashlib
    import hmac

    fields = init_data()
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "hash")
    key = hmac.new(b"WebAppData", BOT_TOKEN.encode(), hashlib.sha256).digest()
    assert fields["hash"] == hmac.new(key, check.encode(), hashlib.sha256).hexdigest()


def test_forged_or_stale_init_data_is_refused() -> None:
    good = init_data()
    other_user = {**good, "user": json.dumps({"id": 999, "first_name": "X"})}
    signed_by_another_bot = {**good, "hash": sign_init_data(
        {k: v for k, v in good.items() if k != "hash"}, "999:other-bot"
    )}  # fmt: skip
    cases = [
        urlencode(other_user),
        urlencode(signed_by_another_bot),
        urlencode({k: v for k, v in good.items() if k != "hash"}),
        urlencode(good) + "&user=" + json.dumps({"id": 999}),  # a second user field
        urlencode(init_data(auth_date=NOW - timedelta(hours=2))),  # replayed later
        urlencode(init_data(auth_date=NOW + timedelta(hours=1))),  # from the future
        "not a query string",
        "",
    ]
    for bad in cases:
        assert verify_init_data(bad, BOT_TOKEN, NOW) is None, bad
