"""The nomination ladder on Telegram, end to end: a story approved by the district education
office climbs to the district Home Affairs office and the city contest, a decision at each."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from storage.models import Event as LogEvent
from storage.models import Nomination, Organisation
from tests.apps import FIXTURES
from tests.drivers import Chat, invite_code, join, register, submit_story, text_of
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.test_telegram_review import card_of, story

SCHOOL = "Trường THCS Lê Quý Đôn"
DISTRICT = "Phòng GDĐT quận Thanh Xuân"
HOME_AFFAIRS = "Phòng Nội vụ quận Thanh Xuân"
CITY = "Hội đồng thi cấp Thành phố"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The letter-001 campaign with its three-level ladder."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        config=FIXTURES / "campaigns-ladder.toml",
        admins="telegram:999",
    )


@dataclass
class Cast:
    """A teacher, her principal, and the reviewers of each level."""

    teacher: Chat
    principal: Chat
    district: Chat
    home_affairs: Chat
    home_affairs_2: Chat
    city: Chat


async def reviewer(app: GuongSang, chat: Chat, organisation: str) -> Chat:
    await join(chat, await invite_code(app, "reviewer", organisation=organisation))
    return chat


@pytest.fixture
async def cast(app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel) -> Cast:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = Chat(telegram.user(201, "Bình"))
    await join(principal, await invite_code(app, "unit_head", SCHOOL))
    return Cast(
        teacher,
        principal,
        await reviewer(app, Chat(telegram.user(301, "Thu")), DISTRICT),
        await reviewer(app, Chat(telegram.user(401, "Nam")), HOME_AFFAIRS),
        await reviewer(app, Chat(telegram.user(402, "Lan")), HOME_AFFAIRS),
        await reviewer(app, Chat(telegram.user(501, "Minh")), CITY),
    )


async def ladder_log(app: GuongSang, code: str) -> list[tuple[str, str | None, dict]]:
    sub = await story(app, code)
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(LogEvent)
            .where(LogEvent.subject == "submission", LogEvent.subject_id == sub.id)
            .where(LogEvent.action.like("ladder_%"))
            .order_by(LogEvent.id)
        )
        return [(e.action, e.reason, e.data) for e in rows]


async def nominations(app: GuongSang, code: str) -> list[tuple[int, str]]:
    sub = await story(app, code)
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(Nomination).where(Nomination.submission_id == sub.id).order_by(Nomination.level)
        )
        return [(n.level, n.status) for n in rows]


async def up_card(telegram: FakeTelegram, chat: Chat, code: str, label: str) -> SentMessage:
    """The card for `code` once an edit has given it the button `label` (waits for it)."""

    def offering(_calls: object) -> SentMessage | None:
        for message in reversed(chat.user.messages()):
            if code in (message.plain_text or "") and any(label in b for b in message.buttons()):
                return message
        return None

    return await telegram.wait_for(offering)


async def approved_story(cast: Cast) -> str:
    """Submitted, confirmed by the principal, approved by the district office."""
    code = await submit_story(cast.teacher)
    await cast.principal.replies()
    await cast.principal.press("Xác nhận", card_of(cast.principal, code))
    await cast.teacher.replies()
    await cast.district.replies()
    text = await cast.district.press("Duyệt", card_of(cast.district, code))
    assert "được duyệt" in text
    assert "đã được duyệt" in text_of(await cast.teacher.replies())
    return code


async def test_a_story_climbs_two_levels_with_one_decision_at_each(
    app: GuongSang, telegram: FakeTelegram, cast: Cast
) -> None:
    async with app.db.transaction() as session:
        orgs = {o.name: o for o in await session.scalars(select(Organisation))}
    assert orgs[DISTRICT].parent_id == orgs[HOME_AFFAIRS].id, "the file's ladder is imported"
    assert orgs[HOME_AFFAIRS].parent_id == orgs[CITY].id and orgs[CITY].parent_id is None

    code = await approved_story(cast)
    assert not cast.home_affairs.user.messages()[3:], "nothing goes up before it is sent"
    # The one who approved is offered the level above.
    approved = await up_card(telegram, cast.district, code, "Chọn gửi lên")

    text = await cast.district.press(f"Chọn gửi lên {HOME_AFFAIRS}", approved)
    assert "ghi chú đề cử" in text
    text = await cast.district.send("Tấm gương tiêu biểu của khối THCS tháng 1.")
    assert f"được gửi lên {HOME_AFFAIRS}" in text
    told = text_of(await cast.teacher.replies())
    assert f"của bạn được chọn gửi lên {HOME_AFFAIRS}" in told and code in told

    for chat in (cast.home_affairs, cast.home_affairs_2):
        card = text_of(await chat.replies())
        assert f"Bài được gửi lên {HOME_AFFAIRS}" in card and code in card
        assert "cấp 2/3" in card and f"{DISTRICT}: duyệt" in card
        assert "Tấm gương tiêu biểu của khối THCS tháng 1." in card, "the lower level's note"
    assert not cast.city.user.messages()[3:], "the city sees nothing yet"

    # Two Home Affairs reviewers press "select" at once: one decision.
    first = card_of(cast.home_affairs, code)
    second = card_of(cast.home_affairs_2, code)
    answers_before = len(telegram.calls_to("answerCallbackQuery"))
    await asyncio.gather(
        cast.home_affairs.user.press(first, "Chọn"),
        cast.home_affairs_2.user.press(second, "Chọn"),
    )
    told = text_of(await cast.teacher.replies())
    assert f"của bạn được {HOME_AFFAIRS} chọn" in told
    answers = [c.params.get("text", "") for c in telegram.calls_to("answerCallbackQuery")]
    assert sum("đã được" in a and "xử lý" in a for a in answers[answers_before:]) == 1
    assert [a for a, _, _ in await ladder_log(app, code)] == ["ladder_nominated", "ladder_selected"]
    assert await nominations(app, code) == [(1, "selected")]

    # A lower level cannot decide above itself: forged presses change nothing.
    sub_id = (await story(app, code)).id
    answer = await cast.district.press_raw(f"!n:up:{sub_id}:2")
    assert "không có quyền" in answer
    answer = await cast.district.press_raw(f"!n:ok:{sub_id}:1")
    assert "không có quyền" in answer

    # Whichever reviewer won, the other's card was edited to the outcome with "send up".
    first_text = text_of(cast.home_affairs.user.messages())
    winner, other = (
        (cast.home_affairs, cast.home_affairs_2)
        if f"Đã ghi nhận: {HOME_AFFAIRS} chọn bài" in first_text
        else (cast.home_affairs_2, cast.home_affairs)
    )
    edited = await up_card(telegram, other, code, f"Chọn gửi lên {CITY}")
    assert f"{HOME_AFFAIRS} chọn</b>" in (edited.text or "")
    selected = await up_card(telegram, winner, code, f"Chọn gửi lên {CITY}")
    await winner.press("Chọn gửi lên", selected)
    await winner.send("Đề nghị dự thi cấp Thành phố.")
    assert f"được chọn gửi lên {CITY}" in text_of(await cast.teacher.replies())
    card = text_of(await cast.city.replies())
    assert "cấp 3/3" in card and "Tấm gương tiêu biểu của khối THCS tháng 1." in card
    assert f"{HOME_AFFAIRS}: chọn" in card and "Đề nghị dự thi cấp Thành phố." in card

    # /pending lists it for the city, whose button opens the card with its decisions.
    text = await cast.city.send("/pending")
    assert code in text and f"chờ {CITY} chọn" in text
    assert "Bài đang chờ bạn" not in await cast.home_affairs.send("/pending")
    card = text_of(await cast.city.press(code) and cast.city.last)
    assert f"Bài được gửi lên {CITY}" in card

    # A Home Affairs reviewer cannot decide at the city level, even with forged data.
    answer = await cast.home_affairs.press_raw(f"!n:ok:{sub_id}:2")
    assert "không có quyền" in answer and CITY in answer
    assert await nominations(app, code) == [(1, "selected"), (2, "pending")]

    await cast.city.press("Không chọn", card_of(cast.city, code))
    await cast.city.send("Chưa đủ tiêu biểu ở cấp Thành phố.")
    told = text_of(await cast.teacher.replies())
    assert f"không được chọn ở {CITY}" in told and "Chưa đủ tiêu biểu" in told
    assert await nominations(app, code) == [(1, "selected"), (2, "not_selected")]

    log = await ladder_log(app, code)
    assert [(a, r) for a, r, _ in log] == [
        ("ladder_nominated", "Tấm gương tiêu biểu của khối THCS tháng 1."),
        ("ladder_selected", None),
        ("ladder_nominated", "Đề nghị dự thi cấp Thành phố."),
        ("ladder_not_selected", "Chưa đủ tiêu biểu ở cấp Thành phố."),
    ]
    assert [(d["level"], d["organisation"], d["role"]) for _, _, d in log] == [
        (1, HOME_AFFAIRS, "reviewer"),
        (1, HOME_AFFAIRS, "reviewer"),
        (2, CITY, "reviewer"),
        (2, CITY, "reviewer"),
    ]
    assert (await story(app, code)).status == "approved", "the submission's status is untouched"
