"""The whole journey over Zalo: registration, a 1,900-word story in six messages (or a
2,000-word one written in the web editor from the link step 5 offers), photos, the principal
confirming on Zalo, a reviewer approving on Telegram, the author told on Zalo, the story
honoured and spread to a subscriber.

Real parts throughout: the application, the Zalo channel polling a fake Zalo Bot API on
127.0.0.1, the Telegram channel polling a fake Bot API, and the web app on uvicorn serving the
signed photo URLs the fake Zalo fetches, as Zalo's servers would.
"""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from handlers.text_rules import count_words
from storage import units
from storage.models import Attachment, Submission
from tests.drivers import Chat, introduce, invite_code, join, jpeg
from tests.drivers import text_of as telegram_text
from tests.factories import add_audience, honour_and_send
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo
from tests.zalo_drivers import ZaloChat, register_on_zalo

SCHOOL = "Trường THCS Lê Quý Đôn"
SENTENCE = (
    "Cô Lan đã dành trọn những buổi chiều thứ Bảy để kèm cặp các em học sinh có hoàn cảnh "
    "khó khăn, không nhận một đồng thù lao nào."
)

SHORT = "Các em rất quý cô."


def story_parts(parts: int = 6, words: int = 1900) -> list[str]:
    """`parts` messages of a story, together about `words` words."""
    out = []
    for n in range(parts):
        message = f"Đoạn {n + 1}."
        for sentence in (SENTENCE, SHORT):
            while count_words(message) + count_words(sentence) <= words // parts:
                message += " " + sentence
        out.append(message)
    return out


def web_story(words: int = 2000) -> str:
    """A story of exactly `words` words, in paragraphs, as pasted into the web editor."""
    paragraphs, counted = [], 0
    while counted < words:
        take = SENTENCE.split()[: words - counted]
        # Every paragraph a sentence, however it was cut to make the count.
        paragraphs.append(" ".join(take).rstrip(".,") + ".")
        counted += len(take)
    return "\n\n".join(paragraphs)


async def write_on_the_web(web: httpx.AsyncClient, prompt: str, public_url: str, story: str) -> str:
    """Open the editor link of step 5's prompt, save `story`, tap «Xong»: the page's answer."""
    found = re.search(r"✍️ Viết trên trang web: (\S+/editor/\S+)", prompt)
    assert found, prompt
    path = found.group(1).removeprefix(public_url)
    page = await web.get(path)
    token = re.search(r'data-csrf="([0-9a-f]+)"', page.text)
    assert page.status_code == 200 and token, page.text[:300]
    headers = {"X-CSRF-Token": token.group(1)}
    saved = await web.post(f"{path}/save", json={"story": story}, headers=headers)
    assert saved.json()["ok"] is True, saved.text
    done = await web.post(f"{path}/done", json={}, headers=headers)
    assert done.status_code == 200, done.text
    return str(done.json()["message"])


