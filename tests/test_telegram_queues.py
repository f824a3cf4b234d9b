"""Queues, history, reminders, review groups, returns to the author, and invitations."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from storage.models import DailyMark, Invite, Organisation, RoleGrant, Submission
from tests.apps import FIXTURES, Clock, run_cli, start_app
from tests.drivers import Chat, invite_code, join, register, submit_story, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_review import SCHOOL, card_of


async def confirmed_stories(
    app: GuongSang, telegram: FakeTelegram, count: int
) -> tuple[Chat, Chat, Chat, list[str]]:
    """A teacher with `count` confirmed stories, their principal, and one reviewer."""
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = Chat(telegram.user(201, "Bình"))
    await join(principal, await invite_code(app, "unit_head", SCHOOL))
    reviewer = Chat(telegram.user(301, "Thu"))
    await join(reviewer, await invite_code(app, "reviewer", levels="THCS"))
    codes = [await submit_story(teacher, f"Bài số {n} về những tấm gương") for n in range(count)]
    await principal.replies()
    for code in codes:
        await principal.press("Xác nhận", card_of(principal, code))
    # One card per story reaches the reviewer through the outbox; on a busy machine the last
    # can come after a pause, and would then land in the middle of the test's /pending.
    await reviewer.replies(min_count=count)
    # The teacher is told of each confirmation through the outbox; wait for those too, so
    # that they do not arrive in the middle of the test's next exchange with the teacher.
    await teacher.replies(min_count=count)
    return teacher, principal, reviewer, codes


async def test_pending_is_paginated_oldest_first(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel, clock: Clock
) -> None:
    teacher, principal, reviewer, codes = await confirmed_stories(app, telegram, 6)
    clock.moment += timedelta(days=2)
    text = await reviewer.send("/pending")
    assert "6 bài (trang 1/2" in text
    assert [c for c in codes if c in text] == codes[:5], "oldest first, five per page"
    text = await reviewer.press("Trang sau")
    assert "trang 2/2" in text and codes[5] in text and codes[0] not in text
    card = await reviewer.press(codes[5])
    assert "Bài chờ chấm" in card and codes[5] in card
    await reviewer.press("Duyệt", card_of(reviewer, codes[5]))
    text = await reviewer.send("/pending")
    assert "5 bài (trang 1/1" in text
    # The principal has nothing left to confirm; the teacher is no reviewer.
    assert "Không có bài nào đang chờ bạn" in await principal.send("/pending")
    assert "Không có bài nào đang chờ bạn" in await teacher.send("/pending")


async def test_history_shows_the_log_to_reviewers_only(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    teacher, _principal, reviewer, codes = await confirmed_stories(app, telegram, 1)
    text = await reviewer.send(f"/history {codes[0]}")
    assert f"Lịch sử bài {codes[0]}" in text
    assert "Gửi bài · Nguyễn Thị Hoa · Telegram" in text
    assert "Hiệu trưởng xác nhận · Bình" in text
    assert "Chỉ người chấm" in await teacher.send(f"/history {codes[0]}")
    assert "Không tìm thấy bài" in await reviewer.send("/history GS-1999-0001")


async def test_reminders_once_a_day_even_across_a_restart(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel, clock: Clock
) -> None:
    _teacher, _principal, reviewer, codes = await confirmed_stories(app, telegram, 1)
    assert await app.run_reminders() == 0, "not yet waiting three days"
    clock.moment += timedelta(days=3, hours=1)
    assert await app.run_reminders() == 1
    reminder = text_of(await reviewer.replies())
    assert "Nhắc việc" in reminder and "đã chờ 3 ngày" in reminder and codes[0] in reminder
    assert await app.run_reminders() == 0, "once a day"

    await channel.stop()
    await app.close()
    revived = await start_app(app.settings, clock, with_units=False)
    second = TelegramChannel(revived, telegram.token, telegram.api_root, poll_timeout=1)
    await second.start()
    telegram.settled = revived.settled  # answers are read until the app settles
    try:
        assert await revived.run_reminders() == 0, "the day's reminder survives a restart"
        clock.moment += timedelta(days=1)
        assert await revived.run_reminders() == 1
        assert "đã chờ 4 ngày" in text_of(await reviewer.replies())
        async with revived.db.transaction() as session:
            marks = list(await session.scalars(select(DailyMark)))
        assert len(marks) == 2
    finally:
        await second.stop()
        await revived.close()


async def test_unit_head_returns_story_and_it_comes_back_to_them(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = Chat(telegram.user(201, "Bình"))
    await join(principal, await invite_code(app, "unit_head", SCHOOL))
    code = await submit_story(teacher)
    await principal.replies()
    text = await principal.press("Trả lại tác giả", card_of(principal, code))
    assert "lý do trả lại" in text
    await principal.send("Cần ghi rõ lớp cô Lan chủ nhiệm.")
    told = text_of(await teacher.replies())
    assert "Hiệu trưởng trả lại bài" in told and "Cần ghi rõ lớp" in told
    text = await teacher.send("📂 Bài của tôi")
    assert "Được trả lại để sửa" in text
    await teacher.press(f"Sửa {code}")
    text = await teacher.press("Gửi bài")
    assert "phiên bản 2" in text and "Hiệu trưởng" in text
    card = text_of(await principal.replies())
    assert "Bài cần Hiệu trưởng xác nhận" in card and "phiên bản 2" in card
    async with app.db.transaction() as session:
        sub = await session.scalar(select(Submission).where(Submission.code == code))
        assert sub is not None and (sub.status, sub.version) == ("submitted", 2)


async def test_review_group_route(
    settings: Settings, clock: Clock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    config = tmp_path / "group.toml"
    config.write_text(
        (FIXTURES / "campaigns.toml").read_text(encoding="utf-8")
        + '\n[campaigns.review]\nTHCS = "telegram:-100500"\nTH = "telegram:-100500"\n',
        encoding="utf-8",
    )
    app = await start_app(settings.model_copy(update={"config": config}), clock)
    channel = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = app.settled  # answers are read until the app settles
    try:
        teacher = Chat(telegram.user(101, "Hoa"))
        await register(teacher)
        principal = Chat(telegram.user(201, "Bình"))
        await join(principal, await invite_code(app, "unit_head", SCHOOL))
        reviewer = Chat(telegram.user(301, "Thu"))
        await join(reviewer, await invite_code(app, "reviewer", levels="THCS"))
        outsider = Chat(telegram.user(302, "Khách"))
        code = await submit_story(teacher)
        await principal.replies()
        await principal.press("Xác nhận", card_of(principal, code))
        group_card = await telegram.wait_for(
            lambda _calls: next(
                (m for m in telegram.sent(-100500) if code in (m.plain_text or "")), None
            )
        )
        assert not reviewer.user.messages()[1:], "the group gets the card, not each reviewer"

        # A group member without the role is refused; the reviewer is asked in private.
        start = len(telegram.calls)
        await outsider.user.press(group_card, "Từ chối")
        call = await telegram.wait_for_call("answerCallbackQuery", start=start)
        assert "không có quyền" in call.params["text"]
        await reviewer.user.press(group_card, "Từ chối")
        prompt = text_of(await reviewer.replies())
        assert "lý do từ chối" in prompt
        await reviewer.send("Câu chuyện chưa có sự việc cụ thể.")
        told = text_of(await teacher.replies())
        assert "không được duyệt" in told and "chưa có sự việc cụ thể" in told
        edited = await telegram.wait_for(
            lambda _calls: (
                (m := telegram.get_message(-100500, group_card.message_id)) and m.edits and m
            )
        )
        assert "Từ chối" in (edited.plain_text or "") and not edited.buttons()
    finally:
        await channel.stop()
        await app.close()


async def test_admin_invites_in_chat(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    admin = Chat(telegram.user(999, "Quản trị"))
    await admin.send("/invite")  # an admin needs no registration to invite
    text = await admin.press("Người chấm")
    assert "cấp học nào" in text
    text = await admin.press("Mầm non")
    # Two organisations use the bot (the office and a union): the reviewer is of one.
    assert "cơ quan nào" in text
    text = await admin.press("Phòng GDĐT quận Thanh Xuân")
    assert "https://t.me/guongsang_test_bot?start=" in text
    assert "Mầm non — Phòng GDĐT quận Thanh Xuân" in text
    code = text.split("?start=")[1].split()[0]
    newcomer = Chat(telegram.user(501, "Nguyệt"))
    assert "Người chấm" in await join(newcomer, code)
    async with app.db.transaction() as session:
        grant = await session.scalar(select(RoleGrant).where(RoleGrant.role == "reviewer"))
        office = await session.scalar(
            select(Organisation).where(Organisation.name == "Phòng GDĐT quận Thanh Xuân")
        )
        assert grant is not None and office is not None
        assert (grant.levels, grant.organisation_id) == ("MN", office.id)

    # A union's reviewer: its own units' stories ("other"), its own organisation.
    await admin.send("/invite")
    await admin.press("Người chấm")
    await admin.press("Công đoàn, đơn vị khác")
    text = await admin.press("Công đoàn Viên chức tỉnh Lai Châu")
    assert "công đoàn, đơn vị khác — Công đoàn Viên chức tỉnh Lai Châu" in text

    # A principal's invite names their school.
    await admin.send("/invite")
    await admin.press("Hiệu trưởng / Chủ tịch công đoàn cơ sở")
    # The only unit that matches is taken at once, and named.
    text = await admin.send("le quy don")
    assert "Đã chọn đơn vị Trường THCS Lê Quý Đôn" in text, text
    assert "Chọn đơn vị khác" not in text, "no way back: the invite is made at once"
    assert "Hiệu trưởng / Chủ tịch công đoàn cơ sở — Trường THCS Lê Quý Đôn" in text
    stranger = Chat(telegram.user(502, "Lạ"))
    assert "Chỉ quản trị viên" in await stranger.send("/invite")
    # An admin taken out of GUONGSANG_ADMINS half-way makes no invite with the buttons left.
    await admin.send("/invite")
    app.services.admins.discard(("telegram", "999"))
    assert "Chỉ quản trị viên" in await admin.press("Người chấm")
    async with app.db.transaction() as session:
        assert len((await session.scalars(select(Invite))).all()) == 3


def test_invite_cli_json_and_revoke(tmp_path: Path, database_url: str) -> None:
    env = {
        "GUONGSANG_DATA_DIR": str(tmp_path),
        "GUONGSANG_DATABASE_URL": database_url,
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
        "GUONGSANG_TELEGRAM_BOT_USERNAME": "guongsang_bot",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(env, *args)

    assert cli("units", "import", str(FIXTURES / "units-thanh-xuan.csv")).returncode == 0
    made = cli("invite", "--role", "unit_head", "--unit", "THCS-LQD", "--json")
    assert made.returncode == 0, made.stderr
    invite = json.loads(made.stdout)
    assert invite["link"] == f"https://t.me/guongsang_bot?start={invite['code']}"
    assert invite["unit"] == "Trường THCS Lê Quý Đôn" and len(invite["code"]) == 8
    ambiguous = cli("invite", "--role", "unit_head", "--unit", "kim giang")
    assert ambiguous.returncode == 2 and "nhiều đơn vị" in ambiguous.stderr
    assert cli("invite", "--role", "reviewer", "--levels", "XYZ").returncode == 2
    plain = cli("invite", "--role", "reviewer", "--levels", "TH,THCS")
    assert plain.returncode == 0 and "Người chấm" in plain.stdout and "/join" in plain.stdout
    assert cli("invite", "--revoke", invite["code"]).returncode == 0
    again = cli("invite", "--revoke", invite["code"])
    assert again.returncode == 2 and "Không có mã mời" in again.stderr
