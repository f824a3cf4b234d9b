"""Each text fits the channel it goes to, a parent who only wants the news is never trapped
in registration, and a Zalo group chat is answered rather than ignored.

Real parts throughout: the application on a real database, the Telegram and Zalo channels
polling their fake Bot API servers on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import logging

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.zalo.channel import ZaloChannel
from bot.settings import Settings
from storage.models import AudienceMember, Event, Person
from tests.drivers import Chat, register, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo, ZaloSent, fixture
from tests.zalo_drivers import ZaloChat

ZALO_ADMIN = "a0a0a0a0a0a0a0a0a0a0"
GROUP = "9b1e4f7a2c5d8e0f3a6b"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """An admin on Zalo too, who can make a group a broadcast audience."""
    return settings.model_copy(update={"admins": f"telegram:999,zalo:{ZALO_ADMIN}"})


async def names_and_subscriptions(app: GuongSang) -> tuple[list[str], list[tuple[str, bool]]]:
    async with app.db.transaction() as session:
        names = list(await session.scalars(select(Person.full_name)))
        members = [(m.chat_id, m.active) for m in await session.scalars(select(AudienceMember))]
    return [n for n in names if n], members


async def test_a_parent_who_only_wants_the_news_is_not_kept_in_registration(
    app: GuongSang, channel: TelegramChannel, telegram: FakeTelegram
) -> None:
    parent = Chat(telegram.user(501, "Mai"))
    text = await parent.send("/start")
    assert "Chỉ nhận tin" in text and "không cần đăng ký" in text, text
    assert "🔔 Chỉ nhận tin" in parent.with_buttons().buttons()
    text = await parent.send("/subscribe")
    assert "Đã đăng ký nhận tin" in text and "dừng phần đăng ký" in text, text
    assert "🔕 Hủy nhận tin" in (parent.user.reply_keyboard() or []), "a tap to stop"
    # The message that used to be stored as a full name.
    text = await parent.send("Cảm ơn nhé")
    assert "đang nhận tin" in text and "Họ và tên" not in text, text
    assert "đơn vị" not in text

    # The same by the button under the greeting.
    other = Chat(telegram.user(502, "Tú"))
    await other.send("/start")
    text = await other.press("Chỉ nhận tin")
    assert "Đã đăng ký nhận tin" in text, text
    assert "đang nhận tin" in await other.send("Vâng")

    names, members = await names_and_subscriptions(app)
    assert names == [], "no thank-you was taken for a name"
    assert sorted(members) == [("501", True), ("502", True)]
    async with app.db.transaction() as session:
        actions = list(await session.scalars(select(Event.action).where(Event.subject == "person")))
    assert actions.count("subscribed") == 2

    # Wanting to write after all: /start registers, without offering the news again.
    text = await parent.send("/start")
    assert "Họ và tên" in text and "Chỉ nhận tin" not in text, text
    # /unsubscribe while registering keeps the registration and asks its question again.
    text = await parent.send("/unsubscribe")
    assert "Đã hủy nhận tin" in text and "Họ và tên" in text, text


async def test_help_and_the_menu_offer_the_news(
    app: GuongSang, channel: TelegramChannel, telegram: FakeTelegram
) -> None:
    teacher = Chat(telegram.user(503, "Hoa"))
    await register(teacher)
    keyboard = teacher.user.reply_keyboard() or []
    assert "🔔 Nhận tin" in keyboard and "🔕 Hủy nhận tin" in keyboard, keyboard
    text = await teacher.send("/help")
    assert "/subscribe" in text and "/unsubscribe" in text, text
    assert "Đã đăng ký nhận tin" in await teacher.send("🔔 Nhận tin")


async def test_every_text_on_zalo_speaks_of_what_zalo_has(
    zalo: FakeZalo, zalo_channel: ZaloChannel
) -> None:
    chat = ZaloChat(zalo.user("d1d2d3d4e5f601234567", "Hoa"))
    text = await chat.send("/start")
    assert "1. 🔔 Chỉ nhận tin" in text and "bấm nút" not in text.lower(), text
    # A sticker at the name step: there is no draft yet to be "kept as it was".
    await chat.user.send_sticker()
    text = "\n".join(m.text or "" for m in await chat.replies())
    assert "nhãn dán" in text and "Bài nháp" not in text, text
    await chat.send("Nguyễn Thị Hoa")
    # "1" answers the unit question now, not the news offer shown with the greeting.
    text = await chat.send("1")
    assert "gõ tên đơn vị" in text and "Đã đăng ký nhận tin" not in text, text
    text = await chat.send("thcs le quy don")
    assert "gõ số điện thoại" in text and "Bấm nút" not in text and "bên dưới" not in text, text
    text = await chat.send("0912 345 678")
    assert "Đã lưu thông tin" in text and "Gõ /new" in text and "menu" not in text, text

    text = await chat.send("/help")
    assert text.count("/new") == 1 and text.count("/mine") == 1, "the commands once, not twice"
    assert ".docx" not in text and "/subscribe" in text, text
    text = await chat.send("chào bot")
    assert "menu" not in text and "/new" in text, text

    await chat.send("/new")
    await chat.send("Nguyễn Thị Lan")
    await chat.send("Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội")
    await chat.choose("An toàn trường học")
    text = await chat.send("Cô giáo của những buổi chiều thứ Bảy")
    assert "Bước 5" in text and ".docx" not in text and "tệp .txt" not in text, text
    # A file sent anyway (Zalo hands the bot an "unsupported" message): no advice to send
    # the file that cannot arrive, but how to get its words in.
    await chat.user.send_unsupported()
    text = "\n".join(m.text or "" for m in await chat.replies())
    assert ".docx" not in text and "sao chép" in text, text


def group_update(text: str, sender: str = "e4ea2cd5189df1c3a88c", photo: str = "") -> dict:
    """A recorded group message, from `sender`, with this text (or a photo)."""
    update = fixture("update-group-text.json")
    message = update["message"]
    # Zalo's message ids are ASCII; one per distinct message, so none is taken for a repeat.
    message["message_id"] = hashlib.sha1(f"{text}-{sender}-{photo}".encode()).hexdigest()
    message["from"]["id"] = sender
    if photo:
        update["event_name"] = "message.image.received"
        del message["text"]
        message["photo"] = photo
    else:
        message["text"] = text
    return update


async def group_answers(zalo: FakeZalo, count: int) -> list[ZaloSent]:
    """Wait until the group has had `count` messages from the bot."""

    def enough(_calls: object) -> bool:
        return len(zalo.sent(GROUP)) >= count

    await zalo.wait_for(enough)
    return zalo.sent(GROUP)


async def test_a_zalo_group_is_answered_and_can_receive_the_news(
    zalo: FakeZalo,
    zalo_channel: ZaloChannel,
    zalo_app: GuongSang,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="handlers.groups")
    await zalo.enqueue(group_update("Chào cả nhà"))
    (note,) = await group_answers(zalo, 1)
    assert "trò chuyện riêng" in (note.text or ""), note.text
    # A busy group is told once a day, not answered line by line; commands always are.
    typing_before = len(zalo.calls_to("sendChatAction"))
    await zalo.enqueue(group_update("Hôm nay họp lúc mấy giờ?"))
    await zalo.enqueue(group_update("", photo=zalo.host_file(b"not fetched")))
    await zalo.enqueue(group_update("/start"))
    answers = await group_answers(zalo, 2)
    assert len(answers) == 2 and "trò chuyện riêng" in (answers[1].text or "")
    assert len(zalo.calls_to("sendChatAction")) == typing_before, "a group's photo is not fetched"
    logged = [r.getMessage() for r in caplog.records if GROUP in r.getMessage()]
    assert len(logged) == 4, logged

    # Only an admin makes the group an audience.
    await zalo.enqueue(group_update("/subscribe"))
    answers = await group_answers(zalo, 3)
    assert "Chỉ quản trị viên" in (answers[2].text or "") and f"zalo:{GROUP}" in answers[2].text
    await zalo.enqueue(group_update("/subscribe", sender=ZALO_ADMIN))
    answers = await group_answers(zalo, 4)
    assert "Nhóm này sẽ nhận tin" in (answers[3].text or ""), answers[3].text

    _names, members = await names_and_subscriptions(zalo_app)
    assert members == [(GROUP, True)]
    async with zalo_app.db.transaction() as session:
        member = await session.scalar(select(AudienceMember))
        recorded = await session.scalar(select(Event).where(Event.subject == "audience"))
    assert member is not None and member.kind == "group"
    assert recorded is not None and recorded.action == "subscribed"
    assert recorded.data["by"] == ZALO_ADMIN
    # Nobody in the group was asked to register, and no draft or person came of it.
    assert not any("Họ và tên" in (m.text or "") for m in zalo.sent(GROUP))


async def test_the_only_unit_that_matches_is_taken_and_can_be_changed(
    app: GuongSang, channel: TelegramChannel, telegram: FakeTelegram
) -> None:
    chat = Chat(telegram.user(504, "Hoa"))
    await chat.send("/start")
    await chat.send("Nguyễn Thị Hoa")
    # "1" answers the unit question now, not the news offer shown with the greeting.
    text = await chat.send("1")
    assert "gõ tên đơn vị" in text and "Đã đăng ký nhận tin" not in text, text
    text = await chat.send("thcs le quy don")
    assert "Đã chọn đơn vị Trường THCS Lê Quý Đôn" in text and "số điện thoại" in text, text
    # Not theirs after all: back to the search, and a list of several to pick from.
    assert "đơn vị nào" in await chat.press("Chọn đơn vị khác")
    await chat.send("kim giang")
    assert "số điện thoại" in await chat.press("Trường THCS Kim Giang")
    await chat.user.send_contact("+84 912 345 678")
    assert "Trường THCS Kim Giang" in text_of(await chat.replies())
    # In /profile, a single match is taken and the profile shown again to change anything.
    await chat.send("/profile")
    await chat.press("Đơn vị công tác")
    text = await chat.send("le quy don")
    assert "Đã chọn đơn vị Trường THCS Lê Quý Đôn" in text and "Đã cập nhật hồ sơ" in text
    assert "Chọn đơn vị khác" not in text, text
