"""The nomination ladder on Zalo, where there are no buttons: the offices send a story up and
decide by number or by a command typed with its code, checked exactly like presses."""

from __future__ import annotations

import httpx

from bot.app import GuongSang
from bot.channels.telegram.channel import TelegramChannel
from tests.drivers import Chat, introduce, invite_code, register, submit_story, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.zalo_server import FakeZalo
from tests.test_ladder_telegram import (
    CITY,
    DISTRICT,
    HOME_AFFAIRS,
    SCHOOL,
    ladder_log,
    nominations,
    settings,  # noqa: F401  (the campaigns file with the ladder)
)
from tests.test_zalo_review import tg  # noqa: F401  (the teacher writes on Telegram)
from tests.zalo_drivers import ZaloChat


async def on_zalo(app: GuongSang, chat: ZaloChat, name: str, **invite: str) -> ZaloChat:
    role = "unit_head" if "unit_name" in invite else "reviewer"
    await chat.send(f"/join {await invite_code(app, role, **invite)}")
    await introduce(chat, name, "Hiệu trưởng" if role == "unit_head" else "Chuyên viên")
    return chat


async def district_and_home_affairs(app: GuongSang, zalo: FakeZalo) -> tuple[ZaloChat, ZaloChat]:
    """The district office (level 1) and the Home Affairs office (level 2), joined on Zalo."""
    district = await on_zalo(
        app, ZaloChat(zalo.user("b0b0c3d4e5f601234567", "Thu")), "Vũ Thị Thu",
        organisation=DISTRICT,
    )  # fmt: skip
    home = await on_zalo(
        app, ZaloChat(zalo.user("c0c0c3d4e5f601234567", "Nam")), "Trần Văn Nam",
        organisation=HOME_AFFAIRS,
    )  # fmt: skip
    return district, home


async def test_typed_commands_send_a_story_up_back_and_up_again(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    telegram: FakeTelegram,
    tg: TelegramChannel,  # noqa: F811
) -> None:
    app = zalo_app
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    principal = await on_zalo(
        app, ZaloChat(zalo.user("a0a0c3d4e5f601234567", "Bình")), "Nguyễn Văn Bình",
        unit_name=SCHOOL,
    )  # fmt: skip
    district, home = await district_and_home_affairs(app, zalo)
    city = await on_zalo(
        app, ZaloChat(zalo.user("d0d0c3d4e5f601234567", "Minh")), "Lê Văn Minh",
        organisation=CITY,
    )  # fmt: skip

    code = await submit_story(teacher)
    await principal.replies()
    assert "Đã ghi nhận" in await principal.send(f"/xacnhan {code}")
    await district.replies()
    await teacher.replies()
    answer = await district.send(f"/duyet {code}")
    assert f"⬆️ Chọn gửi lên {HOME_AFFAIRS}" in answer
    await teacher.replies()
    # Only the district office sends up from its level; nothing waits at the level above.
    assert "không có quyền" in await home.send(f"/guilen {code} Thử gửi vượt cấp")
    assert "không chờ cấp nào" in await district.send(f"/chon {code}")

    # The city cannot read the history of a story that has not reached it.
    assert "Lịch sử bài" not in await city.send(f"/history {code}")
    assert "ghi chú đề cử" in await district.choose("Chọn gửi lên")
    assert f"được gửi lên {HOME_AFFAIRS}" in await district.send("Gương tiêu biểu tháng 1.")
    assert f"được chọn gửi lên {HOME_AFFAIRS}" in text_of(await teacher.replies())
    card = await home.replies()
    assert f"/chon {code}" in "\n".join(m.text or "" for m in card)
    # Not selected here yet, so not ready to go further; and the district cannot decide here.
    assert "chưa được chọn ở cấp này" in await home.send(f"/guilen {code} Gửi tiếp luôn")
    assert "không có quyền" in await district.send(f"/chon {code}")

    assert f"{HOME_AFFAIRS} chọn bài {code}" in await home.send(f"/chon {code}")
    assert f"được {HOME_AFFAIRS} chọn" in text_of(await teacher.replies())
    assert "đã được" in await home.send(f"/chon {code}"), "one decision per level"
    answer = await home.send(f"/guilen {code} Đề nghị dự thi cấp Thành phố.")
    assert f"được gửi lên {CITY}" in answer
    await teacher.replies()
    card = "\n".join(m.text or "" for m in await city.replies())
    assert "Gương tiêu biểu tháng 1." in card and "Đề nghị dự thi cấp Thành phố." in card
    # The Home Affairs office cannot decide at the city level.
    assert "không có quyền" in await home.send(f"/chon {code}")

    # The city sends it back; the office that sent it is told, and sends it again.
    assert "trả lại cấp dưới" in await city.send(f"/tracapduoi {code} Cần thêm minh chứng.")
    told = "\n".join(m.text or "" for m in await home.replies())
    assert "Cần thêm minh chứng." in told and code in told
    answer = await home.send(f"/guilen {code} Đã bổ sung minh chứng.")
    assert f"được gửi lên {CITY}" in answer
    await teacher.replies()
    await city.replies()
    assert f"{CITY} chọn bài" in await city.send(f"/chon {code}")
    assert f"được {CITY} chọn" in text_of(await teacher.replies())

    assert await nominations(app, code) == [(1, "selected"), (2, "selected")]
    history = await city.send(f"/history {code}")
    assert f"Lịch sử bài {code}" in history
    assert f"Chọn gửi lên {HOME_AFFAIRS} · Vũ Thị Thu" in history
    assert f"Trả lại cấp dưới, từ {CITY} · Lê Văn Minh" in history
    assert f"Được chọn ở {CITY} · Lê Văn Minh" in history
    assert [(a, r, d["level"]) for a, r, d in await ladder_log(app, code)] == [
        ("ladder_nominated", "Gương tiêu biểu tháng 1.", 1),
        ("ladder_selected", None, 1),
        ("ladder_nominated", "Đề nghị dự thi cấp Thành phố.", 2),
        ("ladder_returned", "Cần thêm minh chứng.", 2),
        ("ladder_nominated", "Đã bổ sung minh chứng.", 2),
        ("ladder_selected", None, 2),
    ]


async def test_a_number_after_two_cards_asks_for_the_code(
    zalo_app: GuongSang,
    zalo: FakeZalo,
    zalo_web: httpx.AsyncClient,
    telegram: FakeTelegram,
    tg: TelegramChannel,  # noqa: F811
) -> None:
    app = zalo_app
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    district, home = await district_and_home_affairs(app, zalo)
    codes = []
    for title in ("Cô giáo của những buổi chiều thứ Bảy", "Người thầy trên bản"):
        code = await submit_story(teacher, title=title)
        # No unit head here: an admin confirms for the unit, as the review allows.
        admin = Chat(telegram.user(999, "Quản trị"))
        await admin.replies()
        await admin.send(f"/xacnhan {code}")
        await district.replies()
        await district.send(f"/duyet {code}")
        await district.send(f"/guilen {code} Gương tiêu biểu.")
        codes.append(code)
    await home.replies(min_count=2)
    answer = await home.send("1")
    assert "Vừa có nhiều bài" in answer and "/chon" in answer
    assert await nominations(app, codes[0]) == [(1, "pending")]
    assert await nominations(app, codes[1]) == [(1, "pending")]
    assert f"{HOME_AFFAIRS} chọn bài {codes[0]}" in await home.send(f"/chon {codes[0]}")
    assert await nominations(app, codes[0]) == [(1, "selected")]
