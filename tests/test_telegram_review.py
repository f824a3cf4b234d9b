"""Review in chat, end to end: the principal confirms, reviewers by level decide, one wins."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from handlers.types import Event
from storage.models import Event as LogEvent
from storage.models import Submission, SubmissionVersion
from tests.apps import Clock
from tests.drivers import Chat, invite_code, join, jpeg, register, submit_story, text_of
from tests.fakes.telegram_server import FakeTelegram, SentMessage

SCHOOL = "Trường THCS Lê Quý Đôn"  # the teacher's school: lower-secondary (THCS)


@dataclass
class Cast:
    """Everyone in the review of one school's stories."""

    teacher: Chat
    principal: Chat
    reviewer_a: Chat
    reviewer_b: Chat
    preschool_reviewer: Chat


@pytest.fixture
async def cast(app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel) -> Cast:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = Chat(telegram.user(201, "Bình", username="hieutruong"))
    text = await join(principal, await invite_code(app, "unit_head", SCHOOL))
    assert "Hiệu trưởng / Chủ tịch công đoàn cơ sở" in text and SCHOOL in text
    reviewer_a = Chat(telegram.user(301, "Thu"))
    text = await join(reviewer_a, await invite_code(app, "reviewer", levels="TH,THCS"), False)
    assert "Người chấm" in text
    reviewer_b = Chat(telegram.user(302, "Hào"))
    await join(reviewer_b, await invite_code(app, "reviewer", levels="TH,THCS"))
    preschool = Chat(telegram.user(303, "Mai"))
    await join(preschool, await invite_code(app, "reviewer", levels="MN"))
    return Cast(teacher, principal, reviewer_a, reviewer_b, preschool)


def card_of(chat: Chat, code: str) -> SentMessage:
    """The newest message in the chat that is a card for `code` and still has buttons."""
    for message in reversed(chat.user.messages()):
        if code in (message.plain_text or "") and message.buttons():
            return message
    raise AssertionError(f"no live card for {code} in chat {chat.user.chat_id}")


async def story(app: GuongSang, code: str) -> Submission:
    async with app.db.transaction() as session:
        found = await session.scalar(select(Submission).where(Submission.code == code))
        assert found is not None
        return found


async def actions(app: GuongSang, code: str) -> list[tuple[str, str | None]]:
    sub = await story(app, code)
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(LogEvent)
            .where(LogEvent.subject == "submission", LogEvent.subject_id == sub.id)
            .order_by(LogEvent.id)
        )
        return [(e.action, e.reason) for e in rows]


async def confirmed_story(cast: Cast) -> str:
    """The teacher submits a story and the principal confirms it; returns its code."""
    code = await submit_story(cast.teacher)
    await cast.principal.replies()
    await cast.principal.press("Xác nhận", card_of(cast.principal, code))
    return code


async def test_confirm_then_two_reviewers_race(
    app: GuongSang, telegram: FakeTelegram, cast: Cast
) -> None:
    code = await submit_story(cast.teacher)
    assert code == "GS-2024-0001"
    card = text_of(await cast.principal.replies())
    assert "Bài cần Hiệu trưởng xác nhận" in card and code in card and "Nguyễn Thị Hoa" in card
    assert "0912345678" not in card, "cards carry no phone numbers"

    text = await cast.principal.press("Toàn văn", card_of(cast.principal, code))
    assert "Cô Lan mở lớp học miễn phí" in text
    photos_before = len(telegram.calls_to("sendPhoto"))
    text = await cast.principal.press("Ảnh", card_of(cast.principal, code))
    assert "1 ảnh của bài" in text
    assert len(telegram.calls_to("sendPhoto")) == photos_before + 1
    await cast.principal.press("Xác nhận", card_of(cast.principal, code))
    told = text_of(await cast.teacher.replies())
    assert "đã được Hiệu trưởng xác nhận" in told

    card_a = text_of(await cast.reviewer_a.replies())
    card_b = text_of(await cast.reviewer_b.replies())
    for card in (card_a, card_b):
        assert "Bài chờ chấm" in card and code in card and "(THCS)" in card
        assert "Số từ: 16" in card
    assert not cast.preschool_reviewer.user.messages()[2:], "MN reviewers get no THCS story"

    message_a, message_b = card_of(cast.reviewer_a, code), card_of(cast.reviewer_b, code)
    answers_before = len(telegram.calls_to("answerCallbackQuery"))
    await asyncio.gather(
        cast.reviewer_a.user.press(message_a, "Duyệt"),
        cast.reviewer_b.user.press(message_b, "Duyệt"),
    )
    await cast.teacher.replies()
    await telegram.until_settled()  # both card edits are out

    log = await actions(app, code)
    assert [a for a, _ in log].count("approved") == 1
    sub = await story(app, code)
    assert sub.status == "approved"
    answers = [c.params.get("text", "") for c in telegram.calls_to("answerCallbackQuery")]
    assert sum("đã được xử lý bởi" in a for a in answers[answers_before:]) == 1
    for message in (message_a, message_b):
        edited = telegram.get_message(message.chat_id, message.message_id)
        assert edited is not None and edited.edits, "every card of the story is edited"
        assert not edited.buttons() and "Duyệt" in (edited.plain_text or "")
    assert "đã được duyệt" in text_of(cast.teacher.last)
    assert [a for a, _ in log] == ["created", "submitted", "unit_confirmed", "approved"]