@pytest.mark.parametrize("on_the_web", [False, True], ids=["in-messages", "on-the-web"])
async def test_the_whole_journey_on_zalo_with_a_reviewer_on_telegram(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    telegram: FakeTelegram,
    on_the_web: bool,
) -> None:
    app = zalo_app
    tg = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await tg.start()
    telegram.settled = app.settled  # answers are read until the app settles
    try:
        teacher = ZaloChat(zalo.user("a1b2c3d4e5f601234567", "Hoa"))
        await register_on_zalo(teacher)
        principal = ZaloChat(zalo.user("b1b2c3d4e5f601234567", "Bình"))
        text = await principal.send(f"/start {await invite_code(app, 'unit_head', SCHOOL)}")
        assert SCHOOL in text
        reviewer = Chat(telegram.user(301, "Thu"))
        await join(reviewer, await invite_code(app, "reviewer", levels="TH,THCS"))
        await introduce(principal, "Nguyễn Văn Bình", "Hiệu trưởng")

        # Zalo shows no menu: the bot names the command, and the menu's words work typed.
        text = await teacher.send("xin chào")
        assert "Gõ /new" in text and "menu phía dưới" not in text
        assert "/pending" in await principal.send("/help"), "a principal's help has theirs"
        assert "/pending" not in await teacher.send("/help")
        text = await teacher.send("Viết bài mới")
        assert "Bước 1" in text
        # Inside the form the same words are an answer, not a command.
        other = ZaloChat(zalo.user("c1b2c3d4e5f601234567", "Mai"))
        await register_on_zalo(other)
        assert "Bước 1" in await other.send("/new")
        assert "Bước 2" in await other.send("Hướng dẫn")
        await teacher.send("Nguyễn Thị Lan")
        text = await teacher.send("Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội")
        assert "1. " in text and "Trả lời bằng số" in text
        await teacher.choose("An toàn trường học")
        text = await teacher.send("Cô giáo của những buổi chiều thứ Bảy")
        assert "Bước 5" in text

        if on_the_web:
            typed = web_story()
            total = count_words(typed)
            said = await write_on_the_web(zalo_web, text, app.settings.public_url, typed)
            assert "2.000 / 2.000 từ" in said
            told = text_of_card(await teacher.replies(min_count=2))
            assert "Đã nhận bài viết từ trang web: 2.000 / 2.000 từ" in told, told
            assert "Bước 6" in told, told
        else:
            typed = " ".join(story_parts())
            total = 0
            for part in story_parts():
                total += count_words(part)
                text = await teacher.send(part)
                assert f"{total:,}".replace(",", ".") + " / 2.000 từ" in text, text
            assert 1850 <= total <= 2000
            await teacher.choose("Xong phần bài viết")

        photos = [jpeg(1, (640, 480)), jpeg(2, (640, 480))]
        for data in photos:
            text = await teacher.photo(zalo.host_file(data))
            assert "Xong phần ảnh" in text
        text = await teacher.choose("Xong phần ảnh")
        assert "Gửi bài" in text
        text = await teacher.choose("Gửi bài")
        assert "GS-2024-0001" in text

        # The principal's card arrives on Zalo with numbered actions and typed commands.
        card = text_of_card(await principal.replies())
        assert "GS-2024-0001" in card and "1. ✅ Xác nhận" in card
        assert "/xacnhan GS-2024-0001" in card
        text = await principal.choose("Ảnh")
        sent = principal.last
        assert [m.photo_bytes for m in sent if m.kind == "photo"] == photos, (
            "the fake Zalo fetched our signed photo URLs and got the teacher's photos"
        )
        assert "/media/f/" in (sent[0].photo_url or "")
        # The full text is far over Zalo's 2,000 characters: it comes whole, in order, in
        # pieces cut between sentences.
        await principal.choose("Toàn văn")
        pieces = [m.text or "" for m in principal.last]
        assert len(pieces) >= 4 and all(0 < len(piece) <= 2000 for piece in pieces)
        assert all(piece.rstrip().endswith(".") for piece in pieces)
        received = " ".join(" ".join(pieces).split())
        assert " ".join(typed.split()) in received

        text = await principal.send("1")
        assert "Đã ghi nhận" in text and "GS-2024-0001" in text
        assert "đã được Hiệu trưởng xác nhận" in text_of_card(await teacher.replies())

        card_message = reviewer_card(telegram, reviewer)
        await reviewer.press("Duyệt", card_message)
        told = text_of_card(await teacher.replies())
        assert "đã được duyệt" in told

        # Honoured and spread like any story: a subscriber on Telegram gets the post.
        await add_audience(app, [701])
        await honour_and_send(app, "GS-2024-0001")
        post = await telegram.user(701, "Mai").next_message(timeout=30)
        assert "Nguyễn Thị Lan" in (post.plain_text or ""), post.plain_text
    finally:
        await tg.stop()

    async with app.db.transaction() as session:
        sub = await session.scalar(select(Submission).where(Submission.code == "GS-2024-0001"))
        assert sub is not None and sub.status == "honoured" and sub.channel == "zalo"
        assert sub.word_count == total
        attachments = (
            await session.scalars(select(Attachment).where(Attachment.submission_id == sub.id))
        ).all()
        assert len(attachments) == 2


def text_of_card(messages: list) -> str:
    return "\n".join(m.text or "" for m in messages)


def reviewer_card(telegram: FakeTelegram, reviewer: Chat):
    for message in reversed(reviewer.user.messages()):
        if "GS-2024-0001" in (message.plain_text or "") and message.buttons():
            return message
    raise AssertionError(telegram_text(reviewer.user.messages()))


async def test_a_number_outside_the_unit_list_says_so_on_zalo(
    zalo_app: GuongSang, zalo: FakeZalo, zalo_web: httpx.AsyncClient
) -> None:
    person = ZaloChat(zalo.user("d9b2c3d4e5f601234567", "Hoa"))
    await person.send("/start")
    await person.send("Nguyễn Thị Hoa")
    text = await person.send("kim giang")
    assert "3. " in text and "4. " not in text, text
    assert "Không có lựa chọn số 9: hãy chọn từ 1 đến 3" in await person.send("9")
    # A unit's code made of digits (as the ministry's are) is still searched for.
    async with zalo_app.db.transaction() as session:
        await units.upsert(session, units.UnitRow("Trường Tiểu học Số 1", "TH", "01008501"))
    text = await person.send("01008501")
    # The only match is taken, with a way back to the search.
    assert "Đã chọn đơn vị Trường Tiểu học Số 1" in text and "số điện thoại" in text, text
    assert "1. 🔁 Chọn đơn vị khác" in text, text
    assert "đơn vị nào" in await person.send("1")
    await person.send("kim giang")
    assert "số điện thoại" in await person.send("1"), "a number in range still picks"
