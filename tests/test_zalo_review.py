"""Unit heads and reviewers on Zalo: numbered actions and typed commands, checked on the
server exactly like button presses, and a decision on Telegram racing one on Zalo."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from storage.models import Event as LogEvent
from storage.models import Submission
from tests.drivers import Chat, introduce, invite_code, register, submit_story, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo
from tests.zalo_drivers import ZaloChat, register_on_zalo

SCHOOL = "Trường THCS Lê Quý Đôn"


@pytest.fixture
async def tg(zalo_app: GuongSang, telegram: FakeTelegram) -> AsyncIterator[TelegramChannel]:
    """The Telegram channel of the same app: the teachers here write on Telegram."""
    channel = TelegramChannel(zalo_app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = zalo_app.settled  # answers are read until the app settles
    yield channel
    await asyncio.wait_for(channel.stop(), timeout=15)


async def decisions(
    app: GuongSang, code: str, channel: str | None = "zalo"
) -> list[tuple[str, str | None, str | None]]:
    """(action, reason, channel) of the story's logged events on `channel` (None: all)."""
    async with app.db.transaction() as session:
        sub = await session.scalar(select(Submission).where(Submission.code == code))
        assert sub is not None
        rows = await session.scalars(
            select(LogEvent)
            .where(LogEvent.subject == "submission", LogEvent.subject_id == sub.id)
            .order_by(LogEvent.id)
        )
        return [(e.action, e.reason, e.channel) for e in rows if channel in (None, e.channel)]


async def test_numbers_and_typed_commands_decide_like_buttons(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    telegram: FakeTelegram,
    tg: TelegramChannel,
) -> None:
    app = zalo_app
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = ZaloChat(zalo.user("a0a0c3d4e5f601234567", "Bình"))
    # Greeting the bot first starts a teacher's registration; the code ends it.
    assert "Họ và tên" in await principal.send("Xin chào")
    await principal.send(f"/join {await invite_code(app, 'unit_head', SCHOOL)}")
    reviewer = ZaloChat(zalo.user("b0b0c3d4e5f601234567", "Thu"))
    await reviewer.send(f"/join {await invite_code(app, 'reviewer', levels='TH,THCS')}")
    await introduce(principal, "Nguyễn Văn Bình", "Hiệu trưởng")
    await introduce(reviewer, "Vũ Thị Thu", "Chuyên viên")
    stranger = ZaloChat(zalo.user("c0c0c3d4e5f601234567", "Khách"))

    first = await submit_story(teacher)
    card = text_of_zalo(await principal.replies())
    assert "1. ✅ Xác nhận" in card and "2. ↩️ Trả lại tác giả" in card
    # Someone without the role typing the command changes nothing, and is told so.
    assert "không có quyền" in await stranger.send(f"/xacnhan {first}")
    assert "Đã ghi nhận" in await principal.send("xac nhan"), "the option's words answer too"
    card = text_of_zalo(await reviewer.replies())
    assert "1. ✅ Duyệt" in card and "2. ✏️ Yêu cầu sửa" in card and "3. ⛔ Từ chối" in card
    assert f"/yeucausua {first} nhận xét" in card

    # "2" asks for the comment, which is the next message.
    assert "nhận xét, yêu cầu sửa" in await reviewer.send("2")
    assert "Đã ghi nhận" in await reviewer.send("Cần thêm ảnh buổi học chiều thứ Bảy.")
    told = text_of(await teacher.replies())
    assert "đề nghị sửa" in told and "Cần thêm ảnh buổi học chiều thứ Bảy." in told
    # A decision typed for a story already decided is refused, with who decided it.
    assert "đã được xử lý bởi Vũ Thị Thu" in await reviewer.send(f"/duyet {first}")

    second = await submit_story(teacher, title="Người thầy trên bản")
    await principal.replies()
    assert "lý do" in await principal.send(f"/tralai {second.lower()}")
    assert "Đã ghi nhận" in await principal.send("Thiếu ảnh hoạt động.")
    await teacher.replies()

    third = await submit_story(teacher, title="Bếp ăn bán trú")
    await principal.replies()
    await principal.send("1")
    await reviewer.replies()
    assert "Cách gõ: /tuchoi GS-…" in await reviewer.send("/tuchoi")
    assert "Không tìm thấy bài" in await reviewer.send("/tuchoi GS-2099-0001 Sai")
    assert "Lý do cần từ 3" in await reviewer.send(f"/tuchoi {third} x")
    # On a phone the reason often goes on a new line.
    assert "Đã ghi nhận" in await reviewer.send(f"/tuchoi {third}\nKhông đúng chủ đề cuộc thi.")
    assert "Không đúng chủ đề cuộc thi." in text_of(await teacher.replies())

    assert await decisions(app, first) == [
        ("unit_confirmed", None, "zalo"),
        ("changes_requested", "Cần thêm ảnh buổi học chiều thứ Bảy.", "zalo"),
    ]
    assert await decisions(app, second) == [("returned", "Thiếu ảnh hoạt động.", "zalo")]
    assert await decisions(app, third) == [
        ("unit_confirmed", None, "zalo"),
        ("rejected", "Không đúng chủ đề cuộc thi.", "zalo"),
    ]


