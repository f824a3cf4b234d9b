"""Daily nudges with a controlled clock: quota reminders on the 10th and 14th, reviewers'
digests, each at most once a day, even across a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import GuongSang
from bot.campaign_file import CampaignFileError, load_campaigns
from bot.channels.telegram.channel import TelegramChannel
from tests.apps import Clock, start_app
from tests.drivers import Chat, invite_code, join, text_of
from tests.factories import story
from tests.fakes.telegram_server import FakeTelegram

KIM_GIANG, HOA_SUA, LQD = (
    "Trường Tiểu học Kim Giang", "Trường Mầm non Hoa Sữa", "Trường THCS Lê Quý Đôn",
)  # fmt: skip


def at(day: int, hour: int = 9) -> datetime:
    """January 2024, `hour` o'clock in Hà Nội (UTC+7)."""
    return datetime(2024, 1, day, tzinfo=UTC) + timedelta(hours=hour - 7)


async def test_quota_reminders_and_digests(
    app: GuongSang, clock: Clock, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    heads = {}
    for uid, unit in ((201, KIM_GIANG), (202, HOA_SUA), (203, LQD)):
        heads[unit] = Chat(telegram.user(uid, "Hiệu trưởng"))
        await join(heads[unit], await invite_code(app, "unit_head", unit))
    reviewer = Chat(telegram.user(301, "Thu"))
    await join(reviewer, await invite_code(app, "reviewer", levels="TH,THCS"))
    clock.moment = at(3)
    await story(app, code="GS-2024-0001", unit_name=KIM_GIANG, status="submitted")
    await story(app, code="GS-2024-0002", unit_name=KIM_GIANG, status="in_review")

    clock.moment = at(10, hour=6)
    assert await app.run_daily_nudges() == (0, 0), "not before seven in the morning"
    clock.moment = at(10)
    # Below quota: Hoa Sữa and Lê Quý Đôn (nothing yet); Kim Giang sent two on the 3rd.
    assert await app.run_daily_nudges() == (2, 2)
    nudge = text_of(await heads[HOA_SUA].replies())
    assert "Nhắc chỉ tiêu tháng" in nudge and "0 / 1 bài" in nudge and "15/01/2024" in nudge
    assert "Nhắc chỉ tiêu" in text_of(await heads[LQD].replies())
    digest = text_of(await heads[KIM_GIANG].replies())
    assert "Bài đang chờ bạn hôm nay: 1 bài" in digest
    assert "GS-2024-0001" in digest and "chờ xác nhận" in digest
    digest = text_of(await reviewer.replies())
    assert "GS-2024-0002" in digest and "chờ chấm, 7 ngày" in digest
    assert await app.run_daily_nudges() == (0, 0), "once a day"

    # A restart the same day remembers what was sent.
    await channel.stop()
    await app.close()
    revived = await start_app(app.settings, clock, with_units=False)
    second = TelegramChannel(revived, telegram.token, telegram.api_root, poll_timeout=1)
    await second.start()
    telegram.settled = revived.settled  # answers are read until the app settles
    try:
        assert await revived.run_daily_nudges() == (0, 0)
        clock.moment = at(11)
        assert await revived.run_daily_nudges() == (0, 2), "the 11th is no reminder day"
        clock.moment = at(12)
        # A story waiting for its principal is not sent to the office yet; one gone on is.
        await story(revived, code="GS-2024-0003", unit_name=LQD, status="submitted")
        await story(revived, code="GS-2024-0004", unit_name=HOA_SUA, status="in_review")
        clock.moment = at(14)
        quota, _ = await revived.run_daily_nudges()
        assert quota == 1, "Hoa Sữa met its quota on the 12th; only Lê Quý Đôn is reminded"
        clock.moment = at(16)
        quota, _ = await revived.run_daily_nudges()
        assert quota == 0, "after the deadline day there is nothing left to remind"
    finally:
        await second.stop()
        await revived.close()


def test_reminder_days_in_the_campaigns_file(tmp_path: Path) -> None:
    base = (Path(__file__).parent / "fixtures" / "campaigns.toml").read_text(encoding="utf-8")
    good = tmp_path / "good.toml"
    good.write_text(
        base.replace("monthly_quota = 1", "monthly_quota = 1\nreminder_days = [12, 5]"),
        encoding="utf-8",
    )
    (spec,) = load_campaigns(good, datetime(2024, 1, 1).date())
    assert spec.reminder_days == (5, 12)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        base.replace("monthly_quota = 1", "monthly_quota = 1\nreminder_days = [31]"),
        encoding="utf-8",
    )
    with pytest.raises(CampaignFileError, match=r"campaigns\[0\]\.reminder_days"):
        load_campaigns(bad, datetime(2024, 1, 1).date())
