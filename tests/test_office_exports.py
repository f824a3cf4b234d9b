"""/baocao on Telegram, through the fake Bot API: the office's files arrive by sendDocument and
open in openpyxl; each person's menu holds only what their role may ask; a unit head's file
holds only their unit; forged and out-of-scope presses are refused, recorded, and make nothing."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import GuongSang
from bot.settings import Settings
from bot.web.downloads import hide_tokens_in_access_log
from handlers.types import OutgoingFile, Reply, payload_to_reply, reply_to_payload
from storage.models import Event
from tests.apps import Clock
from tests.drivers import Chat, invite_code, join, text_of
from tests.emulation_helpers import BLOCK_UNITS, emulation_settings, start_emulation_app
from tests.fakes.telegram_server import FakeTelegram, SentMessage


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The campaigns file with letter 001's contest and the example block."""
    return emulation_settings(tmp_path, database_url)


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[GuongSang]:
    """The real application with the units and the block synced."""
    application = await start_emulation_app(settings, clock)
    yield application
    await application.close()


def documents(chat: Chat) -> list[SentMessage]:
    """The files the bot sent into this chat."""
    return [m for m in chat.user.messages() if m.kind == "document"]


async def until_documents(chat: Chat, count: int) -> list[SentMessage]:
    """The chat's files once `count` have arrived: a file follows its caption message, and a
    busy machine may let the quiet between them pass for the end of the answer."""
    for _ in range(5):
        if len(documents(chat)) >= count:
            break
        await chat.replies(min_count=1)
    return documents(chat)


def cells(message: SentMessage) -> list[str]:
    """Every non-empty cell of the sent workbook's first sheet, as text."""
    assert message.file_data is not None
    sheet = load_workbook(io.BytesIO(message.file_data)).worksheets[0]
    return [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]


async def export_events(app: GuongSang) -> list[tuple[str, dict[str, object]]]:
    async with app.db.transaction() as session:
        rows = await session.scalars(select(Event).where(Event.subject == "export"))
        return [(e.action, dict(e.data)) for e in rows]


