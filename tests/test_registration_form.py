"""Letter 003's registration of models and exemplars: a second form kind, end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from tests.apps import FIXTURES, Clock, run_cli_beside, start_app
from tests.drivers import Chat, invite_code, join, register, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_review import card_of

SCHOOL = "Trường THCS Lê Quý Đôn"
REGISTRATION = """
[[campaigns]]
slug = "dang-ky-mo-hinh-2024"
title = "Đăng ký mô hình, điển hình tiên tiến năm 2024"
organisation = "Phòng GDĐT quận Thanh Xuân"
opens = 2024-01-01
closes = 2024-04-20
form = "registration"
focus_areas = ["Văn hóa", "Y tế", "Giáo dục"]
"""


@pytest.fixture
async def app_with_registration(
    settings: Settings, clock: Clock, tmp_path: Path
) -> AsyncIterator[GuongSang]:
    config = tmp_path / "campaigns.toml"
    config.write_text(
        (FIXTURES / "campaigns.toml").read_text(encoding="utf-8") + REGISTRATION, encoding="utf-8"
    )
    app = await start_app(settings.model_copy(update={"config": config}), clock)
    yield app
    await app.close()


async def register_model(chat: Chat, name: str, field: str, note: str | None) -> str:
    """One registration, through the bot; returns the preview text."""
    await chat.send("/new")
    text = await chat.press("Đăng ký mô hình")
    assert "Đăng ký mô hình, điển hình tiên tiến của đơn vị" in text and "Bước 1" in text
    assert "Bước 2" in await chat.send(name)
    text = await chat.press(field)
    assert "Bỏ qua" in chat.with_buttons().buttons()[-1]
    return await (chat.press("Bỏ qua") if note is None else chat.send(note))


async def test_units_register_models_and_the_office_gets_letter_003s_table(
    app_with_registration: GuongSang, telegram: FakeTelegram, tmp_path: Path
) -> None:
    app = app_with_registration
    channel = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = app.settled  # answers are read until the app settles
    try:
        principal = Chat(telegram.user(201, "Bình"))
        await join(principal, await invite_code(app, "unit_head", SCHOOL))
        teacher = Chat(telegram.user(101, "Hoa"))
        await register(teacher)

        preview = await register_model(teacher, "Mô hình thư viện xanh", "Văn hóa", None)
        assert f"Đơn vị công tác: {SCHOOL}" in preview
        assert "Tên mô hình, điển hình tiên tiến: Mô hình thư viện xanh" in preview
        assert "Lĩnh vực: Văn hóa" in preview and "Ghi chú: —" in preview
        assert "Ảnh" not in preview and "từ" not in preview.split("Lĩnh vực")[0]
        text = await teacher.press("Gửi đăng ký")
        assert "GS-2024-0001" in text
        card = text_of(await principal.replies())
        assert "Tên mô hình, điển hình tiên tiến: Mô hình thư viện xanh" in card
        assert "Số từ" not in card
        await principal.press("Xác nhận", card_of(principal, "GS-2024-0001"))

        preview = await register_model(
            teacher, "Cô Nguyễn Thị Lan — giáo viên dạy giỏi", "Giáo dục", "Đề nghị nhân rộng"
        )
        assert "Ghi chú: Đề nghị nhân rộng" in preview
        assert "GS-2024-0002" in await teacher.press("Gửi đăng ký")
        await principal.replies()
        await principal.press("Xác nhận", card_of(principal, "GS-2024-0002"))
    finally:
        await channel.stop()

    out = tmp_path / "dang-ky.xlsx"
    env = {
        "GUONGSANG_DATA_DIR": str(app.settings.data_dir),
        "GUONGSANG_DATABASE_URL": app.settings.resolved_database_url,
        "GUONGSANG_CONFIG": str(app.settings.config),
    }
    done = await run_cli_beside(
        env, "export", "registrations", "--campaign", "dang-ky-mo-hinh-2024", "--output", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "Đã xuất 2 mô hình, điển hình của 1 đơn vị" in done.stdout
    sheet = load_workbook(out).active
    assert sheet.title == "Đăng ký mô hình"
    rows = list(sheet.iter_rows(min_row=6, max_row=7, max_col=5, values_only=True))
    assert rows[0] == (
        "TT",
        "TÊN ĐƠN VỊ",
        "TÊN MÔ HÌNH, ĐIỂN HÌNH TIÊN TIẾN",
        "LĨNH VỰC",
        "GHI CHÚ",
    )
    # The letter's shape: one row for the unit, its models numbered in one cell.
    assert rows[1] == (
        1,
        SCHOOL,
        "Mô hình 1: Mô hình thư viện xanh\nMô hình 2: Cô Nguyễn Thị Lan — giáo viên dạy giỏi",
        "Văn hóa\nGiáo dục",
        "Mô hình 2: Đề nghị nhân rộng",
    )
    unknown = await run_cli_beside(
        env, "export", "registrations", "--campaign", "nope", "--output", str(out)
    )
    assert unknown.returncode == 2


async def test_a_registration_speaks_of_a_registration_and_a_principals_own_needs_no_confirming(
    app_with_registration: GuongSang, telegram: FakeTelegram
) -> None:
    from sqlalchemy import select

    from storage.models import Event, OutboxMessage, Submission

    app = app_with_registration
    channel = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = app.settled  # answers are read until the app settles
    try:
        principal = Chat(telegram.user(202, "Bình"))
        await join(principal, await invite_code(app, "unit_head", SCHOOL))
        await register(principal, "Trần Văn Bình")
        teacher = Chat(telegram.user(102, "Hoa"))
        await register(teacher)

        name = "Mô hình «Vườn rau sạch»"
        preview = await register_model(teacher, name, "Giáo dục", None)
        assert "Xem lại đăng ký" in preview and "Xem lại bài viết" not in preview
        assert "📨 Gửi đăng ký" in teacher.with_buttons().buttons()
        assert "chuyển tới Hiệu trưởng" in preview
        text = await teacher.press("Gửi đăng ký")
        assert f"Đã gửi đăng ký {name}." in text and "Mã đăng ký: GS-2024-0001" in text, text
        assert "««" not in text and "»»" not in text and "Mã bài" not in text
        card = text_of(await principal.replies())
        assert "Đăng ký cần Hiệu trưởng xác nhận" in card, card
        await principal.press("Xác nhận")
        told = text_of(await teacher.replies())
        assert f"Đăng ký {name} (GS-2024-0001) đã được Hiệu trưởng xác nhận" in told, told

        # The principal registers a model of their own school: nobody else to confirm it.
        preview = await register_model(principal, "Tủ sách dùng chung", "Văn hóa", None)
        assert "thẳng người chấm" in preview and "chuyển tới Hiệu trưởng" not in preview
        text = await principal.press("Gửi đăng ký")
        assert "GS-2024-0002" in text and "chuyển thẳng tới người chấm" in text, text
        assert "xác nhận đăng ký, sau đó" not in text
    finally:
        await channel.stop()
    async with app.db.transaction() as session:
        own = await session.scalar(select(Submission).where(Submission.code == "GS-2024-0002"))
        assert own is not None and own.status == "in_review"
        # Confirmed by its sender as the unit's head, as a press on the card would record.
        assert own.decided_by_id == own.author_id and own.decided_at == own.submitted_at
        assert own.status_since == own.submitted_at is not None
        logged = list(
            await session.scalars(
                select(Event).where(Event.subject == "submission", Event.subject_id == own.id)
            )
        )
        asked = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.submission_id == own.id, OutboxMessage.stage == "u"
            )
        )
    assert asked is None, "no card asks the principal to confirm their own entry"
    assert [e.action for e in logged] == ["created", "submitted", "unit_confirmed"], logged
    assert logged[-1].actor_id == own.author_id and logged[-1].data["own_submission"] is True
