"""Issue 22: a block's leaders open a member's evidence documents from the member's sheet: the
file itself on Telegram, a signed download link in the console (as on Zalo); the member cannot
open them by a forged press; each opening is recorded (`evidence_opened`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.settings import Settings
from storage.models import Event
from tests.apps import Clock
from tests.drivers import Chat, invite_code, join, text_of
from tests.emulation_helpers import (
    BLOCK_UNITS,
    emulation_settings,
    start_emulation_app,
    unit_head,
)
from tests.fakes.telegram_server import FakeTelegram
from tests.test_emulation_telegram import POINTS

PDF = b"%PDF-1.4\n% minh chung hoc sinh gioi\n%%EOF\n"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The campaigns file with the example block."""
    return emulation_settings(tmp_path, database_url)


@pytest.fixture
async def app(settings: Settings, clock: Clock) -> AsyncIterator[GuongSang]:
    """The real application with the units and the block synced."""
    application = await start_emulation_app(settings, clock)
    yield application
    await application.close()


async def test_leaders_open_evidence_documents(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    head = Chat(telegram.user(201, "Bình"))
    await join(head, await invite_code(app, "unit_head", BLOCK_UNITS["head"]))
    member = Chat(telegram.user(202, "Hà"))
    await join(member, await invite_code(app, "unit_head", BLOCK_UNITS["kd"]))
    await head.send("/thidua")
    await head.press("Ban hành bảng tiêu chí")
    await member.replies()

    # The member scores criterion 1 with a PDF as evidence, then the rest, and sends.
    await member.send("/thidua")
    await member.press("Tự chấm điểm")
    await member.send(POINTS[0])
    await member.user.send_document(PDF, "hoc-sinh-gioi.pdf", "application/pdf")
    assert "Đã nhận" in text_of(await member.replies())
    await member.press("Tiếp")
    for answer in POINTS[1:]:
        if answer is None:
            await member.press("Nhận điểm đề xuất: 0")
        else:
            await member.send(answer)
        await member.press("Tiếp")
    await member.press("Nộp phiếu")
    await head.replies()

    # The member's own sheet offers no way to open it, and a forged press opens nothing.
    await member.send("/thidua")
    text = await member.press("Xem phiếu của đơn vị")
    assert "tệp hoc-sinh-gioi.pdf" in text
    own = member.with_buttons()
    assert not any("Mở tệp" in label for label in own.buttons())
    seq = (next(iter(own.button_data().values())) or "").split("|")[0]
    assert await member.press_raw(f"{seq}|doc:0", own.message_id)
    await member.replies(min_count=0)
    assert [m for m in member.user.messages() if m.kind == "document"] == []

    # The head opens it from the member's sheet: the same bytes arrive by sendDocument.
    await head.send("/thidua")
    await head.press("Phiếu các đơn vị")
    await head.press(BLOCK_UNITS["kd"])
    card = head.with_buttons()
    await head.press("Mở tệp: hoc-sinh-gioi.pdf", card)
    for _ in range(5):  # the file follows its caption; a busy machine may pause between them
        sent = [m for m in head.user.messages() if m.kind == "document"]
        if sent:
            break
        await head.replies()
    assert len(sent) == 1 and sent[0].file_data == PDF
    assert sent[0].document is not None and sent[0].document["file_name"] == "hoc-sinh-gioi.pdf"
    # A document number beyond the card's: refused, nothing sent.
    seq = (card.button_data()[next(iter(card.button_data()))] or "").split("|")[0]
    assert await head.press_raw(f"{seq}|doc:7", card.message_id)
    await head.replies(min_count=0)
    assert len([m for m in head.user.messages() if m.kind == "document"]) == 1

    # The deputy, in the console (no files there), gets a signed download link instead.
    deputy = await unit_head(app, "tx", BLOCK_UNITS["deputy"])
    await deputy.send("/thidua")
    await deputy.choose("Phiếu các đơn vị")
    await deputy.choose(BLOCK_UNITS["kd"])
    text = await deputy.choose("Mở tệp")
    assert "/files/" in text and "24 giờ" in text

    async with app.db.transaction() as session:
        opened = list(await session.scalars(select(Event).where(Event.action == "evidence_opened")))
    assert [(e.channel, e.data["name"]) for e in opened] == [
        ("telegram", "hoc-sinh-gioi.pdf"),
        ("console", "hoc-sinh-gioi.pdf"),
    ]
