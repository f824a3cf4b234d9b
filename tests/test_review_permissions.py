"""Who may act on a story and read its history: admins named in GUONGSANG_ADMINS without ever
registering, reviewers only within their levels, and a clear refusal for everyone else."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from storage.models import Event as LogEvent
from storage.models import Identity, Invite
from tests.drivers import Chat, invite_code, join, register, submit_story, text_of
from tests.factories import story as approved_story
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_review import Cast, actions, card_of, cast, story  # noqa: F401


async def test_an_admin_who_never_wrote_to_the_bot_confirms_and_reads_the_history(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    # GUONGSANG_ADMINS=telegram:999; that person has never sent the bot anything.
    admin = Chat(telegram.user(999, "Quản trị"))
    teacher = Chat(telegram.user(102, "Minh"))
    await register(teacher, name="Trần Văn Minh")  # Trường THCS Lê Quý Đôn: no principal yet
    code = await submit_story(teacher)
    card = text_of(await admin.replies())
    assert "chưa có Hiệu trưởng" in card and code in card

    the_card = card_of(admin, code)
    assert code in await admin.send("/pending")
    await admin.press("Xác nhận", the_card)
    assert (await story(app, code)).status == "in_review"
    async with app.db.transaction() as session:
        confirmed = await session.scalar(
            select(LogEvent).where(LogEvent.action == "unit_confirmed")
        )
        assert confirmed is not None and confirmed.data["on_behalf_of_unit"] is True
        # The decision is recorded against the admin's own account.
        identity = await session.scalar(
            select(Identity).where(Identity.person_id == confirmed.actor_id)
        )
        assert identity is not None
        assert (identity.channel, identity.external_id) == ("telegram", "999")
    history = await admin.send(f"/history {code}")
    assert f"Lịch sử bài {code}" in history and "không có quyền" not in history
    assert "Quản trị" in history, "the unnamed admin appears under their chat name"


async def test_history_only_of_stories_the_asker_may_decide_on(
    app: GuongSang,
    telegram: FakeTelegram,
    cast: Cast,  # noqa: F811
) -> None:
    code = await submit_story(cast.teacher)  # a THCS school's story
    # Take the principal's card first, so it cannot be read as the answer to /history below.
    assert code in text_of(await cast.principal.replies())
    # A reviewer of preschools (MN) has no business with a THCS story.
    refused = await cast.preschool_reviewer.send(f"/history {code}")
    assert "Lịch sử bài" not in refused
    assert "không thuộc đơn vị hay cấp học của bạn" in refused and code in refused
    # A principal of another school neither.
    other_head = Chat(telegram.user(202, "Cường"))

    await join(other_head, await invite_code(app, "unit_head", "Trường THCS Kim Giang"))
    assert "Lịch sử bài" not in await other_head.send(f"/history {code}")
    # The author without a role gets the general rule, not "your unit or level".
    told = await cast.teacher.send(f"/history {code}")
    assert "Lịch sử bài" not in told and "Chỉ người chấm" in told
    # Those who decide on it read it: the school's principal, a reviewer of THCS.
    assert f"Lịch sử bài {code}" in await cast.principal.send(f"/history {code}")
    assert f"Lịch sử bài {code}" in await cast.reviewer_a.send(f"/history {code}")


async def test_a_forged_press_by_someone_with_no_role_is_told_so(
    app: GuongSang,
    telegram: FakeTelegram,
    cast: Cast,  # noqa: F811
) -> None:
    code = await submit_story(cast.teacher)
    sub = await story(app, code)
    for forged in (f"!r:ok:{sub.id}:1", f"!u:ok:{sub.id}:1"):
        answer = await cast.teacher.press_raw(forged)
        assert "không có quyền" in answer and "cấp học" not in answer, answer
        assert "Hiệu trưởng đơn vị, người chấm và quản trị viên" in answer
    # A reviewer of another level is still told it is about the level.
    assert "cấp học này" in await cast.preschool_reviewer.press_raw(f"!r:ok:{sub.id}:1")
    typed = await cast.teacher.send(f"/duyet {code}")
    assert "không có quyền" in typed and "cấp học" not in typed
    assert (await story(app, code)).status == "submitted"
    assert [a for a, _ in await actions(app, code)] == ["created", "submitted"]


async def test_an_admin_who_never_wrote_honours_and_invites_under_their_own_account(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    sub = await approved_story(app, code="GS-2024-0001", photos=1)
    admin = Chat(telegram.user(999, "Quản trị"))  # named in GUONGSANG_ADMINS, never wrote
    await admin.send(f"/honour {sub.code}")
    await admin.send("1625/QĐ-UBND")
    await admin.send("20/03/2023")
    await admin.send("Mở lớp học miễn phí cho học sinh khó khăn suốt ba năm liền.")
    await admin.press("Tuyên dương và gửi")
    await admin.send("/invite")
    await admin.press("Người chấm")
    await admin.press("Mầm non")
    await admin.press("Mọi cơ quan")
    async with app.db.transaction() as session:
        honoured = await session.scalar(select(LogEvent).where(LogEvent.action == "honoured"))
        invite = await session.scalar(select(Invite))
        assert honoured is not None and invite is not None
        for person_id in (honoured.actor_id, invite.created_by_id):
            identity = await session.scalar(select(Identity).where(Identity.person_id == person_id))
            assert identity is not None
            assert (identity.channel, identity.external_id) == ("telegram", "999")
