"""The office's list of submitted stories (XLSX / CSV) and one story as a printable Word file.

Stories are made through the storage layer on the real app's database, with event rows as the
review flow writes them; the `guongsang export …` commands run in-process through `bot.cli.main`
against the same database file, and every file is opened back and read cell by cell or
paragraph by paragraph.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from docx import Document
from docx.text.paragraph import Paragraph
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.cli import main
from bot.settings import Settings
from handlers import files
from handlers.exports import export_texts
from handlers.story_exports import (
    SubmissionRow,
    submission_rows,
    submissions_csv,
    submissions_xlsx,
)
from storage import events, roles
from storage.models import Attachment, Event, Person, RoleGrant, Submission
from tests.apps import FIXTURES
from tests.drivers import Chat, introduce, invite_code, join, register, submit_story, text_of
from tests.factories import honoured_story, story
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_review import card_of

CAMPAIGN = "thanh-xuan-2024"
PRINCIPAL = "Phạm Văn Hiệu"
SCHOOL = "Trường THCS Lê Quý Đôn"
HEADERS = [
    "Mã bài",
    "Trạng thái",
    "Ngày giờ gửi",
    "Họ và tên người viết",
    "Đơn vị công tác",
    "Điện thoại liên hệ",
    "Họ và tên nhân vật",
    "Nơi nhân vật cư trú, học tập, công tác",
    "Lĩnh vực",
    "Tiêu đề bài viết",
    "Số từ",
    "Số ảnh",
    "Lần gửi",
    "Ngày Hiệu trưởng xác nhận",
    "Ngày chấm",
    "Số quyết định tuyên dương",
    "Ngày quyết định",
]
LAN_STORY = (
    "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy.\n\n"
    "Ba năm nay, mười hai em học sinh khó khăn được cô kèm cặp.\n"
    "Phụ huynh gọi lớp học ấy là “lớp học của lòng tốt”."
)
# The clock fixture's time: 10/01/2024 10:00 in Hà Nội, when the factory "submits" stories.
SUBMITTED = datetime(2024, 1, 10, 10, 0)
# 17:30 UTC on 12/01 is 00:30 on 13/01 in Hà Nội: the date printed must be the Hà Nội one.
CONFIRMED_AT = datetime(2024, 1, 12, 17, 30, tzinfo=UTC)
APPROVED_AT = datetime(2024, 1, 20, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`bot.cli.main` reads its settings from the environment: point it at the test's app."""
    monkeypatch.setenv("GUONGSANG_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("GUONGSANG_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GUONGSANG_CONFIG", str(FIXTURES / "campaigns.toml"))


async def principal(app: GuongSang) -> int:
    """A person who confirms stories for a unit; returns their id."""
    async with app.db.transaction() as session:
        person = Person(full_name=PRINCIPAL)
        session.add(person)
        await session.flush()
        return person.id


async def log(
    app: GuongSang,
    sub: Submission,
    action: str,
    actor_id: int,
    at: datetime,
    data: dict[str, object] | None = None,
) -> None:
    """One event row about a story, as the review flow records it."""
    async with app.db.transaction() as session:
        await events.record(
            session,
            at=at,
            subject="submission",
            subject_id=sub.id,
            action=action,
            actor_id=actor_id,
            channel="telegram",
            data=data,
        )


async def cli(*argv: str) -> int:
    """Run `guongsang ARGV` in-process (main runs its own event loop, hence the thread)."""
    return await asyncio.to_thread(main, list(argv))


@pytest.fixture
async def stories(app: GuongSang) -> None:
    """Two submitted stories, one honoured, one waiting; a draft and a discarded one."""
    hieu = await principal(app)
    lan = await story(
        app,
        code="GS-2024-0001",
        status="approved",
        photos=2,
        story=LAN_STORY,
        focus_area="Xây dựng nếp sống thanh lịch, văn minh người Hà Nội",
    )
    await log(app, lan, "unit_confirmed", hieu, CONFIRMED_AT)
    await log(app, lan, "changes_requested", hieu, datetime(2024, 1, 15, 2, 0, tzinfo=UTC))
    await log(app, lan, "approved", hieu, APPROVED_AT)
    duc = await honoured_story(
        app,
        code="GS-2024-0002",
        exemplar="Trần Văn Đức",
        title="Người thầy cứu hai em nhỏ",
        unit_name="Trường THCS Lê Quý Đôn",
        focus_area="An toàn trường học",
        author_phone="0987654321",
        decision_number="3215/QĐ-UBND",
        decision_date=date(2024, 3, 20),
    )
    async with app.db.transaction() as session:
        duc_sub = await session.get(Submission, duc.submission_id)
        assert duc_sub is not None
    await log(app, duc_sub, "unit_confirmed", hieu, datetime(2024, 1, 11, 1, 0, tzinfo=UTC))
    await log(app, duc_sub, "approved", hieu, datetime(2024, 2, 1, 1, 0, tzinfo=UTC))
    await story(
        app,
        code="GS-2024-0003",
        status="submitted",
        exemplar="Lò Thị Hương",
        unit_name="Trường Mầm non Hạ Đình",
        author_phone="0356789012",
        photos=1,
    )
    await story(app, code="GS-2024-0004", status="draft", exemplar="Bản Nháp")
    await story(app, code="GS-2024-0005", status="discarded", exemplar="Đã Hủy")


def expected_rows(lan_words: int) -> list[list[object]]:
    """The three submitted stories as the list's cells (dates as Excel reads them back)."""
    return [
        [
            "GS-2024-0001",
            "Đã được duyệt",
            SUBMITTED,
            "Nguyễn Thị Hoa",
            "Trường Tiểu học Kim Giang",
            "0912345678",
            "Nguyễn Thị Lan",
            "Trường Tiểu học Kim Giang",
            "Xây dựng nếp sống thanh lịch, văn minh người Hà Nội",
            "Cô giáo của những buổi chiều thứ Bảy",
            lan_words,
            2,
            1,
            datetime(2024, 1, 13),  # Hà Nội date of 17:30 UTC on the 12th
            datetime(2024, 1, 20),  # the last decision, not the earlier request for changes
            None,
            None,
        ],
        [
            "GS-2024-0002",
            "Đã được tuyên dương",
            SUBMITTED,
            "Nguyễn Thị Hoa",
            "Trường THCS Lê Quý Đôn",
            "0987654321",
            "Trần Văn Đức",
            "Trường THCS Lê Quý Đôn",
            "An toàn trường học",
            "Người thầy cứu hai em nhỏ",
            11,  # the factory story: "Cô Lan mở … thứ Bảy." is 11 words
            1,
            1,
            datetime(2024, 1, 11),
            datetime(2024, 2, 1),
            "3215/QĐ-UBND",
            datetime(2024, 3, 20),
        ],
        [
            "GS-2024-0003",
            "Đã gửi, chờ Hiệu trưởng/Chủ tịch công đoàn xác nhận",
            SUBMITTED,
            "Nguyễn Thị Hoa",
            "Trường Mầm non Hạ Đình",
            "0356789012",
            "Lò Thị Hương",
            "Trường Mầm non Hạ Đình",
            "An toàn trường học",
            "Cô giáo của những buổi chiều thứ Bảy",
            11,  # the factory story: "Cô Lan mở … thứ Bảy." is 11 words
            1,
            1,
            None,
            None,
            None,
            None,
        ],
    ]


async def test_submissions_xlsx_cell_by_cell(app: GuongSang, stories: None, tmp_path: Path) -> None:
    out = tmp_path / "bai-du-thi.xlsx"
    code = await cli(
        "export", "submissions", "--campaign", CAMPAIGN, "--format", "xlsx", "--output", str(out)
    )
    assert code == 0
    sheet = load_workbook(out).active
    assert sheet.title == "Bài dự thi"
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert cells == [HEADERS, *expected_rows(len(LAN_STORY.split()))]
    assert sheet.freeze_panes == "B2"
    assert all(cell.font.b for cell in sheet[1])
    assert sheet["F2"].data_type == "s"  # the phone keeps its leading zero
    assert sheet["C2"].number_format == "dd/mm/yyyy hh:mm"
    assert sheet["N2"].number_format == "dd/mm/yyyy"
    # Printed landscape, one page wide, the header on every page; rows as tall as their text.
    assert (
        sheet.page_setup.orientation == "landscape" and sheet.sheet_properties.pageSetUpPr.fitToPage
    )
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.print_title_rows == "$1:$1"
    assert all(sheet.row_dimensions[n].height for n in range(1, sheet.max_row + 1))


async def test_submissions_csv_is_utf8_with_bom(
    app: GuongSang, stories: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bai-du-thi.csv"
    code = await cli(
        "export", "submissions", "--campaign", CAMPAIGN, "--format", "csv", "--output", str(out)
    )
    assert code == 0
    said = capsys.readouterr().out
    assert "Đã xuất 3 bài vào" in said
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "Trần Văn Đức".encode() in raw  # UTF-8, not a Windows code page
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))

    def text(cell: object) -> str:
        if isinstance(cell, datetime):
            return cell.strftime("%Y-%m-%d %H:%M" if cell.hour or cell.minute else "%Y-%m-%d")
        return "" if cell is None else str(cell)

    expected = [[text(c) for c in row] for row in expected_rows(len(LAN_STORY.split()))]
    assert rows == [HEADERS, *expected]
    # ISO dates: no spreadsheet or program reads 2024-01-13 as the 1st of the 13th month.
    assert rows[1][2] == "2024-01-10 10:00"
    assert rows[1][13] == "2024-01-13"
    assert rows[2][5] == "0987654321", "the phone as written, leading zero included"
    assert "--format xlsx" in said, "the person is told which file to open in a spreadsheet"


