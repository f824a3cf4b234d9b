"""Dates and quota per ladder level (issue 20, item 1): a level takes stories only in its
window, at most `quota` a calendar month from the level below, and once it has closed it no
longer decides. Refusals are polite, say why, change nothing and are recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.campaign_file import CampaignFileError, load_campaigns
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from handlers import ladder_rules
from handlers.campaigns import CampaignSpec, LevelRule
from storage.models import Event as LogEvent
from tests.apps import Clock
from tests.drivers import Chat, invite_code, join, register
from tests.fakes.telegram_server import FakeTelegram
from tests.test_ladder_telegram import (
    DISTRICT,
    HOME_AFFAIRS,
    SCHOOL,
    approved_story,
    nominations,
    reviewer,
)
from tests.test_telegram_review import story

ORGANISATIONS = f"""
[[organisations]]
name = "{HOME_AFFAIRS}"

[[organisations]]
name = "{DISTRICT}"
parent = "{HOME_AFFAIRS}"
"""
CAMPAIGN = """
[[campaigns]]
slug = "thanh-xuan-2024"
title = "Cuộc thi viết về gương người tốt, việc tốt quận Thanh Xuân năm 2024"
organisation = "Phòng GDĐT quận Thanh Xuân"
opens = 2023-09-20
closes = 2024-04-03
focus_areas = ["An toàn trường học", "Chuyển đổi số trong lĩnh vực giáo dục"]
"""
# Home Affairs takes stories from 5 January to 15 February, one a month.
LADDER = (
    f'ladder = ["{DISTRICT}", '
    f'{{organisation = "{HOME_AFFAIRS}", opens = "2024-01-05", closes = "2024-02-15", '
    "quota = 1}]\n"
)


def spec(*rules: LevelRule) -> CampaignSpec:
    return CampaignSpec(
        slug="x",
        title="x",
        organisation=DISTRICT,
        opens=date(2023, 9, 20),
        closes=date(2024, 4, 3),
        ladder=tuple(r.organisation for r in rules),
        ladder_rules=rules,
    )


RULES = spec(LevelRule(DISTRICT), LevelRule(HOME_AFFAIRS, date(2024, 1, 5), date(2024, 2, 15), 2))


# ---------------------------------------------------------------- the rules alone


@pytest.mark.parametrize(
    ("today", "reason"),
    [
        (date(2024, 1, 4), ladder_rules.NOT_OPEN),
        (date(2024, 1, 5), None),
        (date(2024, 2, 15), None),
        (date(2024, 2, 16), ladder_rules.CLOSED),
    ],
)
def test_a_level_takes_stories_only_inside_its_window(today: date, reason: str | None) -> None:
    refusal = ladder_rules.send_up_refusal(RULES, 1, today, used=0)
    assert (refusal.reason if refusal else None) == reason


def test_the_quota_counts_what_was_sent_this_month() -> None:
    assert ladder_rules.send_up_refusal(RULES, 1, date(2024, 1, 10), used=1) is None
    refusal = ladder_rules.send_up_refusal(RULES, 1, date(2024, 1, 10), used=2)
    assert refusal is not None and refusal.reason == ladder_rules.QUOTA
    assert (refusal.used, refusal.quota, refusal.name) == (2, 2, HOME_AFFAIRS)
    assert ladder_rules.quota_applies(RULES, 1) and not ladder_rules.quota_applies(RULES, 0)


def test_a_closed_level_is_locked_and_a_plain_level_never_is() -> None:
    assert ladder_rules.lock_level(RULES, 1, date(2024, 2, 15)) is None
    locked = ladder_rules.lock_level(RULES, 1, date(2024, 2, 16))
    assert locked is not None and locked.closes == date(2024, 2, 15)
    assert ladder_rules.lock_level(RULES, 0, date(2030, 1, 1)) is None, "level 0 is the review"
    plain = spec(LevelRule(DISTRICT), LevelRule(HOME_AFFAIRS))
    assert ladder_rules.send_up_refusal(plain, 1, date(2030, 1, 1), used=99) is None
    assert plain.rule(1) == LevelRule(HOME_AFFAIRS)


# ---------------------------------------------------------------- the campaigns file


def write(tmp_path: Path, ladder: str) -> Path:
    path = tmp_path / "campaigns.toml"
    path.write_text(ORGANISATIONS + CAMPAIGN + ladder, encoding="utf-8")
    return path


def test_a_level_table_gives_its_dates_and_quota(tmp_path: Path) -> None:
    (campaign,) = load_campaigns(write(tmp_path, LADDER), date(2024, 1, 10))
    assert campaign.ladder == (DISTRICT, HOME_AFFAIRS), "names as before, for the old code"
    assert campaign.rule(0) == LevelRule(DISTRICT)
    assert campaign.rule(1) == LevelRule(HOME_AFFAIRS, date(2024, 1, 5), date(2024, 2, 15), 1)
    # TOML's own dates are taken as well as quoted ones, and every key is optional.
    native = f'ladder = ["{DISTRICT}", {{organisation = "{HOME_AFFAIRS}", closes = 2024-03-01}}]\n'
    (campaign,) = load_campaigns(write(tmp_path, native), date(2024, 1, 10))
    assert campaign.rule(1) == LevelRule(HOME_AFFAIRS, None, date(2024, 3, 1), None)


LEVEL_1 = rf"ladder\[1\] \(đợt 'thanh-xuan-2024', cấp 2 — {HOME_AFFAIRS}\)"


@pytest.mark.parametrize(
    ("level", "message"),
    [
        (f'{{organisation = "{HOME_AFFAIRS}", quota = 0}}', LEVEL_1 + r"\.quota: phải là số"),
        (f'{{organisation = "{HOME_AFFAIRS}", quota = "1"}}', LEVEL_1 + r"\.quota: phải là số"),
        (
            f'{{organisation = "{HOME_AFFAIRS}", opens = "05/01/2024"}}',
            LEVEL_1 + r"\.opens: '05/01/2024' không phải ngày dạng YYYY-MM-DD",
        ),
        (
            f'{{organisation = "{HOME_AFFAIRS}", opens = "2024-02-01", closes = "2024-01-01"}}',
            LEVEL_1 + r"\.closes: ngày kết thúc 2024-01-01 trước ngày mở 2024-02-01",
        ),
        (f'{{organisation = "{HOME_AFFAIRS}", han = 3}}', LEVEL_1 + r"\.han: khóa không được"),
        ("{quota = 3}", r"ladder\[1\] \(đợt 'thanh-xuan-2024', cấp 2\)\.organisation: thiếu"),
        # A name the file does not declare may be imported: checked at start, with the same
        # campaign and level (tests/test_organisations_import.py).
        ("3", r"ladder\[1\] .*: phải là tên tổ chức hoặc bảng"),
    ],
)
def test_a_wrong_level_names_the_campaign_and_the_level(
    tmp_path: Path, level: str, message: str
) -> None:
    with pytest.raises(CampaignFileError, match=message):
        load_campaigns(write(tmp_path, f'ladder = ["{DISTRICT}", {level}]\n'), date(2024, 1, 10))


def test_the_first_level_has_no_dates_of_its_own(tmp_path: Path) -> None:
    first = f'ladder = [{{organisation = "{DISTRICT}", quota = 2}}, "{HOME_AFFAIRS}"]\n'
    with pytest.raises(CampaignFileError, match=r"cấp 1 — .*cấp đầu là vòng chấm của đợt thi"):
        load_campaigns(write(tmp_path, first), date(2024, 1, 10))


# ---------------------------------------------------------------- in chat, end to end


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Letter 001's campaign whose Home Affairs level has a window and a quota of 1."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        config=write(tmp_path, LADDER),
        admins="telegram:999",
    )


class Cast:
    """A teacher, her principal, a district reviewer and a Home Affairs reviewer."""

    def __init__(self, teacher: Chat, principal: Chat, district: Chat, home: Chat) -> None:
        self.teacher, self.principal, self.district = teacher, principal, district
        self.home_affairs = home


async def refusals(app: GuongSang) -> list[tuple[str | None, dict]]:
    async with app.db.transaction() as session:
        rows = await session.scalars(
            select(LogEvent).where(LogEvent.action == "ladder_refused").order_by(LogEvent.id)
        )
        return [(e.reason, e.data) for e in rows]


async def test_window_quota_and_closed_level_in_chat(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel, clock: Clock
) -> None:
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = Chat(telegram.user(201, "Bình"))
    await join(principal, await invite_code(app, "unit_head", SCHOOL))
    cast = Cast(
        teacher,
        principal,
        await reviewer(app, Chat(telegram.user(301, "Thu")), DISTRICT),
        await reviewer(app, Chat(telegram.user(401, "Nam")), HOME_AFFAIRS),
    )
    clock.moment = datetime(2024, 1, 3, 3, 0, tzinfo=UTC)
    first = await approved_story(cast)  # type: ignore[arg-type]
    first_id = (await story(app, first)).id

    # Before the level opens: refused, with its dates, and nothing is sent.
    answer = await cast.district.press_raw(f"!n:up:{first_id}:1")
    assert "Xin lỗi" in answer and "từ 05/01/2024 đến 15/02/2024" in answer
    assert "chưa đến ngày nhận" in answer and "Không có gì thay đổi" in answer
    assert await nominations(app, first) == []

    # Inside the window: the first story of January goes up.
    clock.moment = datetime(2024, 1, 10, 3, 0, tzinfo=UTC)
    text = await cast.district.send(f"/guilen {first} Tấm gương tiêu biểu tháng 1.")
    assert f"được gửi lên {HOME_AFFAIRS}" in text
    assert await nominations(app, first) == [(1, "pending")]
    await cast.home_affairs.replies()

    # A second one the same month is over the quota: the message says used/total.
    second = await approved_story(cast)  # type: ignore[arg-type]
    second_id = (await story(app, second)).id
    answer = await cast.district.press_raw(f"!n:up:{second_id}:1")
    assert f"đã gửi đủ chỉ tiêu 1/1 bài lên {HOME_AFFAIRS}" in answer and second in answer
    text = await cast.district.send(f"/guilen {second} Gương thứ hai.")
    assert "chỉ tiêu 1/1" in text and "tháng sau" in text
    assert await nominations(app, second) == []

    # A new month gives a new quota, which two reviewers sending at once cannot pass.
    clock.moment = datetime(2024, 2, 2, 3, 0, tzinfo=UTC)
    third = await approved_story(cast)  # type: ignore[arg-type]
    colleague = await reviewer(app, Chat(telegram.user(302, "Hà")), DISTRICT)
    texts = await asyncio.gather(
        cast.district.send(f"/guilen {second} Tấm gương tiêu biểu tháng 2."),
        colleague.send(f"/guilen {third} Một tấm gương khác tháng 2."),
    )
    assert sum(f"được gửi lên {HOME_AFFAIRS}" in t for t in texts) == 1, texts
    assert sum("chỉ tiêu 1/1" in t for t in texts) == 1, texts
    if "chỉ tiêu 1/1" in texts[0]:
        second, third = third, second  # the one that went up is called second below
    second_id = (await story(app, second)).id
    assert await nominations(app, third) == []
    await cast.home_affairs.replies()

    # After the level closes, it can neither take stories nor decide: pending ones stay.
    clock.moment = datetime(2024, 2, 16, 3, 0, tzinfo=UTC)
    text = await cast.home_affairs.send(f"/chon {first}")
    assert f"vòng xét chọn của {HOME_AFFAIRS} đã kết thúc ngày 15/02/2024" in text
    answer = await cast.home_affairs.press_raw(f"!n:ok:{second_id}:1")
    assert "đã kết thúc ngày 15/02/2024" in answer
    assert await nominations(app, first) == [(1, "pending")]
    assert await nominations(app, second) == [(1, "pending")]

    reasons = [(r, d["level"], d["press"], d["organisation"]) for r, d in await refusals(app)]
    assert reasons == [
        ("not_open", 1, "up", HOME_AFFAIRS),
        ("quota", 1, "up", HOME_AFFAIRS),
        ("quota", 1, "up", HOME_AFFAIRS),
        ("quota", 1, "up", HOME_AFFAIRS),
        ("closed", 1, "ok", HOME_AFFAIRS),
        ("closed", 1, "ok", HOME_AFFAIRS),
    ]
    assert (await refusals(app))[1][1]["used"] == 1
    # The story's history tells the office why, in words.
    history = await cast.district.send(f"/history {first}")
    assert "Bước xét chọn bị từ chối" in history and "chưa đến ngày nhận bài" in history
    assert "cấp đã hết hạn xét chọn" in history


def test_the_campaigns_command_shows_each_level_s_dates_and_quota(tmp_path: Path) -> None:
    from templates import Texts

    (campaign,) = load_campaigns(write(tmp_path, LADDER), date(2024, 1, 10))
    text = Texts("cli", html=False).render("reports.campaigns", rows=[(campaign, True, {})])
    assert text.splitlines()[-1] == (
        f"  các cấp: {DISTRICT} → {HOME_AFFAIRS} (từ 05/01/2024 đến 15/02/2024, tối đa 1 bài/tháng)"
    )
