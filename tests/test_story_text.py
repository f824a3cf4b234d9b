"""The story's text as it comes in parts: limits by characters and by the longest run, what a
wipe clears, parts that continue a sentence, a part sent twice, and bounded previews and cards.

Driven through the real application (`app.handle`) on a real database, as the console and Zalo
channels hand it their events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.render import split_text as telegram_pieces
from bot.channels.zalo.render import split_text as zalo_pieces
from handlers import review
from handlers.types import Event, Response
from storage.models import Submission
from tests.apps import Clock
from tests.drivers import TO_STORY_STEP, invite_code, jpeg, typed, typed_photo

SCHOOL = "Trường THCS Lê Quý Đôn"


def said(response: Response) -> str:
    """Everything one answer says, as one text."""
    return "\n".join(r.text for r in response.replies)


async def story_of(app: GuongSang, chat: str) -> str:
    async with app.db.transaction() as session:
        draft = await session.scalar(select(Submission).where(Submission.chat_id == chat))
        assert draft is not None
        return str(draft.values.get("story") or "")


def on_zalo(event: Event) -> Event:
    """The same event as the Zalo channel hands it in (bot/channels/zalo/convert.py)."""
    event.channel = "zalo"
    event.has_buttons = event.has_menu = event.takes_documents = False
    event.message_chars = 2000
    return event


async def say(app: GuongSang, chat: str, text: str, zalo: bool = False) -> str:
    """Type `text` in `chat` (the console, or Zalo) and return the bot's answer."""
    event = typed(chat, text)
    return said(await app.handle(on_zalo(event) if zalo else event))


async def at_story_step(app: GuongSang, chat: str, zalo: bool = False) -> str:
    """Register `chat` and fill the form up to the story; returns the story step's prompt."""
    text = ""
    for line in TO_STORY_STEP:
        text = await say(app, chat, line, zalo)
    return text


async def test_a_story_is_bounded_by_characters_and_by_its_longest_run(
    app: GuongSang, clock: Clock
) -> None:
    prompt = await at_story_step(app, "chars")
    assert "tối đa 12.000 ký tự" in prompt, prompt
    assert "12.000 ký tự" in await say(app, "chars", "/help")
    await say(app, "chars", "Cô Lan dạy học miễn phí.")
    # 100,000 characters without a space count as one word: the characters refuse it.
    text = await say(app, "chars", "a" * 100_000)
    assert "Chưa nhận phần vừa gửi" in text and "giới hạn 12.000 ký tự" in text, text
    assert await story_of(app, "chars") == "Cô Lan dạy học miễn phí."
    # 1,700 words of seven letters: under 2,000 words, over 12,000 characters.
    clock.moment += timedelta(minutes=1)
    text = await say(app, "chars", "Sau đó. " + " ".join(["nghiêng"] * 1_700))
    assert "13.633 ký tự" in text and "vượt 1.633 ký tự" in text, text
    # A run of 150 characters is no word; a link of 200 is taken.
    clock.moment += timedelta(minutes=1)
    text = await say(app, "chars", "Xem thêm: " + "x" * 150)
    assert "150 ký tự liền nhau" in text and "«xxxx" in text, text
    clock.moment += timedelta(minutes=1)
    link = "https://www.facebook.com/groups/thcslequydon/permalink/" + "1" * 145
    assert "/ 2.000 từ" in await say(app, "chars", f"Xem thêm: {link}")
    assert await story_of(app, "chars") == f"Cô Lan dạy học miễn phí.\n\nXem thêm: {link}"


async def test_a_wipe_clears_the_hold_of_a_refused_part(app: GuongSang) -> None:
    await at_story_step(app, "wipe")
    await say(app, "wipe", "Cô Lan dạy học miễn phí.")
    assert "Chưa nhận phần vừa gửi" in await say(app, "wipe", "từ " * 2_000)
    # Within the hold (the clock has not moved): wipe, confirm, paste a fresh story.
    assert "Xóa toàn bộ 6 từ" in await say(app, "wipe", "2")  # 🗑 Viết lại từ đầu
    assert "Đã xóa nội dung" in await say(app, "wipe", "1")  # Có, xóa để viết lại
    text = await say(app, "wipe", "Cô Lan mở lớp học cho các em nhỏ.")
    assert "9 / 2.000 từ" in text and "Chưa nhận" not in text, text
    assert await story_of(app, "wipe") == "Cô Lan mở lớp học cho các em nhỏ."


