"""Button data and typed numbers are read strictly: ASCII digits only, of a bounded length. A
malformed press is answered, changes nothing and logs no error."""

from __future__ import annotations

import logging

import pytest

from bot.app import GuongSang
from tests.drivers import Chat, submit_story, typed
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_review import Cast, actions, cast, story  # noqa: F401

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


async def test_malformed_card_presses_are_answered_and_change_nothing(
    app: GuongSang,
    telegram: FakeTelegram,
    cast: Cast,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = await submit_story(cast.teacher)
    await cast.principal.replies()
    sub = await story(app, code)
    principal: Chat = cast.principal  # may confirm this story: only the data is wrong
    arabic_id = str(sub.id).translate(ARABIC_INDIC)
    caplog.set_level(logging.WARNING)
    forged = [
        f"!u:ok:{arabic_id}:1",
        f"!u:ok:{sub.id}:{'1'.translate(ARABIC_INDIC)}",
        f"!u:ok:{sub.id}:²",
        "!u:ok:" + "9" * 5000 + ":1",
        f"!u:ok:{sub.id}:" + "1" * 5000,
        "!u:ok:99999999999:1",  # beyond a database integer
        f"!op:{arabic_id}",
        "!op:" + "1" * 5000,
        "!pd:²",
        f"!ed:{arabic_id}",
    ]
    for data in forged:
        answer = await principal.press_raw(data)
        assert "không hợp lệ" in answer, (data[:40], answer)
    for data in ("9" * 5000 + "|x", "١|x"):
        answer = await principal.press_raw(data)
        assert answer and "lỗi" not in answer.lower(), (data[:40], answer)
    assert (await story(app, code)).status == "submitted"
    assert [a for a, _ in await actions(app, code)] == ["created", "submitted"]
    # No card was opened by "!op:١" either: the principal has only the first one.
    assert sum(code in (m.plain_text or "") for m in principal.user.messages()) == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage()[:200] for r in errors]


async def test_typed_numbers_are_ascii_digits_of_a_sane_length(
    app: GuongSang, caplog: pytest.LogCaptureFixture
) -> None:
    """On channels without buttons (Zalo, the console) a number picks from the list shown."""
    caplog.set_level(logging.WARNING)

    async def say(text: str) -> str:
        response = await app.handle(typed("lan", text))
        lines = [r.text for r in response.replies]
        lines += [c.label for r in response.replies for c in r.choices]
        return "\n".join(lines)

    await say("/start")
    await say("Nguyễn Thị Lan")
    # Several matches, so the units are listed by number (a single match is taken at once).
    listed = await say("thcs khuong")
    assert "Trường THCS Khương Mai" in listed and "Trường THCS Khương Đình" in listed, listed
    for odd in ("١", "٢", "¹", "9" * 5000):
        answer = await say(odd)
        assert "điện thoại" not in answer, (odd[:20], answer)
        assert "lỗi" not in answer.lower(), (odd[:20], answer)
    assert "điện thoại" in await say("1"), "the ASCII number still picks"
    # A typed decision with a code no story has: told so briefly, however long the typing.
    answer = await say("/duyet " + "١" * 3000)
    assert "Không tìm thấy bài" in answer and len(answer) < 300, answer[:100]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage()[:200] for r in errors]
