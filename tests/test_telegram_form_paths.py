"""The form's other paths: editing from the preview, "other" focus area, discard, several open
campaigns, profile changes, and the photo maximum."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from storage.models import AudienceMember, Event, Person, Submission
from tests.apps import FIXTURES, Clock, start_app
from tests.drivers import Chat, fill_until_story, jpeg, register, text_of
from tests.fakes.telegram_server import FakeTelegram


async def to_preview(chat: Chat) -> str:
    """From the story step to the preview with one short paragraph and one photo."""
    await chat.send("Cô Lan mở lớp học miễn phí vào chiều thứ Bảy.")
    await chat.press("Xong phần bài viết")
    await chat.photo(jpeg(1))
    await chat.replies()
    await chat.press("Xong phần ảnh")
    return text_of(chat.last)


async def test_edit_fields_from_the_preview(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(301, "Hoa"))
    await register(chat)
    await fill_until_story(chat)
    preview = await to_preview(chat)
    assert "Xem lại bài viết" in preview

    text = await chat.press("Sửa")
    assert "sửa mục nào" in text
    text = await chat.press("Tiêu đề bài viết")
    assert "Hiện tại: Cô giáo của những buổi chiều thứ Bảy" in text
    text = await chat.send("Người thắp lửa những chiều thứ Bảy")
    assert "Xem lại bài viết" in text and "Người thắp lửa những chiều thứ Bảy" in text

    # Editing the story: the first message replaces the old text; "keep" would restore it.
    await chat.press("Sửa")
    await chat.press("Nội dung bài viết")
    text = await chat.send("Bài viết mới hoàn toàn.")
    assert "thay cho nội dung trước" in text and "5 / 2.000 từ" in text
    text = await chat.press("Giữ nguyên như cũ")
    assert "Xem lại bài viết" in text and "(11 / 2.000 từ)" in text

    # Focus area "other" asks for a short text.
    await chat.press("Sửa")
    await chat.press("Lĩnh vực")
    text = await chat.press("Lĩnh vực khác")
    assert "ghi ngắn gọn tên lĩnh vực" in text
    text = await chat.send("Giúp đỡ người khuyết tật")
    assert "Lĩnh vực: Giúp đỡ người khuyết tật" in text

    text = await chat.press("Gửi bài")
    assert "GS-2024-0001" in text
    async with app.db.transaction() as session:
        story = await session.scalar(select(Submission))
        assert story is not None
        assert story.values["title"] == "Người thắp lửa những chiều thứ Bảy"
        assert story.values["story"] == "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy."
        assert story.values["focus_area"] == "Giúp đỡ người khuyết tật"


async def test_discard_asks_first_and_later_keeps_the_draft(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(302, "Hoa"))
    await register(chat)
    await fill_until_story(chat)
    await to_preview(chat)
    text = await chat.press("Hủy bài")
    assert "Hủy bài «Cô giáo của những buổi chiều thứ Bảy»?" in text
    text = await chat.press("Không, quay lại")
    assert "Xem lại bài viết" in text
    text = await chat.press("Để sau")
    assert "Đã lưu nháp" in text
    text = await chat.send("/continue")
    assert "Xem lại bài viết" in text, "a complete draft reopens at its preview"
    await chat.press("Hủy bài")
    text = await chat.press("Có, hủy bài này")
    assert "Đã hủy bài" in text
    async with app.db.transaction() as session:
        story = await session.scalar(select(Submission))
        assert story is not None and story.status == "discarded" and story.code is None
        actions = [e.action for e in await session.scalars(select(Event).order_by(Event.id))]
        assert actions[-1] == "discarded"


async def test_photo_maximum_moves_on_by_itself(
    settings: Settings, clock: Clock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    config = tmp_path / "two-photos.toml"
    config.write_text(
        (FIXTURES / "campaigns.toml")
        .read_text(encoding="utf-8")
        .replace("max_photos = 10", "max_photos = 2"),
        encoding="utf-8",
    )
    app = await start_app(settings.model_copy(update={"config": config}), clock)
    channel = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = app.settled  # answers are read until the app settles
    try:
        chat = Chat(telegram.user(303, "Hoa"))
        await register(chat)
        await fill_until_story(chat)
        await chat.send("Một đoạn.")
        await chat.press("Xong phần bài viết")
        for seed in (1, 2, 3):
            await chat.photo(jpeg(seed), media_group_id="album")
        text = text_of(await chat.replies())
        assert "Đã đủ 2 ảnh tối đa" in text and "Xem lại bài viết" in text
    finally:
        await channel.stop()
        await app.close()


@pytest.fixture
async def two_campaign_app(
    settings: Settings, clock: Clock, tmp_path: Path
) -> AsyncIterator[GuongSang]:
    """The letter-001 contest and a union campaign, both open."""
    config = tmp_path / "two.toml"
    config.write_text(
        (FIXTURES / "campaigns.toml").read_text(encoding="utf-8")
        + """
