"""Letter 004 end to end through the real application, in the console channel (numbered
choices): a block of four units, a ten-criterion sheet published by the block head, three
members self-scoring (evidence photos, a resume after a restart, a late sheet after a
reminder), the head adjusting two criteria with reasons, the ranking and the exported table."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from bot.app import GuongSang
from handlers.emulation import exports
from handlers.emulation.crosscheck import ranking
from handlers.types import Event
from storage import emulation as repo
from storage.emulation_models import EmulationCard
from storage.models import Conversation, OutboxMessage
from storage.models import Event as LogEvent
from tests.apps import Clock, run_cli_beside
from tests.drivers import jpeg
from tests.emulation_helpers import (
    BLOCK_UNITS,
    EMULATION,
    Console,
    emulation_settings,
    start_emulation_app,
    unit_head,
)
from tests.factories import story

# The member's answers for the ten criteria (1.1 … 3.2, then the bonus line T1).
KD_POINTS = ["18", "9", "8", "7", None, "9", "10", "8", "9", "2"]  # None: the proposal
KG_POINTS = ["17", "8", "8", "8", "6", "7", "9", "8", "8", "0"]
TX_POINTS = ["16", "8", "7", "7", "5", "7", "8", "8", "8", "1"]


async def card_of(app: GuongSang, unit_name: str) -> EmulationCard:
    async with app.db.transaction() as session:
        block = await repo.block_by_slug(session, "khoi-thcs-2024")
        assert block is not None
        for card in await repo.cards(session, block.id):
            if card.unit.name == unit_name:
                return card
    raise AssertionError(unit_name)


async def sent_to(app: GuongSang, chat: str) -> str:
    """Every outbox message queued for a console chat, joined."""
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.chat_id == chat).order_by(OutboxMessage.id)
        )
        return "\n".join(str(r.payload.get("text", "")) for r in rows)


async def score_from(person: Console, points: list[str | None], start: int = 0) -> None:
    """Answer criteria `start`… with `points` (None accepts the proposal), then «Tiếp»."""
    for answer in points[start:]:
        if answer is None:
            text = await person.send("đề xuất")
        else:
            text = await person.send(answer)
        assert "Gõ ghi chú ngắn" in text, text
        await person.choose("Tiếp")


async def test_block_from_sheet_to_ranking(tmp_path: Path, database_url: str, clock: Clock) -> None:
    settings = emulation_settings(tmp_path, database_url)
    app = await start_emulation_app(settings, clock)
    try:
        head = await unit_head(app, "nc", BLOCK_UNITS["head"])
        await unit_head(app, "tx", BLOCK_UNITS["deputy"])
        kd = await unit_head(app, "kd", BLOCK_UNITS["kd"])
        kg = await unit_head(app, "kg", BLOCK_UNITS["kg"])
        # Two of Khương Đình's stories were approved in letter 001's contest: 2 × 5 points.
        await story(app, code="GS-2024-0101", unit_name=BLOCK_UNITS["kd"])
        await story(app, code="GS-2024-0102", unit_name=BLOCK_UNITS["kd"])

        # A member sees nothing to score before the head publishes the sheet.
        text = await kd.send("/thidua")
        assert "Bảng tiêu chí: chưa ban hành" in text
        assert "Tự chấm điểm" not in str(kd.last.replies[-1].choices)

        text = await head.send("/thidua")
        assert "Phiên bản 1 của bảng tiêu chí chưa ban hành" in text
        text = await head.choose("Ban hành bảng tiêu chí")
        assert "Đã ban hành «Bảng tiêu chí chấm điểm thi đua khối THCS năm 2024»" in text
        assert "10 tiêu chí" in await sent_to(app, "kd")

        # Registration and covenant, recorded with who and when.
        await kd.send("/thidua")
        await kd.choose("Đăng ký thi đua")
        await kd.choose("Tập thể lao động xuất sắc")
        await kd.choose("Cờ thi đua")
        await kd.choose("Xong")
        text = await kd.choose("Tôi xác nhận ký giao ước")
        assert "Đã ghi nhận đăng ký thi đua" in text and "10:00 10/01/2024" in text
        card = await card_of(app, BLOCK_UNITS["kd"])
        assert card.registration["titles"] == [
            "Cờ thi đua của UBND thành phố",
            "Tập thể lao động xuất sắc",
        ]
        assert card.covenant_at == clock()

        # Khương Đình scores with two evidence photos on the criterion that needs proof.
        text = await kd.choose("Tự chấm điểm")
        assert "Tiêu chí 1/10" in text and "cần minh chứng" in text
        assert "không phải số điểm hợp lệ" in await kd.send("25")
        await kd.send("18")
        text = await kd.choose("Tiếp")
        assert "cần minh chứng" in text
        assert "Đã nhận ảnh minh chứng" in await kd.photo(jpeg(1))
        assert "2 minh chứng" in await kd.photo(jpeg(2))
        assert "Đã lưu ghi chú" in await kd.send("Tỷ lệ học sinh khá, giỏi đạt 85%")
        text = await kd.choose("Tiếp")
        assert "Tiêu chí 2/10" in text and "Tổng tạm tính: 18 / 105" in text
        # Criterion 2.1 comes with the contest's figure: 2 approved stories → 10 points.
        for answer in KD_POINTS[1:4]:
            await kd.send(answer)  # type: ignore[arg-type]
            text = await kd.choose("Tiếp")
        assert "2 (bài được duyệt) → đề xuất 10 điểm" in text
        await score_from(kd, KD_POINTS, 4)
        assert "Tổng tự chấm: 90 / 105" in "\n".join(r.text for r in kd.last.replies)
        text = await kd.choose("Nộp phiếu")
        assert "Đã nộp phiếu tự chấm: 90 điểm" in text
        assert "Khương Đình đã nộp phiếu tự chấm: 90 điểm" in await sent_to(app, "nc")

        # Kim Giang scores five criteria, then the application restarts.
        await kg.send("/thidua")
        await kg.choose("Tự chấm điểm")
        await kg.send(KG_POINTS[0])
        assert "Đã nhận đường link" in await kg.send("https://thcs-kimgiang.edu.vn/minh-chung")
        await kg.choose("Tiếp")
        await score_from(kg, KG_POINTS[:5], 1)
    finally:
        await app.close()
    app = await start_emulation_app(settings, clock)
    try:
        kg = Console(app, "kg")
        text = await kg.send(KG_POINTS[5])
        assert "Tiêu chí 1.2" not in text and "Gõ ghi chú ngắn" in text
        await kg.choose("Tiếp")
        await score_from(kg, KG_POINTS, 6)
        text = await kg.choose("Nộp phiếu")
        assert "Đã nộp phiếu tự chấm: 79 điểm" in text and "nộp muộn" not in text

        # The deadline (20/01) passes: Thanh Xuân and Nhân Chính have not sent theirs.
        clock.moment = datetime(2024, 1, 21, 2, 0, tzinfo=UTC)
        assert await app.run_emulation_nudges() == 2
        assert await app.run_emulation_nudges() == 0, "once a day"
        assert "Đã quá hạn 20/01/2024" in await sent_to(app, "tx")
        assert "Nhắc nộp phiếu" not in await sent_to(app, "kd")
        tx = Console(app, "tx")
        await tx.send("/thidua")
        await tx.choose("Tự chấm điểm")
        await tx.send(TX_POINTS[0])
        await tx.send("https://thcs-thanhxuan.edu.vn/bao-cao-2024")
        await tx.choose("Tiếp")
        await score_from(tx, TX_POINTS, 1)
        text = await tx.choose("Nộp phiếu")
        assert "Đã nộp phiếu tự chấm: 75 điểm" in text and "nộp muộn" in text
        assert (await card_of(app, BLOCK_UNITS["deputy"])).late

        # The head cross-checks Khương Đình: two criteria adjusted, each with its reason.
        head = Console(app, "nc")
        await head.send("/thidua")
        text = await head.choose("Phiếu các đơn vị")
        assert "Trường THCS Khương Đình: đã nộp, chờ khối kiểm tra · tự chấm 90" in text
        text = await head.choose(BLOCK_UNITS["kd"])
        assert "2 ảnh minh chứng" in text and "Tỷ lệ học sinh khá, giỏi đạt 85%" in text
        assert len(head.last.replies[0].photos) == 2
        await head.choose("Điều chỉnh điểm")
        await head.choose("1.1.")
        await head.send("15")
        assert "Xin ghi lý do" in await head.send("ok")
        text = await head.send("Minh chứng chỉ có 80% học sinh khá, giỏi")
        assert "1.1: 18 → 15" in text and "Tổng khối chấm: 87" in text
        await head.choose("Điều chỉnh điểm")
        await head.choose("2.3.")
        await head.send("8")
        await head.send("Báo cáo quý III nộp chậm 5 ngày")
        told = await sent_to(app, "kd")
        assert "18 → 15 điểm" in told and "Minh chứng chỉ có 80% học sinh khá, giỏi" in told
        assert "Báo cáo quý III nộp chậm 5 ngày" in told and "Tổng điểm sau kiểm tra: 85" in told
        await head.choose("Đề nghị khen thưởng")
        await head.choose("Tập thể lao động xuất sắc")

        # A member cannot edit a sheet already sent, by menu or by a forged press.
        kd = Console(app, "kd")
        text = await kd.send("/thidua")
        assert "Tự chấm điểm" not in str(kd.last.replies[-1].choices)
        before = (await card_of(app, BLOCK_UNITS["kd"])).scores
        async with app.db.transaction() as session:
            seq = await session.scalar(
                select(Conversation.prompt_seq).where(Conversation.chat_id == "kd")
            )
        for forged in ("score", "o:1", "pub"):
            await app.handle(
                Event(
                    channel="console", chat_id="kd", user_id="kd", kind="button",
                    button=f"{seq}|{forged}", update_key=f"forged-{forged}", has_buttons=False,
                )
            )  # fmt: skip
        assert (await card_of(app, BLOCK_UNITS["kd"])).scores == before

        # The ranking and the exported table match the scores.
        async with app.db.transaction() as session:
            block = await repo.block_by_slug(session, "khoi-thcs-2024")
            assert block is not None
            _sheet, lines = await ranking(session, block)
            data = exports.result_xlsx(block, lines, app.services.today())
            actions = [
                (e.action, e.reason)
                for e in await session.scalars(
                    select(LogEvent).where(LogEvent.subject == "emu_card").order_by(LogEvent.id)
                )
            ]
        assert [(line.unit_name, line.block_total, line.rank) for line in lines] == [
            (BLOCK_UNITS["kd"], 85.0, 1),
            (BLOCK_UNITS["kg"], 79.0, 2),
            (BLOCK_UNITS["deputy"], 75.0, 3),
        ]
        assert ("adjusted", "Minh chứng chỉ có 80% học sinh khá, giỏi") in actions
        assert ("adjusted", "Báo cáo quý III nộp chậm 5 ngày") in actions
        sheet = load_workbook(io.BytesIO(data)).active
        assert sheet is not None
        table = [[c.value for c in row] for row in sheet.iter_rows(min_row=5, max_row=8, max_col=7)]
        assert table[0] == [
            "TT", "Đơn vị", "Tự chấm", "Khối chấm", "Xếp hạng", "Đề nghị khen thưởng", "Ghi chú"
        ]  # fmt: skip
        assert table[1] == [
            1, BLOCK_UNITS["kd"], 90, 85, 1, "Tập thể lao động xuất sắc",
            "Khối điều chỉnh 2 tiêu chí",
        ]  # fmt: skip
        assert table[2][:5] == [2, BLOCK_UNITS["kg"], 79, 79, 2]
        assert table[3][:5] == [3, BLOCK_UNITS["deputy"], 75, 75, 3]
        assert table[3][6] == "Nộp muộn"
        assert sheet.page_setup.fitToWidth == 1 and sheet.print_title_rows == "$5:$5"

        # The same from the command line, beside the running app: DOCX and the registrations.
        env = {
            "GUONGSANG_DATA_DIR": str(tmp_path / "data"),
            "GUONGSANG_DATABASE_URL": database_url,
            "GUONGSANG_CONFIG": str(EMULATION / "campaigns.toml"),
        }
        docx_path, regs_path = tmp_path / "ket-qua.docx", tmp_path / "dang-ky.xlsx"
        done = await run_cli_beside(
            env,
            "blocks",
            "export",
            "khoi-thcs-2024",
            "--format",
            "docx",
            "--output",
            str(docx_path),
        )
        assert done.returncode == 0, done.stderr
        assert "Đã xuất 3 đơn vị" in done.stdout
        rows = [[c.text for c in row.cells] for row in Document(str(docx_path)).tables[1].rows]
        assert [r[1:5] for r in rows[1:]] == [
            [BLOCK_UNITS["kd"], "90", "85", "1"],
            [BLOCK_UNITS["kg"], "79", "79", "2"],
            [BLOCK_UNITS["deputy"], "75", "75", "3"],
        ]
        done = await run_cli_beside(
            env, "blocks", "registrations", "khoi-thcs-2024", "--output", str(regs_path)
        )
        assert done.returncode == 0, done.stderr
        regs = load_workbook(regs_path).active
        assert regs is not None
        lines = {r[1]: r for r in regs.iter_rows(min_row=6, max_row=9, values_only=True)}
        assert lines[BLOCK_UNITS["kd"]][2:4] == (
            "Cờ thi đua của UBND thành phố, Tập thể lao động xuất sắc",
            "10/01/2024 10:00",
        )
        assert lines[BLOCK_UNITS["kg"]][2] in ("", None)
    finally:
        await app.close()


async def test_periodic_reports_due_reminded_and_attached(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    # Two days before the 6-month report is due (15/06), 09:00 in Hà Nội.
    clock.moment = datetime(2024, 6, 13, 2, 0, tzinfo=UTC)
    app = await start_emulation_app(emulation_settings(tmp_path, database_url), clock)
    try:
        head = await unit_head(app, "nc", BLOCK_UNITS["head"])
        kd = await unit_head(app, "kd", BLOCK_UNITS["kd"])
        assert await app.run_emulation_nudges() == 2  # the two units with a head on the bot
        assert "Nhắc gửi báo cáo sơ kết 6 tháng" in await sent_to(app, "kd")
        assert "Hạn gửi: 15/06/2024" in await sent_to(app, "kd")

        await kd.send("/thidua")
        text = await kd.choose("Báo cáo 6 tháng")
        assert "Báo cáo sơ kết 6 tháng — hạn 15/06/2024: chưa gửi" in text
        await kd.choose("Báo cáo sơ kết 6 tháng")
        assert "Xin gửi tệp báo cáo" in await kd.send("báo cáo đây")
        assert "không nhận" in await kd.document("virus.exe", b"MZ")
        text = await kd.document("bao-cao-6-thang.docx", b"PK\x03\x04 report")
        assert "Đã nhận tệp" in text and "1 tệp/link" in text
        text = await kd.choose("Xong")
        assert "Báo cáo sơ kết 6 tháng — hạn 15/06/2024: đã gửi 1 tệp/link" in text
        assert "Khương Đình đã gửi báo cáo sơ kết 6 tháng" in await sent_to(app, "nc")

        clock.moment = datetime(2024, 6, 14, 2, 0, tzinfo=UTC)
        assert await app.run_emulation_nudges() == 1, "only the unit that has not sent it"

        await head.send("/thidua")
        await head.choose("Phiếu các đơn vị")
        text = await head.choose(BLOCK_UNITS["kd"])
        assert "Báo cáo sơ kết 6 tháng: đã gửi 1 tệp/link" in text
        assert "tệp bao-cao-6-thang.docx" in text
        assert "Phiếu tự chấm: đang tự chấm" in text, "a draft's scores stay the unit's"
        assert "Điều chỉnh" not in str(head.last.replies[-1].choices)
        async with app.db.transaction() as session:
            actions = list(
                await session.scalars(select(LogEvent.action).where(LogEvent.subject == "emu_card"))
            )
        assert actions == ["report_sent"]
    finally:
        await app.close()


async def test_block_head_sends_a_new_sheet_version_in_chat(
    tmp_path: Path, database_url: str, clock: Clock
) -> None:
    app = await start_emulation_app(emulation_settings(tmp_path, database_url), clock)
    try:
        head = await unit_head(app, "nc", BLOCK_UNITS["head"])
        member = await unit_head(app, "kd", BLOCK_UNITS["kd"])
        sheet = (EMULATION / "criteria-thcs-2024.toml").read_text(encoding="utf-8")
        await head.send("/thidua")
        text = await head.document("tieu-chi.toml", sheet.replace("max = 20", "max = 0").encode())
        assert "chưa được nhận vì có lỗi" in text
        assert "Phần 1, tiêu chí 1 («1.1»): điểm tối đa (max) phải là số lớn hơn 0" in text
        assert "không phải bảng tiêu chí" in await head.document("tieu-chi.xlsx", b"PK")
        text = await head.document("tieu-chi.toml", sheet.replace("max = 20", "max = 30").encode())
        assert "thành phiên bản 2" in text and "tối đa 115 điểm" in text
        text = await head.choose("Ban hành bảng tiêu chí (phiên bản 2)")
        assert "phiên bản 2" in text
        assert "tối đa 115 điểm" in await sent_to(app, "kd")

        # A member's file at the menu is not a sheet: nothing is stored.
        await member.send("/thidua")
        await member.document("tieu-chi.toml", sheet.encode())
        async with app.db.transaction() as session:
            block = await repo.block_by_slug(session, "khoi-thcs-2024")
            assert block is not None
            latest = await repo.latest_sheet(session, block.id)
            assert latest is not None and latest.version == 2
            loaded = list(
                await session.scalars(
                    select(LogEvent.action).where(LogEvent.subject == "emu_block")
                )
            )
        assert loaded == ["criteria_loaded", "criteria_published"]
    finally:
        await app.close()
