"""The union track of letter 002, end to end on Telegram with the shipped example file: a
union member submits, the grassroots union's chair confirms, the provincial civil-servant
union's reviewers decide and introduce the story up to the provincial federation of labour,
and the exemplar is honoured and spread to a subscriber."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from bot.settings import Settings
from tests.apps import REPO, Clock
from tests.drivers import Chat, invite_code, join, jpeg, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.test_ladder_telegram import up_card
from tests.test_telegram_review import card_of, story

GRASSROOTS = "Công đoàn Bệnh viện Đa khoa tỉnh"
PROVINCIAL = "Công đoàn Viên chức tỉnh Lai Châu"
FEDERATION = "Liên đoàn Lao động tỉnh Lai Châu"


@pytest.fixture
def clock() -> Clock:
    """15 October 2026 in Lai Châu: inside the example union campaign."""
    return Clock(datetime(2026, 10, 15, 3, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The campaigns file as shipped, with letter 002's union campaign in it."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        database_url=database_url,
        config=REPO / "campaigns.example.toml",
        admins="telegram:999",
    )


async def test_a_union_member_s_story_climbs_and_is_spread(
    app: GuongSang, telegram: FakeTelegram, channel: TelegramChannel
) -> None:
    # The sample units (the quick start's) hold grassroots unions of the provincial
    # civil-servant union; a member registers with hers, found without accents.
    member = Chat(telegram.user(701, "Mai"))
    await member.send("/start")
    await member.send("Lò Thị Mai")
    text = await member.send("cong doan benh vien da khoa")
    assert f"Đã chọn đơn vị {GRASSROOTS}" in text, text
    await member.user.send_contact("+84 912 345 678")
    assert "Đã lưu thông tin" in text_of(await member.replies())

    chair = Chat(telegram.user(702, "Dũng"))
    await join(chair, await invite_code(app, "unit_head", GRASSROOTS))
    provincial = Chat(telegram.user(703, "Hương"))
    await join(provincial, await invite_code(app, "reviewer", organisation=PROVINCIAL))
    federation = Chat(telegram.user(704, "Thắng"))
    await join(federation, await invite_code(app, "reviewer", organisation=FEDERATION))
    reader = Chat(telegram.user(705, "Bạn đọc"))
    assert "Đã đăng ký nhận tin" in await reader.send("/subscribe")

    # The Thanh Xuân contest is open too; she picks the union's, about a colleague.
    text = await member.send("/new")
    text = await member.press("CCVCLĐ tỉnh Lai Châu")
    assert "Bước 1" in text, text
    await member.send("Anh Vàng A Sử")
    await member.send("Bệnh viện Đa khoa tỉnh Lai Châu, phường Tân Phong, thành phố Lai Châu")
    await member.press("Cá nhân có nhiều sáng kiến")
    await member.send("Người số hóa hồ sơ bệnh án")
    await member.send("Anh Sử viết phần mềm tra cứu hồ sơ bệnh án, rút ngắn một nửa thời gian.")
    await member.press("Xong phần bài viết")
    await member.photo(jpeg(7))
    await member.replies()
    await member.press("Xong phần ảnh")
    text = await member.press("Gửi bài")
    assert "Chủ tịch công đoàn" in text and "Hiệu trưởng" not in text, text
    code = next(word for word in text.split() if word.startswith("GS-"))

    # The grassroots union's chair is named as such, and confirms.
    card = text_of(await chair.replies())
    assert "cần Chủ tịch công đoàn xác nhận" in card and code in card
    await chair.press("Xác nhận", card_of(chair, code))
    told = text_of(await member.replies())
    assert "Chủ tịch công đoàn xác nhận" in told and "Hiệu trưởng" not in told

    # The provincial union's reviewer approves, then introduces it up to the federation.
    await provincial.replies()
    assert "được duyệt" in await provincial.press("Duyệt", card_of(provincial, code))
    approved = await up_card(telegram, provincial, code, f"Chọn gửi lên {FEDERATION}")
    assert "ghi chú đề cử" in await provincial.press("Chọn gửi lên", approved)
    text = await provincial.send("Điển hình sáng kiến tiêu biểu của khối cơ quan tỉnh.")
    assert f"được gửi lên {FEDERATION}" in text
    card = text_of(await federation.replies())
    assert f"Bài được gửi lên {FEDERATION}" in card and f"{PROVINCIAL}: duyệt" in card
    await federation.press("Chọn", card_of(federation, code))
    told = text_of(await member.replies())
    assert f"được {FEDERATION} chọn" in told

    # The admin honours it; the subscriber receives the post.
    admin = Chat(telegram.user(999, "Quản trị"))
    await admin.send(f"/honour {code}")
    await admin.send("293/QĐ-LĐLĐ")
    await admin.send("10/10/2026")
    text = await admin.send("Sáng kiến số hóa hồ sơ bệnh án, rút ngắn một nửa thời gian.")
    assert "Tuyên dương và gửi" in text
    await admin.press("Tuyên dương và gửi")
    post = await telegram.wait_for(
        lambda _calls: next((m for m in reader.user.messages() if m.kind == "photo"), None),
        timeout=20,
    )
    assert "Vàng A Sử" in (post.caption or "") and "293/QĐ-LĐLĐ" in (post.caption or "")
    assert (await story(app, code)).status == "honoured"