async def test_admin_gets_the_monthly_report_as_a_file(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    admin = Chat(telegram.user(999, "Quản trị"))
    text = await admin.send("/baocao")
    assert "Tải danh sách, báo cáo" in text
    labels = admin.with_buttons().buttons()
    assert any("Báo cáo chỉ tiêu tháng" in label for label in labels)
    assert any("Kết quả chấm điểm khối" in label for label in labels)
    await admin.press("Báo cáo chỉ tiêu tháng")
    text = await admin.press("Thanh Xuân")
    assert "tháng nào" in text
    await admin.press("12/2023")
    sent = await until_documents(admin, 1)
    assert len(sent) == 1
    assert sent[0].document is not None
    assert sent[0].document["file_name"] == "bao-cao-thang-2023-12-thanh-xuan-2024.xlsx"
    found = cells(sent[0])
    for unit in BLOCK_UNITS.values():
        assert unit in found
    [(action, data)] = await export_events(app)
    assert action == "export_sent"
    assert {k: data[k] for k in ("what", "scope", "campaign", "month", "as")} == {
        "what": "monthly",
        "scope": "all",
        "campaign": "thanh-xuan-2024",
        "month": "2023-12",
        "as": "file",
    }

    # One line for the summary list in Word: a document python-docx opens.
    await admin.send("/baocao summary_docx thanh-xuan-2024")
    sent = await until_documents(admin, 2)
    assert len(sent) == 2 and sent[1].file_data is not None
    assert sent[1].document is not None
    assert sent[1].document["file_name"] == "danh-sach-trich-ngang-thanh-xuan-2024.docx"
    assert Document(io.BytesIO(sent[1].file_data)).paragraphs


async def test_block_head_gets_the_result_and_a_member_is_refused(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    head = Chat(telegram.user(201, "Bình"))
    await join(head, await invite_code(app, "unit_head", BLOCK_UNITS["head"]))
    member = Chat(telegram.user(202, "Hà"))
    await join(member, await invite_code(app, "unit_head", BLOCK_UNITS["kd"]))

    await head.send("/baocao")
    await head.press("Kết quả chấm điểm khối thi đua (Excel)")
    await head.press("Khối")
    sent = await until_documents(head, 1)
    assert len(sent) == 1 and sent[0].document is not None
    assert sent[0].document["file_name"] == "ket-qua-thi-dua-khoi-thcs-2024.xlsx"
    assert any("KẾT QUẢ CHẤM ĐIỂM" in c for c in cells(sent[0]))

    # A member's menu offers no block files; its own monthly report holds only its unit.
    await member.send("/baocao")
    menu = member.with_buttons()
    assert not any("khối" in label for label in menu.buttons())
    seq = (menu.button_data()[next(b for b in menu.buttons() if "tháng" in b)] or "").split("|")[0]
    # A forged press for the block's result, carrying the menu's own number: refused.
    answer = await member.press_raw(f"{seq}|x:block_result_xlsx", menu.message_id)
    assert "không được lấy tệp này" in answer
    assert "không được lấy tệp này" in text_of(await member.replies())
    assert documents(member) == []

    await member.send("/baocao monthly thanh-xuan-2024 2023-12")
    sent = await until_documents(member, 1)
    assert len(sent) == 1
    found = cells(sent[0])
    assert BLOCK_UNITS["kd"] in found
    assert BLOCK_UNITS["kg"] not in found and BLOCK_UNITS["head"] not in found

    # A one-line request for a block the member does not lead is refused too.
    text = await member.send("/baocao block_result_xlsx khoi-thcs-2024")
    assert "không được lấy tệp này" in text
    assert len(documents(member)) == 1

    actions = [(a, d["what"]) for a, d in await export_events(app)]
    assert actions == [
        ("export_sent", "block_result_xlsx"),
        ("export_refused", "block_result_xlsx"),
        ("export_sent", "monthly"),
        ("export_refused", "block_result_xlsx"),
    ]


async def test_someone_without_a_role_gets_no_menu(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    stranger = Chat(telegram.user(301, "Lan"))
    text = await stranger.send("/baocao")
    assert "dành cho quản trị viên" in text
    assert documents(stranger) == []


async def test_a_file_reply_goes_through_the_outbox(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    """An answer the channel could not send now is queued; its file is kept by its path
    under the data folder, and sent by sendDocument when the outbox delivers it."""
    user = telegram.user(401, "Lan")
    path = app.settings.data_dir / "exports" / "abc" / "bao-cao.xlsx"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK-not-really-a-workbook")
    reply = Reply("<b>Báo cáo</b>", file=OutgoingFile("bao-cao.xlsx", path))
    payload = reply_to_payload(reply, app.services.media_dir)
    assert payload["file"] == ["bao-cao.xlsx", "exports/abc/bao-cao.xlsx", ""]
    assert payload_to_reply(payload, app.services.media_dir).file == reply.file

    await app.delivery.queue_replies("telegram", "401", [reply])
    sent = await user.messages_until_idle(idle=0.25, timeout=15, min_count=2)
    assert [m.kind for m in sent] == ["text", "document"]
    assert sent[1].file_data == b"PK-not-really-a-workbook"
    assert sent[1].document is not None and sent[1].document["file_name"] == "bao-cao.xlsx"


def test_download_tokens_stay_out_of_the_access_log() -> None:
    """uvicorn's access line names the path; the token in it is replaced before it is written."""
    hide_tokens_in_access_log()
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/files/ZXhw.1700000000.c2ln/bao-cao.xlsx", "1.1", 200), None,
    )  # fmt: skip
    for installed in logging.getLogger("uvicorn.access").filters:
        assert not isinstance(installed, logging.Filter) or installed.filter(record)
    assert "ZXhw" not in record.getMessage()
    assert "/files/…/bao-cao.xlsx" in record.getMessage()


async def test_a_reviewer_gets_only_the_units_of_their_levels(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    reviewer = Chat(telegram.user(501, "Minh"))
    await join(reviewer, await invite_code(app, "reviewer", levels="MN"))
    await reviewer.send("/baocao")
    labels = reviewer.with_buttons().buttons()
    assert not any("khối" in label for label in labels)
    await reviewer.press("Danh sách bài dự thi")
    await reviewer.press("Thanh Xuân")
    [sent] = await until_documents(reviewer, 1)
    assert sent.document is not None
    assert sent.document["file_name"] == "bai-du-thi-thanh-xuan-2024.xlsx"
    await reviewer.send("/baocao monthly thanh-xuan-2024 2023-12")
    found = cells((await until_documents(reviewer, 2))[-1])
    assert "Trường Mầm non Hoa Sữa" in found
    assert not any("THCS" in c or "Tiểu học" in c for c in found if c.startswith("Trường"))
    [(_, data), _sent] = await export_events(app)
    assert data["what"] == "submissions" and data["scope"] == "reviewer:*/MN"


async def test_a_school_head_gets_the_school_registration_list(
    settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    """Letter 003's list asked in the console: a download link, and the file behind it holds
    only the head's school, signed by them, as `export registrations --unit` makes it."""
    from tests.apps import FIXTURES, start_app
    from tests.emulation_helpers import unit_head
    from tests.test_registration_exports import CAMPAIGN, LQD, entry
    from tests.test_registration_form import REGISTRATION

    config = tmp_path / "campaigns-registration.toml"
    config.write_text((FIXTURES / "campaigns.toml").read_text() + REGISTRATION)
    app = await start_app(settings.model_copy(update={"config": config}), clock)
    try:
        await entry(app, 1, LQD, "Mô hình thư viện xanh", "Văn hóa", "", "in_review")
        await entry(app, 2, "Trường Mầm non Hoa Sữa", "Vườn rau của bé", "Y tế", "", "approved")
        head = await unit_head(app, "lqd", LQD)
        text = await head.send(f"/baocao registrations {CAMPAIGN}")
        assert "/files/" in text and "24 giờ" in text, text
        [made] = list((app.settings.data_dir / "exports").rglob("*.xlsx"))
        sheet = load_workbook(made).worksheets[0]
        values = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c]
        assert any("Mô hình thư viện xanh" in v for v in values)
        assert not any("Vườn rau" in v for v in values)
    finally:
        await app.close()