async def test_a_decision_on_telegram_races_one_on_zalo(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    telegram: FakeTelegram,
    tg: TelegramChannel,
) -> None:
    app = zalo_app
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = Chat(telegram.user(201, "Bình"))
    await principal.send(f"/join {await invite_code(app, 'unit_head', SCHOOL)}")
    on_telegram = Chat(telegram.user(301, "Thu"))
    await on_telegram.send(f"/join {await invite_code(app, 'reviewer', levels='THCS')}")
    on_zalo = ZaloChat(zalo.user("d0d0c3d4e5f601234567", "Hào"))
    await on_zalo.send(f"/join {await invite_code(app, 'reviewer', levels='THCS')}")
    await introduce(on_telegram, "Vũ Thị Thu", "Chuyên viên")
    await introduce(on_zalo, "Lê Văn Hào", "Chuyên viên")

    for round_ in range(3):
        code = await submit_story(teacher, title=f"Bài số {round_ + 1}")
        await principal.replies()
        await principal.press("Xác nhận")
        await on_telegram.replies()
        await on_zalo.replies()
        card = on_telegram.with_buttons()
        # Both decide at the same moment: one approves on Telegram, one rejects on Zalo.
        await asyncio.gather(
            on_telegram.user.press(card, "Duyệt"),
            on_zalo.user.send_text(f"/tuchoi {code} Trùng với bài đã gửi."),
        )
        zalo_said = text_of_zalo(await on_zalo.replies())
        await on_telegram.replies()
        outcome = await decisions(app, code, channel=None)
        decided = [action for action, _, _ in outcome if action in ("approved", "rejected")]
        assert len(decided) == 1, outcome
        if decided == ["approved"]:
            assert "đã được xử lý bởi Vũ Thị Thu" in zalo_said
        else:
            assert "Đã ghi nhận" in zalo_said


def text_of_zalo(messages: list) -> str:
    return "\n".join(m.text or "" for m in messages)


async def test_numbers_stay_with_the_form_and_several_cards_need_the_code(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    telegram: FakeTelegram,
    tg: TelegramChannel,
) -> None:
    app = zalo_app
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = ZaloChat(zalo.user("e0e0c3d4e5f601234567", "Bình"))
    await register_on_zalo(principal, "Trần Văn Bình")
    await principal.send(f"/join {await invite_code(app, 'unit_head', SCHOOL)}")
    # The principal writes a story of their own and is choosing its focus area…
    await principal.send("/new")
    await principal.send("Lê Văn Nam")
    form = await principal.send("Trường THCS Lê Quý Đôn, Hà Nội")
    first_area = form.split("1. ", 1)[1].split("\n", 1)[0]
    # …when a teacher's story arrives for confirmation.
    code = await submit_story(teacher)
    card = text_of_zalo(await principal.replies())
    assert code in card and "/xacnhan" in card
    text = await principal.send("1")
    assert "Bước 4" in text, "the number answered the form, not the card"
    assert await decisions(app, code) == []
    async with app.db.transaction() as session:
        draft = await session.scalar(
            select(Submission).where(Submission.chat_id == principal.user.id)
        )
        assert draft is not None and draft.values.get("focus_area") == first_area
    await principal.send("/cancel")

    # Idle, with two cards arrived since: a bare number could mean either.
    second = await submit_story(teacher, title="Bài thứ hai")
    third = await submit_story(teacher, title="Bài thứ ba")
    await principal.replies(min_count=2)
    text = await principal.send("1")
    assert "nhiều bài" in text and f"/xacnhan {third}" in text
    assert await decisions(app, second) == [] and await decisions(app, third) == []
    assert "Đã ghi nhận" in await principal.send(f"/xacnhan {second}")
    # The decided card's outcome is plain text, not tags.
    third_card = await principal.send(f"/xacnhan {third}")
    assert "Đã ghi nhận" in third_card
    assert "<b>" not in text_of_zalo(principal.user.messages())