async def test_a_part_sent_again_is_not_stored_twice(app: GuongSang, clock: Clock) -> None:
    await at_story_step(app, "twice")
    part = "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy."
    assert "11 / 2.000 từ" in await say(app, "twice", part)
    # The same part again, even re-typed with other spaces: recognised, not appended.
    clock.moment += timedelta(minutes=3)
    text = await say(app, "twice", part.replace(" ", "  ") + " ")
    assert "đã nhận phần này rồi" in text and "11 / 2.000 từ" in text, text
    assert await story_of(app, "twice") == part
    # Another part, then the first again: not the part just stored, so it is a new paragraph.
    await say(app, "twice", "Các em rất quý cô.")
    assert "27 / 2.000 từ" in await say(app, "twice", part)
    # After a wipe the same text is a fresh start, taken.
    await say(app, "twice", "2")
    await say(app, "twice", "1")
    assert "11 / 2.000 từ" in await say(app, "twice", part)


async def test_on_zalo_a_part_cut_mid_sentence_is_joined(app: GuongSang) -> None:
    prompt = await at_story_step(app, "zalo-1", zalo=True)
    assert "tối đa 2.000 ký tự" in prompt and "nối liền" in prompt, prompt
    assert "2.000 ký tự (khoảng 400 từ)" not in await at_story_step(app, "console-1")
    await say(app, "zalo-1", "Mỗi chiều thứ Bảy, cô Lan mở lớp học miễn phí cho", zalo=True)
    text = await say(app, "zalo-1", "các em học sinh khó khăn trong phường.", zalo=True)
    assert "nối tiếp câu" in text and "20 / 2.000 từ" in text, text
    await say(app, "zalo-1", "Các em tiến bộ rõ rệt", zalo=True)
    # A new paragraph, a list item and a heading are not sentences carried on.
    await say(app, "zalo-1", "- Em Minh đạt giải Nhì.", zalo=True)
    await say(app, "zalo-1", "Kết quả", zalo=True)
    text = await say(app, "zalo-1", "Cả lớp đều lên lớp.", zalo=True)
    assert "38 / 2.000 từ" in text and "nối tiếp" not in text, text
    assert await story_of(app, "zalo-1") == (
        "Mỗi chiều thứ Bảy, cô Lan mở lớp học miễn phí cho các em học sinh khó khăn trong "
        "phường.\n\nCác em tiến bộ rõ rệt\n\n- Em Minh đạt giải Nhì.\n\nKết quả\n\n"
        "Cả lớp đều lên lớp."
    )


async def test_preview_card_and_full_text_stay_a_few_messages_whatever_was_stored(
    app: GuongSang,
) -> None:
    await at_story_step(app, "huge")
    await say(app, "huge", "Cô Lan dạy học miễn phí.")
    await say(app, "huge", "1")  # ✅ Xong phần bài viết
    await app.handle(typed_photo("huge", jpeg(1)))
    # Stored before there were limits, or some other way in: 100,000 characters without a
    # space, then 900 KB of words.
    async with app.db.transaction() as session:
        draft = await session.scalar(select(Submission).where(Submission.chat_id == "huge"))
        assert draft is not None
        draft.values = {**draft.values, "story": "a" * 100_000 + "\n\n" + "Cô Lan dạy. " * 75_000}
    preview = await say(app, "huge", "1")  # ✅ Xong phần ảnh: the preview
    assert "Xem lại" in preview and len(telegram_pieces(preview)) == 1, len(preview)
    await say(app, "huge", "1")  # 📨 Gửi bài
    async with app.db.transaction() as session:
        draft = await session.scalar(select(Submission).where(Submission.chat_id == "huge"))
        assert draft is not None and draft.code
        card = await review.card(session, app.services, draft, review.UNIT)
        limit = review.campaign_of(app.services, draft).max_chars
    assert len(telegram_pieces(card.text)) == 1 and len(zalo_pieces(card.text)) == 1
    # The full text (📄) is cut at the story's character limit and says where the rest is.
    await say(app, "head", f"/join {await invite_code(app, 'unit_head', SCHOOL)}")
    press = typed("head", "")
    press.kind, press.button = "button", review.Press(review.UNIT, "tx", draft.id, 1).data()
    text = said(await app.handle(press))
    assert draft.code in text and "export docx" in text and len(text) < limit + 600, len(text)
    assert len(telegram_pieces(text)) <= 4 and len(zalo_pieces(text)) <= 8