async def test_changes_requested_then_resubmitted_then_approved(
    app: GuongSang, telegram: FakeTelegram, cast: Cast
) -> None:
    code = await confirmed_story(cast)
    await cast.teacher.replies()
    await cast.reviewer_a.replies()
    await cast.reviewer_b.replies()
    old_card = card_of(cast.reviewer_a, code)

    text = await cast.reviewer_a.press("Yêu cầu sửa", old_card)
    assert "nhận xét, yêu cầu sửa" in text
    text = await cast.reviewer_a.send("Xin bổ sung tên lớp và thời gian cụ thể.")
    assert "yêu cầu sửa bài" in text, text
    told = text_of(await cast.teacher.replies())
    assert "đề nghị sửa" in told and "Xin bổ sung tên lớp" in told

    text = await cast.teacher.press("Sửa bài")
    assert "Sửa bài GS-2024-0001" in text and "Xem lại bài viết" in text
    assert "Nhận xét khi trả bài: «Xin bổ sung tên lớp và thời gian cụ thể.»" in text
    await cast.teacher.press("Sửa")
    await cast.teacher.press("Tiêu đề bài viết")
    await cast.teacher.send("Cô giáo lớp 4A của những buổi chiều thứ Bảy")
    text = await cast.teacher.press("Gửi bài")
    assert "gửi lại (phiên bản 2)" in text

    card = text_of(await cast.reviewer_b.replies())
    assert "phiên bản 2" in card and "Đã sửa so với phiên bản 1: Tiêu đề bài viết" in card
    assert "số từ không đổi (16)" in card
    # The version-1 card was edited; a press forged from its old data changes nothing.
    answer = await cast.reviewer_b.press_raw(f"!r:ok:{(await story(app, code)).id}:1")
    assert "phiên bản cũ" in answer
    assert (await story(app, code)).status == "in_review"

    await cast.reviewer_b.press("Duyệt", card_of(cast.reviewer_b, code))
    assert "đã được duyệt" in text_of(await cast.teacher.replies())
    sub = await story(app, code)
    assert (sub.status, sub.version) == ("approved", 2)
    async with app.db.transaction() as session:
        versions = list(
            await session.scalars(
                select(SubmissionVersion)
                .where(SubmissionVersion.submission_id == sub.id)
                .order_by(SubmissionVersion.version)
            )
        )
    assert [v.values["title"] for v in versions] == [
        "Cô giáo của những buổi chiều thứ Bảy",
        "Cô giáo lớp 4A của những buổi chiều thứ Bảy",
    ]
    log = await actions(app, code)
    assert [a for a, _ in log] == [
        "created",
        "submitted",
        "unit_confirmed",
        "changes_requested",
        "resubmitted",
        "approved",
    ]
    assert log[3][1] == "Xin bổ sung tên lớp và thời gian cụ thể."


async def test_a_story_sent_back_after_the_contest_closed_can_come_back(
    app: GuongSang, telegram: FakeTelegram, cast: Cast, clock: Clock
) -> None:
    code = await confirmed_story(cast)
    await cast.reviewer_a.replies()
    # The contest closed on 3 April 2024; the review goes on after it.
    clock.moment = datetime(2024, 4, 10, 3, 0, tzinfo=UTC)
    await cast.reviewer_a.press("Yêu cầu sửa", card_of(cast.reviewer_a, code))
    await cast.reviewer_a.send("Xin bổ sung tên lớp.")
    await cast.teacher.replies()
    await cast.teacher.press("Sửa bài")
    await cast.teacher.press("Sửa")
    await cast.teacher.press("Tiêu đề bài viết")
    await cast.teacher.send("Cô giáo lớp 4A của những buổi chiều thứ Bảy")
    text = await cast.teacher.press("Gửi bài")
    assert "gửi lại (phiên bản 2)" in text and "chỉ nhận bài" not in text
    assert (await story(app, code)).status == "in_review"
    # A new story is still refused after the closing date.
    assert "chưa có đợt thi đua nào đang nhận bài" in await cast.teacher.send("/new")


