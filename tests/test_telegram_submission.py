"""A teacher submits a story on Telegram, end to end, through the fake Bot API server."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from bot.app import GuongSang
from storage.models import Event, Person, Submission
from tests.drivers import Chat, fill_until_story, jpeg, register, text_of
from tests.fakes.telegram_server import FakeTelegram


async def test_teacher_submits_story_with_album(
    app: GuongSang, telegram: FakeTelegram, channel: object, sample_story: str
) -> None:
    chat = Chat(telegram.user(101, "Hoa"))
    await register(chat)
    assert chat.user.reply_keyboard() is not None
    assert "✍️ Viết bài mới" in chat.user.reply_keyboard()

    prompt = await fill_until_story(chat)
    assert "Bước 5" in prompt and "2.000 từ" in prompt

    paragraphs = [p for p in sample_story.split("\n\n") if p.strip()]
    for paragraph in paragraphs[:-1]:
        await chat.send(paragraph)
    text = await chat.send(paragraphs[-1])
    assert "370 / 2.000 từ" in text, text

    text = await chat.press("Xong phần bài viết")
    assert "Bước 6" in text
    for seed in (1, 2, 3):
        await chat.photo(jpeg(seed), media_group_id="album-1")
    album_answer = text_of(await chat.replies())
    assert "3 / 10" in album_answer, album_answer
    assert len(chat.last) == 1, "an album gets one answer"

    await chat.photo(jpeg(2))
    text = text_of(await chat.replies())
    assert "trùng" in text and "3 / 10" in text

    await chat.press("Xong phần ảnh")
    preview = chat.last
    assert any(m.kind == "photo" for m in preview) or telegram.calls_to("sendMediaGroup")
    preview_text = text_of(preview)
    for expected in (
        "Nguyễn Thị Lan",
        "Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội",
        "An toàn trường học",
        "Cô giáo của những buổi chiều thứ Bảy",
        "370 / 2.000 từ",
        "3 ảnh",
    ):
        assert expected in preview_text, expected

    text = await chat.press("Gửi bài")
    assert "GS-2024-0001" in text, text
    assert "Hiệu trưởng" in text

    async with app.db.transaction() as session:
        person = await session.scalar(select(Person))
        assert person is not None
        assert (person.full_name, person.phone) == ("Nguyễn Thị Hoa", "0912345678")
        assert person.unit is not None and person.unit.name == "Trường THCS Lê Quý Đôn"
        story = await session.scalar(select(Submission))
        assert story is not None
        assert story.code == "GS-2024-0001" and story.status == "submitted"
        assert story.word_count == 370
        assert story.values["_author"]["phone"] == "0912345678"
        assert story.values["focus_area"] == "An toàn trường học"
        photos = [a for a in story.attachments if a.kind == "photo"]
        assert len(photos) == 3
        for photo, seed in zip(photos, (1, 2, 3), strict=True):
            stored = app.settings.media_dir / photo.stored_path
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == photo.sha256
            assert stored.read_bytes() == jpeg(seed)
        log = list(await session.scalars(select(Event).where(Event.subject == "submission")))
        assert [(e.action, e.from_status, e.to_status) for e in log] == [
            ("created", None, "draft"),
            ("submitted", "draft", "submitted"),
        ]
        assert all(e.actor_id == person.id and e.channel == "telegram" for e in log)

    text = await chat.send("📂 Bài của tôi")
    assert "GS-2024-0001" in text and "chờ Hiệu trưởng" in text


async def test_story_from_docx_and_txt(
    app: GuongSang, telegram: FakeTelegram, channel: object, sample_story: str, tmp_path: object
) -> None:
    import io

    from docx import Document
    from docx.enum.text import WD_BREAK

    chat = Chat(telegram.user(102, "Minh"))
    await register(chat, name="Trần Văn Minh")
    await fill_until_story(chat)

    document = Document()
    for paragraph in sample_story.split("\n\n"):
        document.add_paragraph(paragraph.strip())
    # A page break between two words keeps them two words (python-docx alone glues them).
    run = document.add_paragraph().add_run("Cô Lan")
    run.add_break(WD_BREAK.PAGE)
    run.add_text("dạy học")
    buffer = io.BytesIO()
    document.save(buffer)
    await chat.user.send_document(
        buffer.getvalue(),
        file_name="bai-viet.docx",
        mime_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    text = text_of(await chat.replies())
    # The file's first line is the title given at step 4: it is not the story's first line.
    assert "Đã đọc nội dung từ tệp" in text and "366 / 2.000 từ" in text, text
    assert "trùng với tiêu đề" in text, text

    # A .txt replaces the whole story rather than being appended, after asking: the words
    # sent before would be lost.
    await chat.user.send_document(
        "Cô Lan dạy học miễn phí.".encode(), file_name="ngan.txt", mime_type="text/plain"
    )
    text = text_of(await chat.replies())
    assert "thay toàn bộ" in text and "366 từ" in text and "«ngan.txt» (6 từ)" in text, text
    assert "Đã giữ nguyên 366 từ" in await chat.press("Không, giữ bài đang viết")
    async with app.db.transaction() as session:
        story = await session.scalar(select(Submission))
        assert story is not None and story.word_count == 366
    await chat.user.send_document(
        "Cô Lan dạy học miễn phí.".encode(), file_name="ngan.txt", mime_type="text/plain"
    )
    await chat.replies()
    text = await chat.press("Thay bằng nội dung tệp")
    assert "6 / 2.000 từ" in text and "thay cho nội dung trước" in text, text

    async with app.db.transaction() as session:
        story = await session.scalar(select(Submission))
        assert story is not None
        assert story.values["story"] == "Cô Lan dạy học miễn phí." and story.word_count == 6
