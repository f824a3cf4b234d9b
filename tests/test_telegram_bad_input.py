"""Every bad input gets a clear Vietnamese answer and leaves the draft exactly as it was."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from handlers.flood import FloodGuard
from handlers.text_rules import count_words
from storage.models import Person, Submission
from tests.apps import Clock
from tests.drivers import Chat, answer_until_story, fill_until_story, jpeg, register, text_of
from tests.fakes.telegram_server import FakeTelegram


async def draft_state(app: GuongSang) -> tuple[dict[str, Any], int]:
    """The only draft's values and photo count."""
    async with app.db.transaction() as session:
        drafts = list(await session.scalars(select(Submission).where(Submission.status == "draft")))
        assert len(drafts) == 1
        photos = sum(1 for a in drafts[0].attachments if a.kind == "photo")
        return dict(drafts[0].values), photos


@pytest.fixture
async def chat(app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel) -> Chat:
    """A registered teacher, at the story step of a new draft."""
    person = Chat(telegram.user(201, "Hoa"))
    await register(person)
    await fill_until_story(person)
    return person


async def test_unsupported_messages_at_every_kind_of_step(app: GuongSang, chat: Chat) -> None:
    before = await draft_state(app)
    await chat.user.send_sticker()
    text = text_of(await chat.replies())
    assert "nhãn dán (sticker)" in text and "nội dung bài viết" in text
    assert "vẫn được giữ nguyên" in text
    await chat.user.send_voice()
    assert "tin nhắn thoại" in text_of(await chat.replies())
    await chat.user.send_location(21.0, 105.8)
    assert "vị trí" in text_of(await chat.replies())
    # A photo where the story text is wanted.
    await chat.photo(jpeg(9))
    assert "Bước này cần nội dung bài viết" in text_of(await chat.replies())
    assert await draft_state(app) == before

    await chat.send("Cô Lan dạy học miễn phí cho học sinh khó khăn.")
    await chat.press("Xong phần bài viết")
    # Text where a photo is wanted, then a sticker there too.
    text = await chat.send("đây là ảnh")
    assert "tin nhắn chữ" in text and "ảnh hoạt động" in text
    await chat.user.send_sticker()
    assert "nhãn dán" in text_of(await chat.replies())
    values, photos = await draft_state(app)
    assert photos == 0 and values["story"] == "Cô Lan dạy học miễn phí cho học sinh khó khăn."


async def test_names_too_long_or_without_letters(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(202, "Nam"))
    await chat.send("/start")
    text = await chat.send("A" * 500)
    assert "500 ký tự" in text and "100 ký tự" in text
    text = await chat.send("😀 😀 !!")
    assert "quá ngắn hoặc không có chữ" in text
    text = await chat.send("Lê Văn Nam")
    assert "đơn vị" in text
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None and person.full_name is None  # saved only when complete
    assert "Đã chọn đơn vị" in await chat.send("thcs le quy don")
    # A sticker and then a wrong number where the phone is wanted: asked again each time.
    await chat.user.send_sticker()
    text = text_of(await chat.replies())
    assert "số điện thoại" in text
    text = await chat.send("0123")
    assert "không phải số di động Việt Nam" in text
    await chat.user.send_contact("+84 987 654 321", user_id=7777)
    assert "số của người khác" in text_of(await chat.replies())
    text = await chat.send("098.765.4321")
    assert "Đã lưu thông tin" in text
    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        assert (person.full_name, person.phone) == ("Lê Văn Nam", "0987654321")