async def test_submissions_unknown_campaign(
    app: GuongSang, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    code = await cli(
        "export", "submissions", "--campaign", "khong-co", "--format", "csv", "--output", str(out)
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "Không có đợt thi đua «khong-co». Các đợt thi đua hiện có: thanh-xuan-2024." in err
    assert not out.exists()


def test_csv_and_xlsx_keep_people_text_as_text() -> None:
    row = SubmissionRow(
        code="GS-2024-0009",
        status="Đã được duyệt",
        submitted_at=None,
        author_name='=HYPERLINK("http://x")',
        author_unit="@Trường",
        author_phone="+84912345678",
        exemplar_name="-Ngô Thị Nụ",
        exemplar_address="",
        focus_area="",
        title="Tiêu đề",
        word_count=3,
        photo_count=0,
        version=2,
        unit_confirmed_on=None,
        decided_on=None,
        decision_number="",
        decision_date=None,
    )
    cells = list(csv.reader(io.StringIO(submissions_csv([row]).decode("utf-8-sig"))))[1]
    assert cells[3:7] == ['\'=HYPERLINK("http://x")', "'@Trường", "+84912345678", "'-Ngô Thị Nụ"]
    sheet = load_workbook(io.BytesIO(submissions_xlsx([row]))).active
    assert sheet["D2"].value == '=HYPERLINK("http://x")' and sheet["D2"].data_type == "s"
    assert sheet["M2"].value == 2


def paragraphs(path: Path) -> list[str]:
    """The document's non-empty paragraph texts, in order."""
    return [p.text for p in Document(str(path)).paragraphs if p.text.strip()]


async def test_story_docx_confirmed(app: GuongSang, stories: None, tmp_path: Path) -> None:
    out = tmp_path / "GS-2024-0001.docx"
    assert await cli("export", "docx", "gs-2024-0001", "--output", str(out)) == 0
    doc = Document(str(out))
    assert doc.sections[0].header.paragraphs[0].text == "Mã bài: GS-2024-0001"
    assert doc.paragraphs[0].style.name == "Heading 1"
    assert len(doc.inline_shapes) == 2
    for shape in doc.inline_shapes:
        assert abs(shape.width.cm - 12) < 0.01
    assert paragraphs(out) == [
        "Cô giáo của những buổi chiều thứ Bảy",
        "Họ và tên nhân vật: Nguyễn Thị Lan",
        "Nơi nhân vật cư trú, học tập, công tác: Trường Tiểu học Kim Giang",
        "Lĩnh vực: Xây dựng nếp sống thanh lịch, văn minh người Hà Nội",
        "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy.",
        "Ba năm nay, mười hai em học sinh khó khăn được cô kèm cặp.",
        "Phụ huynh gọi lớp học ấy là “lớp học của lòng tốt”.",
        "Thông tin người dự thi",
        "Họ và tên: Nguyễn Thị Hoa",
        "Đơn vị công tác: Trường Tiểu học Kim Giang",
        "Điện thoại liên hệ: 0912345678",
        "Ngày 13 tháng 01 năm 2024",
        "XÁC NHẬN CỦA HIỆU TRƯỞNG",
        "(Đã xác nhận trên Gương Sáng lúc 00:30 13/01/2024)",
        PRINCIPAL,
    ]
    # The photos sit between the story and the author's details.
    texts = [p.text for p in doc.paragraphs]
    photo_at = [i for i, p in enumerate(doc.paragraphs) if p._p.xpath(".//pic:pic")]
    assert len(photo_at) == 2
    assert texts.index("Phụ huynh gọi lớp học ấy là “lớp học của lòng tốt”.") < photo_at[0]
    assert photo_at[-1] < texts.index("Thông tin người dự thi")
    assert doc.core_properties.title == "Cô giáo của những buổi chiều thứ Bảy"


async def test_story_docx_unconfirmed_leaves_lines_to_sign(
    app: GuongSang, stories: None, tmp_path: Path
) -> None:
    out = tmp_path / "GS-2024-0003.docx"
    assert await cli("export", "docx", "GS-2024-0003", "--output", str(out)) == 0
    doc = Document(str(out))
    assert len(doc.inline_shapes) == 1
    assert paragraphs(out)[-4:] == [
        "Ngày ........ tháng ........ năm ..........",
        "XÁC NHẬN CỦA HIỆU TRƯỞNG",
        "(Ký, ghi rõ họ tên, đóng dấu)",
        ".............................................",
    ]
    assert PRINCIPAL not in "\n".join(paragraphs(out))


async def test_story_docx_ignores_a_confirmation_of_an_older_version(
    app: GuongSang, tmp_path: Path
) -> None:
    # Confirmed, then sent back and resubmitted: the principal has not seen this text yet.
    sub = await story(app, code="GS-2024-0007", status="submitted", photos=0)
    await log(app, sub, "unit_confirmed", await principal(app), CONFIRMED_AT)
    out = tmp_path / "GS-2024-0007.docx"
    assert await cli("export", "docx", "GS-2024-0007", "--output", str(out)) == 0
    assert len(Document(str(out)).inline_shapes) == 0
    assert paragraphs(out)[-1] == "............................................."
    assert PRINCIPAL not in "\n".join(paragraphs(out))


async def test_submissions_list_leaves_out_dates_of_an_earlier_version(app: GuongSang) -> None:
    # Confirmed and sent back as version 1; resubmitted as version 2, waiting for the principal.
    hieu = await principal(app)
    sub = await story(app, code="GS-2024-0008", status="submitted", photos=0)
    async with app.db.transaction() as session:
        stored = await session.get(Submission, sub.id)
        assert stored is not None
        stored.version, stored.submitted_at = 2, CONFIRMED_AT
    await log(app, sub, "unit_confirmed", hieu, CONFIRMED_AT, {"version": 1})
    await log(app, sub, "changes_requested", hieu, APPROVED_AT, {"version": 1})
    async with app.db.transaction() as session:
        rows = await submission_rows(session, app.services, CAMPAIGN)
    (row,) = [r for r in rows if r.code == "GS-2024-0008"]
    assert (row.version, row.unit_confirmed_on, row.decided_on) == (2, None, None)
    # Once the principal confirms version 2, that date shows; the old decision still does not.
    await log(app, sub, "unit_confirmed", hieu, APPROVED_AT, {"version": 2})
    async with app.db.transaction() as session:
        stored = await session.get(Submission, sub.id)
        assert stored is not None
        stored.status = "in_review"
        rows = await submission_rows(session, app.services, CAMPAIGN)
    (row,) = [r for r in rows if r.code == "GS-2024-0008"]
    assert (row.unit_confirmed_on, row.decided_on) == (date(2024, 1, 20), None)


async def test_story_docx_says_which_version_the_principal_confirmed(
    app: GuongSang, tmp_path: Path
) -> None:
    # Confirmed at version 1; the reviewers asked for changes and version 2 came straight
    # back to them, as the campaign's resubmit_to = "review" says.
    sub = await story(app, code="GS-2024-0008", status="in_review", photos=0)
    async with app.db.transaction() as session:
        row = await session.get(Submission, sub.id)
        assert row is not None
        row.version = 2
    await log(app, sub, "unit_confirmed", await principal(app), CONFIRMED_AT, {"version": 1})
    out = tmp_path / "GS-2024-0008.docx"
    assert await cli("export", "docx", "GS-2024-0008", "--output", str(out)) == 0
    assert paragraphs(out)[-3:] == [
        "XÁC NHẬN CỦA HIỆU TRƯỞNG",
        "(Đã xác nhận phiên bản 1 trên Gương Sáng lúc 00:30 13/01/2024; bài in ở đây là "
        "phiên bản 2, sửa theo yêu cầu của người chấm)",
        PRINCIPAL,
    ]


async def test_story_docx_prints_a_webp_photo(app: GuongSang, tmp_path: Path) -> None:
    # The bot takes WEBP photos; Word cannot embed them as they are.
    sub = await story(app, code="GS-2024-0009", photos=1)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buffer, "WEBP")
    stored = files.store(app.services.media_dir, buffer.getvalue(), "webp", "image/webp")
    async with app.db.transaction() as session:
        attachment = await session.scalar(
            select(Attachment).where(Attachment.submission_id == sub.id)
        )
        assert attachment is not None
        attachment.stored_path = str(stored.path.relative_to(app.services.media_dir))
        attachment.mime_type = "image/webp"
    out = tmp_path / "GS-2024-0009.docx"
    assert await cli("export", "docx", "GS-2024-0009", "--output", str(out)) == 0
    assert len(Document(str(out)).inline_shapes) == 1


async def test_story_docx_unknown_code(
    app: GuongSang, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none.docx"
    assert await cli("export", "docx", "GS-2024-9999", "--output", str(out)) == 2
    assert "Không có bài nào mã «GS-2024-9999»" in capsys.readouterr().err
    assert not out.exists()


async def test_story_docx_missing_photo_writes_nothing(
    app: GuongSang, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = await story(app, code="GS-2024-0008", photos=1)
    (app.services.media_dir / sub.attachments[0].stored_path).unlink()
    out = tmp_path / "GS-2024-0008.docx"
    assert await cli("export", "docx", "GS-2024-0008", "--output", str(out)) == 2
    assert "Không đọc được ảnh của bài GS-2024-0008" in capsys.readouterr().err
    assert not out.exists()


def signature_block(path: Path) -> list[Paragraph]:
    """The confirmation block's paragraphs: from the spacer after the author's phone on."""
    doc = Document(str(path))
    phone_at = next(
        i for i, p in enumerate(doc.paragraphs) if p.text.startswith("Điện thoại liên hệ")
    )
    return doc.paragraphs[phone_at + 1 :]


def assert_kept_on_one_page(block: list[Paragraph]) -> None:
    """Every line of the block stays whole and with the next, down to the name."""
    assert all(p.paragraph_format.keep_together for p in block)
    assert all(p.paragraph_format.keep_with_next for p in block[:-1])
    assert not block[-1].paragraph_format.keep_with_next


async def test_the_printed_story_signs_with_the_name_and_title_given_on_joining(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel, tmp_path: Path
) -> None:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)  # at Trường THCS Lê Quý Đôn
    principal = Chat(telegram.user(201, "Bình"))
    text = await join(principal, await invite_code(app, "unit_head", SCHOOL))
    assert "Hiệu trưởng" in text and "họ và tên đầy đủ" in text
    assert "đủ họ, tên đệm và tên" in await principal.send("Bình"), "a chat name is no name"
    text = await principal.send("nguyễn văn bình")
    assert "chức vụ" in text
    assert principal.with_buttons().buttons() == ["Hiệu trưởng", "Phó Hiệu trưởng"]
    text = await principal.press("Phó Hiệu trưởng")
    assert "Nguyễn Văn Bình" in text and "Phó Hiệu trưởng" in text
    async with app.db.transaction() as session:
        person = await session.scalar(
            select(Person).join(RoleGrant, RoleGrant.person_id == Person.id)
        )
        assert person is not None and person.full_name == "Nguyễn Văn Bình"
        (grant,) = await roles.of(session, person.id)
        assert grant.title == "Phó Hiệu trưởng"
        logged = await session.scalars(
            select(Event.action).where(Event.subject == "person", Event.subject_id == person.id)
        )
        assert list(logged) == ["role_granted", "full_name_given", "title_given"]

    code = await submit_story(teacher)
    await principal.replies()
    await principal.press("Xác nhận", card_of(principal, code))
    card = text_of([m for m in principal.user.messages() if code in (m.plain_text or "")])
    assert "Hiệu trưởng xác nhận — Nguyễn Văn Bình" in card, "named in chat as on paper"
    out = tmp_path / f"{code}.docx"
    assert await cli("export", "docx", code, "--output", str(out)) == 0
    block = signature_block(out)
    lines = [p.text for p in block if p.text.strip()]
    # A deputy signs for the head, as offices write it.
    assert lines[1:3] == ["KT. HIỆU TRƯỞNG", "PHÓ HIỆU TRƯỞNG"]
    assert lines[3].startswith("(Đã xác nhận trên Gương Sáng lúc ")
    assert lines[-1] == "Nguyễn Văn Bình" and "Bình" not in lines[:-1]
    assert "hieutruong" not in "\n".join(lines)
    assert_kept_on_one_page(block)


async def test_an_admin_confirming_for_a_unit_is_printed_as_such(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel, tmp_path: Path
) -> None:
    admin = Chat(telegram.user(999, "quantri"))  # GUONGSANG_ADMINS=telegram:999
    await join(admin, await invite_code(app, "admin"))
    await introduce(admin, "Phạm Gia Hữu", "Chuyên viên")
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)  # Lê Quý Đôn has no head: its stories go to the admins
    code = await submit_story(teacher)
    await admin.replies()
    await admin.press("Xác nhận", card_of(admin, code))
    out = tmp_path / f"{code}.docx"
    assert await cli("export", "docx", code, "--output", str(out)) == 0
    block = signature_block(out)
    lines = [p.text for p in block if p.text.strip()]
    assert lines[1:3] == ["XÁC NHẬN THAY ĐƠN VỊ", "CHUYÊN VIÊN"]
    assert "HIỆU TRƯỞNG" not in "\n".join(lines), "an admin is not the school's principal"
    assert lines[3].startswith(f"(Quản trị viên đã xác nhận thay {SCHOOL} trên Gương Sáng lúc ")
    assert lines[-1] == "Phạm Gia Hữu" and "quantri" not in "\n".join(lines)
    assert_kept_on_one_page(block)


def test_signature_headings_by_title() -> None:
    def heading(title: str | None, on_behalf: bool = False) -> list[str]:
        text = export_texts().render("story.confirm_heading", title=title, on_behalf=on_behalf)
        return [line.strip() for line in text.splitlines()]

    assert heading(None) == ["XÁC NHẬN CỦA HIỆU TRƯỞNG"]
    assert heading("Hiệu trưởng") == ["XÁC NHẬN CỦA HIỆU TRƯỞNG"]
    assert heading("Phó Hiệu trưởng") == ["KT. HIỆU TRƯỞNG", "PHÓ HIỆU TRƯỞNG"]
    assert heading("Chủ tịch Công đoàn cơ sở") == ["XÁC NHẬN CỦA CHỦ TỊCH CÔNG ĐOÀN CƠ SỞ"]
    assert heading("Phó Chủ tịch Công đoàn cơ sở") == [
        "KT. CHỦ TỊCH CÔNG ĐOÀN CƠ SỞ",
        "PHÓ CHỦ TỊCH CÔNG ĐOÀN CƠ SỞ",
    ]
    assert heading(None, on_behalf=True) == ["XÁC NHẬN THAY ĐƠN VỊ"]


async def test_a_registered_teacher_given_a_role_keeps_the_name_already_given(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher, name="Nguyễn Thị Hoa")
    text = await join(teacher, await invite_code(app, "unit_head", SCHOOL))
    assert "Nguyễn Thị Hoa" in text
    assert "Giữ tên Nguyễn Thị Hoa" in teacher.with_buttons().buttons()[0]
    assert "chức vụ" in await teacher.press("Giữ tên Nguyễn Thị Hoa")
    assert "Chủ tịch" not in " ".join(teacher.with_buttons().buttons()), "a school's head"
    assert "Tổ trưởng chuyên môn" in await teacher.send("tổ trưởng chuyên môn")
    async with app.db.transaction() as session:
        grant = await session.scalar(select(RoleGrant))
        assert grant is not None and grant.title == "Tổ trưởng chuyên môn"
        logged = list(await session.scalars(select(Event.action).where(Event.subject == "person")))
        assert "full_name_given" not in logged, "the name did not change"
        assert logged.count("title_given") == 1