[[campaigns]]
slug = "cong-doan-lai-chau-2024"
title = "Phát hiện mô hình mới, người tốt việc tốt — Công đoàn Viên chức tỉnh Lai Châu"
organisation = "Công đoàn Viên chức tỉnh Lai Châu"
opens = 2024-01-01
closes = 2024-12-31
max_words = 1500
focus_areas = ["Sáng kiến trong công tác"]
""",
        encoding="utf-8",
    )
    app = await start_app(settings.model_copy(update={"config": config}), clock)
    yield app
    await app.close()


async def test_choosing_among_open_campaigns(
    two_campaign_app: GuongSang, telegram: FakeTelegram, clock: Clock
) -> None:
    channel = TelegramChannel(two_campaign_app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = two_campaign_app.settled  # answers are read until the app settles
    try:
        chat = Chat(telegram.user(304, "Hoa"))
        await register(chat)
        text = await chat.send("/new")
        assert "Có 2 đợt thi đua đang nhận bài" in text
        text = await chat.press("Công đoàn Viên chức tỉnh Lai Châu")
        assert "tối đa 1.500 từ" in text and "Bước 1" in text
        await chat.send("Lò Văn Pằng")
        await chat.send("Bệnh viện Đa khoa tỉnh Lai Châu")
        text = await chat.press("Sáng kiến trong công tác")
        assert "Bước 4" in text
        # The contest of letter 001 has closed by May 2024: only the union campaign is open.
        await chat.send("/cancel")
        clock.moment = clock.moment.replace(month=5)
        text = await chat.send("/new")
        text = await chat.press("Giữ nháp, viết bài mới") if "viết dở" in text else text
        assert "Lai Châu" in text and "Bước 1" in text
    finally:
        await channel.stop()


async def test_profile_changes_are_saved_and_logged(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(305, "Hoa"))
    await register(chat)
    text = await chat.send("👤 Hồ sơ")
    assert "Hồ sơ của bạn" in text and "0912345678" in text
    await chat.press("Đơn vị công tác")
    text = await chat.send("kim giang")
    assert "Trường Tiểu học Kim Giang" in chat.with_buttons().buttons()
    text = await chat.press("Trường Tiểu học Kim Giang")
    assert "Đã cập nhật hồ sơ" in text and "Trường Tiểu học Kim Giang" in text
    await chat.press("Số điện thoại")
    text = await chat.send("+84 (0) 98 765 432")
    assert "không phải số di động" in text
    text = await chat.send("+84 (0) 98 765 4321")
    assert "0987654321" in text
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None and person.phone == "0987654321"
        assert person.unit is not None and person.unit.name == "Trường Tiểu học Kim Giang"
        log = [
            (e.action, e.data.get("changed"))
            for e in await session.scalars(select(Event).where(Event.subject == "person"))
        ]
        assert log == [
            ("registered", ["full_name", "phone", "unit"]),
            ("profile_changed", ["unit"]),
            ("profile_changed", ["phone"]),
        ]


async def test_bot_publishes_its_command_menu(telegram: FakeTelegram, channel: object) -> None:
    calls = telegram.calls_to("setMyCommands")
    assert calls, "commands are published at start"
    commands = {c["command"]: c["description"] for c in calls[-1].params["commands"]}
    assert set(commands) == {
        "new",
        "continue",
        "mine",
        "profile",
        "pending",
        "report",
        "subscribe",
        "thidua",
        "guongthang",
        "dsguongthang",
        "dangweb",
        "gobai",
        "diachiweb",
        "baocao",
        "cancel",
        "help",
    }
    assert commands["new"] == "Viết bài mới"


async def test_names_typed_in_lower_case_are_capitalised(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(303, "Hoa"))
    await register(chat, name="nguyễn thị hoa")
    assert "Cảm ơn Nguyễn Thị Hoa!" in text_of(chat.user.messages())
    await chat.send("/new")
    assert "Bước 2" in await chat.send("đặng văn đức")
    await chat.send("/cancel")
    async with app.db.transaction() as session:
        draft = await session.scalar(select(Submission))
        assert draft is not None and draft.values["exemplar_name"] == "Đặng Văn Đức"
        person = await session.scalar(select(Person))
        assert person is not None and person.full_name == "Nguyễn Thị Hoa"


async def test_a_number_typed_at_the_unit_list_says_what_to_do(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(304, "Hoa"))
    await chat.send("/start")
    await chat.send("Nguyễn Thị Hoa")
    await chat.send("kim giang")
    # On Telegram the list is buttons: a typed number is pointed to them.
    assert "bấm chọn một đơn vị trong danh sách" in await chat.send("1")


async def test_the_offer_to_subscribe_can_be_declined(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(305, "Hoa"))
    await register(chat)
    messages = chat.user.messages()
    offer = next(m for m in reversed(messages) if "muốn nhận tin" in (m.plain_text or ""))
    assert offer.buttons() == ["🔔 Nhận tin gương sáng mới", "Không, cảm ơn"]
    assert "gõ /subscribe" in await chat.press("Không, cảm ơn")
    async with app.db.transaction() as session:
        assert await session.scalar(select(AudienceMember)) is None


async def test_editing_the_story_holds_the_rest_of_a_refused_paste(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(306, "Hoa"))
    await register(chat)
    await fill_until_story(chat)
    await to_preview(chat)
    await chat.press("Sửa")
    await chat.press("Nội dung bài viết")
    # The new text comes as parts; the first is over the limit, the next must not be added
    # to the old story.
    assert "Chưa nhận nội dung mới" in await chat.send("từ " * 2001)
    assert "Chưa nhận phần này" in await chat.send("Phần sau của bài mới.")
    async with app.db.transaction() as session:
        draft = await session.scalar(select(Submission))
        assert draft is not None
        assert draft.values["story"] == "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy."
