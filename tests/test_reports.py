"""The monthly quota report and campaign counts, on a month of fixed data."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from handlers import reports
from storage import events
from tests.apps import FIXTURES, SECOND_CAMPAIGN, Clock, run_cli_beside, start_app
from tests.drivers import Chat, invite_code, join, jpeg, register
from tests.factories import story
from tests.fakes.telegram_server import FakeTelegram

KIM_GIANG, HOA_SUA, LQD = (
    "Trường Tiểu học Kim Giang", "Trường Mầm non Hoa Sữa", "Trường THCS Lê Quý Đôn",
)  # fmt: skip

PRESCHOOLS_IN_ORDER = (
    "Hạ Đình",
    "Hoa Sữa",
    "Khương Đình",
    "Kim Giang",
    "Nhân Chính",
    "Thanh Xuân Bắc",
)


async def january(app: GuongSang, clock: Clock) -> None:
    """January 2024 in Thanh Xuân: on-time and late stories, and two just outside the month."""
    plan = [
        # (UTC moment, unit, status); Hà Nội is UTC+7.
        (datetime(2024, 1, 5, 2, 0), KIM_GIANG, "approved"),  # on time
        (datetime(2024, 1, 20, 2, 0), KIM_GIANG, "submitted"),  # late
        (datetime(2024, 1, 14, 16, 30), HOA_SUA, "in_review"),  # 14/1 23:30 local: on time
        (datetime(2024, 1, 14, 17, 30), LQD, "honoured"),  # 15/1 00:30 local: late
        # 31/12 23:00 local: after December's deadline, so it counts toward January's.
        (datetime(2023, 12, 31, 16, 0), KIM_GIANG, "approved"),
        (datetime(2024, 1, 31, 17, 10), LQD, "approved"),  # 1/2 00:10 local
    ]
    for n, (moment, unit, status) in enumerate(plan, start=1):
        clock.moment = moment.replace(tzinfo=UTC)
        await story(app, code=f"GS-2024-{n:04d}", unit_name=unit, status=status)
    clock.moment = datetime(2024, 2, 2, 3, 0, tzinfo=UTC)


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "GUONGSANG_DATA_DIR": str(settings.data_dir),
        "GUONGSANG_DATABASE_URL": settings.resolved_database_url,
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
    }


async def test_monthly_report_cli(
    app: GuongSang, clock: Clock, settings: Settings, tmp_path: Path
) -> None:
    await january(app, clock)
    env = cli_env(settings)
    table = await run_cli_beside(
        env, "report", "monthly", "--campaign", "thanh-xuan-2024", "--month", "2024-01"
    )
    assert table.returncode == 0, table.stderr
    lines = {line.split("  ")[0].strip(): line for line in table.stdout.splitlines()}
    assert "Đạt: 2/24 đơn vị" in table.stdout, "the 24 schools of the office; unions excluded"
    # Levels by name, as the chat says them.
    # The last three columns: stories nominated up, the month's exemplar (none chosen here),
    # stories posted on the school's website.
    assert lines[KIM_GIANG].split()[-11:-3] == ["Tiểu", "học", "2", "2", "1", "1", "0", "Đạt"]
    assert lines[HOA_SUA].split()[-11:] == [
        "Mầm", "non", "1", "1", "1", "0", "0", "Đạt", "0", "—", "0"
    ]  # fmt: skip
    assert lines[LQD].split()[-11:-3] == ["THCS", "1", "0", "1", "1", "1", "Chưa", "đạt"]
    assert lines["Trường THCS Kim Giang"].split()[-11:-3] == [
        "THCS",
        "0",
        "0",
        "0",
        "0",
        "0",
        "Chưa",
        "đạt",
    ]

    out = tmp_path / "thang-01.csv"
    assert (
        await run_cli_beside(
            env,
            "report",
            "monthly",
            "--campaign",
            "thanh-xuan-2024",
            "--month",
            "2024-01",
            "--format",
            "csv",
            "--output",
            str(out),
        )
    ).returncode == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][0] == "Đơn vị" and rows[0][-4:] == [
        "Đạt chỉ tiêu", "Đề cử lên", "Gương tháng", "Bài đăng website"
    ]  # fmt: skip
    by_unit = {r[0]: r for r in rows[1:]}
    assert by_unit[HOA_SUA] == [HOA_SUA, "Mầm non", "1", "1", "1", "0", "0", "Đạt", "0", "—", "0"]

    book = tmp_path / "thang-01.xlsx"
    assert (
        await run_cli_beside(
            env,
            "report",
            "monthly",
            "--campaign",
            "thanh-xuan-2024",
            "--month",
            "2024-01",
            "--format",
            "xlsx",
            "--output",
            str(book),
        )
    ).returncode == 0
    sheet = load_workbook(book).active
    assert sheet.title == "Báo cáo tháng"
    assert sheet["A1"].value.startswith("Báo cáo tháng 01/2024")
    cells = {row[0]: row for row in sheet.iter_rows(min_row=3, values_only=True)}
    assert cells[LQD] == (LQD, "THCS", 1, 0, 1, 1, 1, "Chưa đạt", 0, "—", 0)
    # Vietnamese alphabetical order within each level (code points put "Hoa" before "Hạ").
    units = [row[0] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert units[:6] == [f"Trường Mầm non {name}" for name in PRESCHOOLS_IN_ORDER]
    assert units[6:9] == [
        f"Trường Tiểu học {name}" for name in ("Hạ Đình", "Khương Đình", "Khương Mai")
    ]
    assert [row[0] for row in csv.reader(out.read_text(encoding="utf-8-sig").splitlines())][
        1:
    ] == units
    # Printed on A4 landscape, one page wide, the header row on every page; rows sized.
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert (sheet.page_setup.fitToWidth, sheet.page_setup.fitToHeight) == (1, 0)
    assert sheet.print_title_rows == "$2:$2"
    assert all(sheet.row_dimensions[r].height for r in range(1, sheet.max_row + 1))

    assert (
        await run_cli_beside(env, "report", "monthly", "--campaign", "nope", "--month", "2024-01")
    ).returncode == 2
    assert (
        await run_cli_beside(
            env, "report", "monthly", "--campaign", "thanh-xuan-2024", "--month", "2024-13"
        )
    ).returncode == 2
    counts = (await run_cli_beside(env, "campaigns")).stdout
    assert "thanh-xuan-2024" in counts and "duyệt 3" in counts and "tuyên dương 1" in counts
    assert "cần sửa 0" in counts, "stories sent back are counted too, as in the chat"


async def test_the_quota_counts_what_the_school_sent_on_before_the_deadline(
    app: GuongSang, clock: Clock
) -> None:
    async def confirmed(sub_id: int, at: datetime) -> None:
        async with app.db.transaction() as session:
            await events.record(
                session,
                at=at,
                subject="submission",
                subject_id=sub_id,
                action="unit_confirmed",
                actor_id=None,
                channel="telegram",
            )

    # Written on 10/1 and still with the principal on the 15th: not sent to the office.
    clock.moment = datetime(2024, 1, 10, 2, 0, tzinfo=UTC)
    await story(app, code="GS-2024-0101", unit_name=LQD, status="submitted")
    # Written on 20/12 and confirmed on 3/1: sent on in January's window.
    clock.moment = datetime(2023, 12, 20, 2, 0, tzinfo=UTC)
    late = await story(app, code="GS-2024-0102", unit_name=KIM_GIANG, status="in_review")
    await confirmed(late.id, datetime(2024, 1, 3, 2, 0, tzinfo=UTC))
    # Confirmed on 15/1 00:30 local: too late for January, in time for February.
    clock.moment = datetime(2024, 1, 12, 2, 0, tzinfo=UTC)
    edge = await story(app, code="GS-2024-0103", unit_name=HOA_SUA, status="in_review")
    await confirmed(edge.id, datetime(2024, 1, 14, 17, 30, tzinfo=UTC))

    campaign = app.services.campaign("thanh-xuan-2024")
    assert campaign is not None

    async def month(first_day: date) -> dict[str, reports.UnitMonth]:
        async with app.db.transaction() as session:
            rows = await reports.monthly(
                session, campaign, app.services.campaign_ids[campaign.slug], first_day,
                app.services.tz, None,
            )  # fmt: skip
        return {r.unit.name: r for r in rows}

    january = await month(date(2024, 1, 1))
    assert (january[LQD].submitted, january[LQD].on_time, january[LQD].met) == (1, 0, False)
    assert (january[KIM_GIANG].submitted, january[KIM_GIANG].on_time) == (0, 1)
    assert january[KIM_GIANG].met and not january[HOA_SUA].met
    assert (await month(date(2024, 2, 1)))[HOA_SUA].on_time == 1
    # The contest opened on 20/9, after September's deadline: September asks for nothing.
    september = await month(date(2023, 9, 1))
    assert all(r.quota == 0 and r.met for r in september.values())
    assert (await month(date(2023, 10, 1)))[LQD].quota == 1
    # It closed on 3/4, before April's deadline: April asks for nothing; March did.
    assert (await month(date(2024, 3, 1)))[LQD].quota == 1
    assert all(r.quota == 0 for r in (await month(date(2024, 4, 1))).values())


async def test_report_and_campaigns_in_chat(
    app: GuongSang, clock: Clock, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    await january(app, clock)
    admin = Chat(telegram.user(999, "Quản trị"))
    text = await admin.send("/report 2024-01")
    assert "Báo cáo tháng 01/2024" in text and "Đạt: 2/24 đơn vị" in text
    assert f"⚠️ {LQD}: 1 bài (đúng hạn 0)" in text
    text = await admin.send("/campaigns")
    assert "thanh-xuan-2024" in text and "duyệt 3" in text

    head = Chat(telegram.user(201, "Bình"))
    await join(head, await invite_code(app, "unit_head", KIM_GIANG))
    text = await head.send("/report 01/2024")
    assert "Đạt: 1/1 đơn vị" in text and f"✅ {KIM_GIANG}: 2 bài (đúng hạn 2)" in text
    assert HOA_SUA not in text
    assert "không phải tháng" in await head.send("/report tháng-giêng")
    assert "Chỉ quản trị viên" in await head.send("/campaigns")
    stranger = Chat(telegram.user(202, "Lạ"))
    assert "dành cho quản trị viên" in await stranger.send("/report")


async def test_a_months_report_is_of_the_campaign_of_that_month(
    settings: Settings, clock: Clock, telegram: FakeTelegram, tmp_path: Path
) -> None:
    config = tmp_path / "campaigns.toml"
    config.write_text((FIXTURES / "campaigns.toml").read_text() + SECOND_CAMPAIGN)
    app = await start_app(settings.model_copy(update={"config": config}), clock)
    channel = TelegramChannel(app, telegram.token, telegram.api_root, poll_timeout=1)
    await channel.start()
    telegram.settled = app.settled  # answers are read until the app settles
    try:
        await january(app, clock)
        # October 2024: next year's contest is open, and an office files January's report late.
        clock.moment = datetime(2024, 10, 10, 3, 0, tzinfo=UTC)
        admin = Chat(telegram.user(999, "Quản trị"))
        text = await admin.send("/report 2024-01")
        assert "năm 2024" in text and "Đạt: 2/24 đơn vị" in text
        text = await admin.send("/report 2024-10")
        assert "năm 2025" in text and "Đạt: 0/24 đơn vị" in text
    finally:
        await channel.stop()
        await app.close()


async def test_outside_the_campaign_dates_is_refused_with_the_dates(
    app: GuongSang, clock: Clock, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    await teacher.send("/new")
    await teacher.send("Nguyễn Thị Lan")
    # The contest closes on 3 April 2024; the draft is finished a day later.
    clock.moment = datetime(2024, 4, 4, 3, 0, tzinfo=UTC)
    await teacher.send("/cancel")
    text = await teacher.send("/new")
    assert "chưa có đợt thi đua nào đang nhận bài" in text
    assert "từ 20/09/2023 đến 03/04/2024" in text
    await teacher.send("/continue")
    await teacher.send("Phường Kim Giang, quận Thanh Xuân")
    await teacher.press("An toàn trường học")
    await teacher.send("Tiêu đề bài viết")
    await teacher.send("Cô Lan dạy học miễn phí.")
    await teacher.press("Xong phần bài viết")
    await teacher.user.send_photo(jpeg(3))
    await teacher.replies()
    await teacher.press("Xong phần ảnh")
    text = await teacher.press("Gửi bài")
    assert "chỉ nhận bài từ 20/09/2023 đến 03/04/2024" in text and "04/04/2024" in text
    assert "Bài nháp vẫn được lưu" in text


async def test_no_unit_of_the_campaigns_organisation_is_said_not_listed_as_every_unit(
    app: GuongSang, settings: Settings, tmp_path: Path
) -> None:
    campaign = app.services.campaign("thanh-xuan-2024")
    assert campaign is not None
    elsewhere = replace(campaign, organisation="Phòng GDĐT quận Hà Đông")  # no unit imported
    async with app.db.transaction() as session:
        rows = await reports.monthly(
            session, elsewhere, app.services.campaign_ids[campaign.slug], date(2024, 1, 1),
            app.services.tz,
        )  # fmt: skip
    assert rows == []

    config = tmp_path / "campaigns.toml"
    config.write_text(
        (FIXTURES / "campaigns.toml")
        .read_text()
        .replace(
            'organisation = "Phòng GDĐT quận Thanh Xuân"',
            'organisation = "Phòng GDĐT quận Hà Đông"',
            1,
        )
    )
    out = tmp_path / "thang-01.xlsx"
    env = cli_env(settings) | {"GUONGSANG_CONFIG": str(config)}
    result = await run_cli_beside(
        env, "report", "monthly", "--campaign", "thanh-xuan-2024", "--month", "2024-01",
        "--format", "xlsx", "--output", str(out),
    )  # fmt: skip
    assert result.returncode == 1
    assert "Không có đơn vị nào thuộc «Phòng GDĐT quận Hà Đông»" in result.stderr
    assert not out.exists()