async def test_a_photo_swapped_for_another_shows_as_a_change(
    app: GuongSang, telegram: FakeTelegram, cast: Cast
) -> None:
    code = await confirmed_story(cast)
    await cast.teacher.replies()
    await cast.reviewer_a.replies()
    await cast.reviewer_a.press("Yêu cầu sửa", card_of(cast.reviewer_a, code))
    await cast.reviewer_a.send("Ảnh mờ, thay ảnh khác.")
    await cast.teacher.replies()
    assert "Nhận xét: «Ảnh mờ, thay ảnh khác.»" in await cast.teacher.send("/mine")
    # Later, with the notification far up the chat: /continue leads to the story too.
    text = await cast.teacher.send("/continue")
    assert "Bài được trả lại để bạn sửa" in text and f"{code} «" in text
    text = await cast.teacher.press(f"✏️ Sửa {code}")
    assert "Nhận xét khi trả bài: «Ảnh mờ, thay ảnh khác.»" in text
    # The fix goes straight back to the reviewers (resubmit_to = "review"), and it says so.
    assert "sẽ được chuyển tới người chấm" in text and "để xác nhận" not in text
    await cast.teacher.press("Sửa")
    await cast.teacher.press("Ảnh hoạt động")
    assert "Xóa cả 1 ảnh đã gửi?" in await cast.teacher.press("Xóa hết ảnh")
    await cast.teacher.press("Có, xóa hết ảnh")
    await cast.teacher.photo(jpeg(99))  # one photo for one: the count is the same
    await cast.teacher.replies()
    await cast.teacher.press("Xong phần ảnh")
    assert "gửi lại (phiên bản 2)" in await cast.teacher.press("Gửi bài")
    card = text_of(await cast.reviewer_a.replies())
    assert "Đã sửa so với phiên bản 1: Ảnh hoạt động" in card, card


async def test_no_untrue_word_about_a_note_for_a_story_already_decided(
    app: GuongSang, telegram: FakeTelegram, cast: Cast
) -> None:
    first = await submit_story(cast.teacher)
    second = await submit_story(cast.teacher, title="Người thầy của những đứa trẻ vùng cao")
    for code in (first, second):
        await cast.principal.send(f"/xacnhan {code}")
    await cast.reviewer_a.replies()
    assert "lý do" in (await cast.reviewer_a.send(f"/tuchoi {first}")).lower()
    assert "Đã ghi nhận" in await cast.reviewer_a.send(f"/tuchoi {first} Bài quá ngắn.")
    text = await cast.reviewer_a.send(f"/duyet {second}")
    assert "Đã ghi nhận" in text and "vẫn đang chờ xử lý" not in text, text
    assert (await story(app, first)).status == "rejected"


async def test_forged_and_foreign_presses_change_nothing(
    app: GuongSang, telegram: FakeTelegram, cast: Cast
) -> None:
    code = await submit_story(cast.teacher)
    await cast.principal.replies()
    sub = await story(app, code)
    # The teacher forges an approval; the MN reviewer and a unit head of another school try too.
    other_head = Chat(telegram.user(202, "Cường"))
    await join(other_head, await invite_code(app, "unit_head", "Trường THCS Kim Giang"))
    answers = [
        await cast.teacher.press_raw(f"!r:ok:{sub.id}:1"),
        await other_head.press_raw(f"!u:ok:{sub.id}:1"),
        await cast.preschool_reviewer.press_raw(f"!u:ok:{sub.id}:1"),
        await cast.reviewer_a.press_raw(f"!u:ok:{sub.id}:1"),
    ]
    assert all("không có quyền" in a for a in answers), answers
    assert "không hợp lệ" in await cast.teacher.press_raw("!r:zz:1:1")
    assert "không hợp lệ" in await cast.teacher.press_raw(f"!r:ok:{sub.id + 99}:1")
    assert (await story(app, code)).status == "submitted"
    assert [a for a, _ in await actions(app, code)] == ["created", "submitted"]