async def test_exemplar_name_of_500_characters(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    chat = Chat(telegram.user(203, "Hoa"))
    await register(chat)
    await chat.send("/new")
    text = await chat.send("Nguyễn " * 80)
    assert "vượt giới hạn 100 ký tự" in text and "Bước 1" in text
    values, _ = await draft_state(app)
    assert "exemplar_name" not in values


async def test_story_over_limit_says_by_how_much(app: GuongSang, chat: Chat, clock: Clock) -> None:
    text = await chat.send(" ".join(["từ"] * 2001))
    assert "vượt 1 từ" in text and "2.001 từ" in text
    values, _ = await draft_state(app)
    assert not values.get("story")

    clock.moment += timedelta(minutes=1)  # the teacher reads, shortens, sends again
    await chat.send(" ".join(["học"] * 1990))
    text = await chat.send(" ".join(["sinh"] * 20))
    assert "vượt 10 từ" in text and "1.990 từ" in text
    values, _ = await draft_state(app)
    assert count_words(values["story"]) == 1990
    # Exactly at the limit is accepted.
    clock.moment += timedelta(minutes=1)
    text = await chat.send(" ".join(["em"] * 10))
    assert "2.000 / 2.000 từ" in text


async def test_decomposed_unicode_and_non_breaking_spaces(
    app: GuongSang, chat: Chat, sample_story: str
) -> None:
    nfd = unicodedata.normalize("NFD", sample_story)
    assert nfd != sample_story
    text = await chat.send(nfd)
    assert "370 / 2.000 từ" in text
    text = await chat.send("gia\u00a0đình\u202fhạnh\u00a0phúc")
    assert "374 / 2.000 từ" in text
    values, _ = await draft_state(app)
    assert unicodedata.is_normalized("NFC", values["story"])
    assert values["story"].startswith("Cô giáo của những buổi chiều thứ Bảy")


async def test_pdf_and_oversized_files(app: GuongSang, telegram: FakeTelegram, chat: Chat) -> None:
    await chat.user.send_document(
        b"%PDF-1.4 fake", file_name="bai.pdf", mime_type="application/pdf"
    )
    text = text_of(await chat.replies())
    assert "«bai.pdf»" in text and ".docx" in text
    files_before = len(telegram.calls_to("getFile"))
    await chat.user.send_document(
        b"\0" * (30 * 1024 * 1024),
        file_name="bai-lon.docx",
        mime_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    text = text_of(await chat.replies())
    assert "Tệp quá lớn (30,0 MB)" in text and "20,0 MB" in text
    assert len(telegram.calls_to("getFile")) == files_before, "refused before downloading"
    # A broken .docx is reported, not a crash.
    await chat.user.send_document(
        b"PK\x03\x04 not really a docx", file_name="hong.docx", mime_type="application/octet-stream"
    )
    assert "bị lỗi hoặc không có chữ" in text_of(await chat.replies())
    values, _ = await draft_state(app)
    assert not values.get("story")

    await chat.send("Cô Lan dạy học miễn phí.")
    await chat.press("Xong phần bài viết")
    await chat.user.send_document(b"%PDF-1.4", file_name="anh.pdf", mime_type="application/pdf")
    assert "không phải ảnh" in text_of(await chat.replies())
    await chat.user.send_document(
        b"not an image at all", file_name="anh.jpg", mime_type="image/jpeg"
    )
    assert "không phải ảnh" in text_of(await chat.replies())
    # An image sent as a file is taken like a photo.
    await chat.user.send_document(jpeg(4), file_name="hoat-dong.jpg", mime_type="image/jpeg")
    assert "1 / 10" in text_of(await chat.replies())
    _, photos = await draft_state(app)
    assert photos == 1


async def test_button_from_an_old_message_and_forged_data(
    app: GuongSang, telegram: FakeTelegram, chat: Chat
) -> None:
    await chat.send("Phần một của bài viết.")
    first = chat.with_buttons()
    await chat.send("Phần hai của bài viết.")
    answers_before = len(telegram.calls_to("answerCallbackQuery"))
    text = await chat.press("Xong phần bài viết", message=first)
    answer = telegram.calls_to("answerCallbackQuery")[answers_before]
    assert "tin nhắn cũ" in answer.params.get("text", "")
    assert "Bước 5" in text, "the current step is shown again"
    values, _ = await draft_state(app)
    assert values["story"] == "Phần một của bài viết.\n\nPhần hai của bài viết."

    await chat.user.press_data(first.message_id, "12345|done")
    await chat.replies()
    await chat.user.press_data(first.message_id, "garbage-without-number")
    await chat.replies()
    texts = [c.params.get("text", "") for c in telegram.calls_to("answerCallbackQuery")]
    assert sum("tin nhắn cũ" in t for t in texts) == 3
    assert await draft_state(app) == (values, 0)
    # The current buttons still work.
    assert "Bước 6" in await chat.press("Xong phần bài viết")


async def test_second_new_in_the_middle_of_a_draft(app: GuongSang, chat: Chat) -> None:
    await chat.send("Nội dung bài thứ nhất.")
    text = await chat.send("/new")
    assert "viết dở bài «Cô giáo của những buổi chiều thứ Bảy»" in text
    text = await chat.press("Viết tiếp bài nháp")
    assert "Bước 5" in text and "5 / 2.000 từ" in text

    await chat.send("/new")
    text = await chat.press("Giữ nháp, viết bài mới")
    assert "Đã lưu nháp" in text and "Bước 1" in text
    async with app.db.transaction() as session:
        drafts = list(await session.scalars(select(Submission).where(Submission.status == "draft")))
        assert len(drafts) == 2
        assert drafts[0].values["story"] == "Nội dung bài thứ nhất."
    text = await chat.send("/continue")
    assert "2 bài nháp" in text

    await chat.press("Cô giáo của những buổi chiều thứ Bảy")
    await chat.send("/new")
    text = await chat.press("Hủy nháp, viết bài mới")
    assert "Bước 1" in text
    async with app.db.transaction() as session:
        statuses = sorted(s.status for s in await session.scalars(select(Submission)))
        assert statuses == ["discarded", "draft", "draft"]


async def test_cancel_help_and_commands_keep_the_draft(app: GuongSang, chat: Chat) -> None:
    await chat.send("Một đoạn bài viết.")
    text = await chat.send("/help")
    assert "Cách đếm từ" in text and "Bước 5" in text, "help, then the current step again"
    text = await chat.send("/cancel")
    assert "vẫn được lưu" in text
    text = await chat.send("xin chào")
    assert "chưa hiểu" in text
    text = await chat.send("📝 Viết tiếp bài nháp")
    assert "Tiếp tục bài" in text and "Bước 5" in text and "4 / 2.000 từ" in text
    values, _ = await draft_state(app)
    assert values["story"] == "Một đoạn bài viết."


async def test_restart_in_the_middle_of_the_form_resumes_exactly(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel, clock: object
) -> None:
    from tests.apps import start_app

    chat = Chat(telegram.user(204, "Hoa"))
    await register(chat)
    await chat.send("/new")
    await chat.send("Nguyễn Thị Lan")
    await channel.stop()
    await app.close()

    revived = await start_app(app.settings, clock, with_units=False)  # type: ignore[arg-type]
    second = TelegramChannel(revived, telegram.token, telegram.api_root, poll_timeout=1)
    await second.start()
    telegram.settled = revived.settled  # answers are read until the app settles
    try:
        text = await chat.send("Phường Kim Giang, quận Thanh Xuân")
        assert "Bước 3" in text, text
        await chat.press("Chuyển đổi số")
        values, _ = await draft_state(revived)
        assert values["exemplar_name"] == "Nguyễn Thị Lan"
        assert values["focus_area"] == "Chuyển đổi số trong lĩnh vực giáo dục"
    finally:
        await second.stop()
        await revived.close()


async def test_same_update_delivered_twice_is_handled_once(app: GuongSang, chat: Chat) -> None:
    from handlers.types import Event

    event = Event(
        channel="telegram",
        chat_id="201",
        user_id="201",
        kind="text",
        text="Đoạn văn gửi hai lần.",
        update_key="777001",
    )
    first = await app.handle(event)
    assert first.replies
    again = Event(
        channel="telegram",
        chat_id="201",
        user_id="201",
        kind="text",
        text="Đoạn văn gửi hai lần.",
        update_key="777001",
    )
    second = await app.handle(again)
    assert second.replies == []
    values, _ = await draft_state(app)
    assert values["story"] == "Đoạn văn gửi hai lần."


async def test_button_labels_and_press_answers_are_plain_text(
    app: GuongSang, chat: Chat, telegram: FakeTelegram
) -> None:
    # A second draft whose title has what HTML escapes: the list of drafts shows it as typed.
    await chat.send("/new")
    await chat.press("Giữ nháp, viết bài mới")
    await answer_until_story(chat, 'Lớp 5A & cô "Lan" <giỏi>')
    await chat.send("/continue")
    labels = telegram.sent(201)[-1].buttons()
    assert any('Lớp 5A & cô "Lan" <giỏi>' in label for label in labels), labels
    assert not any("&amp;" in label or "&#34;" in label or "&lt;" in label for label in labels)

    # The answer to a press is shown as it is too: the flood notice's emphasis is dropped.
    now = [0.0]
    app.services.flood = FloodGuard(rate=0.001, burst=1, clock=lambda: now[0])
    await chat.send("xin chào")  # takes the one message allowed
    await chat.user.press_data(telegram.sent(201)[-1].message_id, "anything")
    await chat.replies()
    answers = [c.params.get("text", "") for c in telegram.calls_to("answerCallbackQuery")]
    assert "chưa được nhận" in answers[-1] and "<b>" not in answers[-1]


async def test_wiping_the_story_or_the_photos_asks_first(app: GuongSang, chat: Chat) -> None:
    await chat.send("Cô Lan mở lớp học miễn phí vào chiều thứ Bảy.")
    text = await chat.press("Viết lại từ đầu")
    assert "Xóa toàn bộ 11 từ đã viết" in text
    assert "Đã giữ nguyên 11 từ" in await chat.press("Không, giữ bài")
    story = (await draft_state(app))[0]
    assert story["story"] == "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy."
    await chat.press("Viết lại từ đầu")
    assert "Đã xóa nội dung" in await chat.press("Có, xóa để viết lại")
    assert (await draft_state(app))[0]["story"] == ""


async def test_a_part_after_one_refused_is_held_so_the_story_has_no_gap(
    app: GuongSang, chat: Chat, clock: Clock
) -> None:
    await chat.send("Phần một của bài.")
    # A long paste arrives as parts seconds apart; the second is over the limit.
    assert "Chưa nhận phần vừa gửi" in await chat.send("từ " * 2001)
    text = await chat.send("Phần ba của bài.")
    assert "Chưa nhận phần này (4 từ)" in text and "vẫn có 4 từ" in text
    assert (await draft_state(app))[0]["story"] == "Phần một của bài."
    # Later, the shortened part sent again is taken as usual.
    clock.moment += timedelta(minutes=2)
    assert "8 / 2.000 từ" in await chat.send("Phần hai, rút gọn.")