async def test_invite_codes_expired_reused_unknown(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel, clock: object
) -> None:
    code = await invite_code(app, "reviewer", levels="MN")
    first, second = Chat(telegram.user(401, "An")), Chat(telegram.user(402, "Ba"))
    assert "Người chấm" in await join(first, code)
    assert "đã được sử dụng" in await join(second, code.lower(), via_start=False)
    assert "không đúng" in await join(second, "ZZZZ9999")
    revoked = await invite_code(app, "reviewer")
    async with app.db.transaction() as session:
        from storage import invites as invites_repo

        assert await invites_repo.revoke(session, revoked, app.services.now()) is not None
    assert "thu hồi" in await join(second, revoked)
    stale = await invite_code(app, "reviewer")
    clock.moment = clock.moment.replace(day=clock.moment.day + 8)  # type: ignore[attr-defined]
    assert "hết hạn" in await join(second, stale)
    async with app.db.transaction() as session:
        granted = [
            e.data["invite"]
            for e in await session.scalars(
                select(LogEvent).where(LogEvent.action == "role_granted")
            )
        ]
    assert granted == [code]


async def test_reviewer_leaves_a_reason_prompt_for_another_story(
    app: GuongSang, cast: Cast
) -> None:
    first = await submit_story(cast.teacher, "Bài thứ nhất về cô Lan")
    second = await submit_story(cast.teacher, "Bài thứ hai về thầy Minh")
    await cast.principal.replies()
    for code in (first, second):
        await cast.principal.press("Xác nhận", card_of(cast.principal, code))
    await cast.reviewer_a.replies()
    text = await cast.reviewer_a.press("Từ chối", card_of(cast.reviewer_a, first))
    assert "lý do từ chối" in text and first in text
    await cast.reviewer_a.user.send_sticker()
    assert "bằng chữ" in text_of(await cast.reviewer_a.replies())
    text = await cast.reviewer_a.press("Duyệt", card_of(cast.reviewer_a, second))
    assert f"Đã bỏ việc nhập lý do cho bài {first}" in text
    text = await cast.reviewer_a.send("Không đạt yêu cầu vì thiếu ảnh.")
    assert "chưa hiểu" in text, "the typed text is no longer taken as a reason"
    assert (await story(app, first)).status == "in_review"
    assert (await story(app, second)).status == "approved"


async def test_reject_reason_arrives_after_another_reviewer_approved(
    app: GuongSang, telegram: FakeTelegram, cast: Cast
) -> None:
    code = await confirmed_story(cast)
    await cast.reviewer_a.replies()
    await cast.reviewer_b.replies()
    await cast.reviewer_b.press("Từ chối", card_of(cast.reviewer_b, code))
    await cast.reviewer_a.press("Duyệt", card_of(cast.reviewer_a, code))
    text = await cast.reviewer_b.send("Nội dung chưa đúng thể lệ.")
    assert "đã được xử lý bởi" in text and "Không có gì" not in text
    sub = await story(app, code)
    assert sub.status == "approved"
    assert [a for a, _ in await actions(app, code)][-1] == "approved"


async def test_simultaneous_decisions_at_the_database(app: GuongSang, cast: Cast) -> None:
    code = await confirmed_story(cast)
    sub = await story(app, code)

    def press(user: int, action: str, key: str) -> Event:
        return Event(
            channel="telegram",
            chat_id=str(user),
            user_id=str(user),
            kind="button",
            button=f"!r:{action}:{sub.id}:1",
            update_key=key,
        )

    results = await asyncio.gather(
        *(
            app.handle(press(user, "ok", f"race-{user}-{i}"))
            for i, user in enumerate([301, 302] * 4)
        )
    )
    won = [r for r in results if r.notice.startswith("Đã ghi nhận")]
    lost = [r for r in results if "đã được xử lý bởi" in r.notice]
    assert len(won) == 1 and len(lost) == 7
    assert [a for a, _ in await actions(app, code)].count("approved") == 1


async def test_unit_without_head_goes_to_admins_who_confirm_on_its_behalf(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    admin = Chat(telegram.user(999, "Quản trị"))  # GUONGSANG_ADMINS=telegram:999
    await admin.send("/start")
    await admin.send("Phạm Gia Hữu")
    await admin.send("kim giang")
    await admin.press("Trường THCS Kim Giang")
    await admin.send("0903123456")
    teacher = Chat(telegram.user(102, "Minh"))
    await register(teacher, name="Trần Văn Minh")
    code = await submit_story(teacher)
    card = text_of(await admin.replies())
    assert "chưa có Hiệu trưởng" in card and code in card
    await admin.press("Xác nhận", card_of(admin, code))
    log = await actions(app, code)
    assert log[-1][0] == "unit_confirmed"
    async with app.db.transaction() as session:
        confirmed = await session.scalar(
            select(LogEvent).where(LogEvent.action == "unit_confirmed")
        )
        assert confirmed is not None and confirmed.data["on_behalf_of_unit"] is True
    # No reviewer covers the level yet: the admins hear about it.
    await telegram.wait_for(
        lambda _calls: any(
            "chưa có người chấm" in (m.plain_text or "") for m in admin.user.messages()
        )
    )
