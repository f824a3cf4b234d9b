"""People with neither Telegram nor Zalo: a one-time web invitation (CLI or /invite) opens a
personal page where they register, write (the long story in the editor), send photos and submit
with the same form, checks and review path as a chat; the page shows where the story stands.
Over HTTP against the real Starlette app."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from bot.app import GuongSang
from bot.web import create_web_app
from storage import submissions as repo
from storage.models import Event, Identity, OutboxMessage, Submission
from tests.apps import FIXTURES, run_cli_beside
from tests.drivers import Chat, invite_code, jpeg, register, text_of
from tests.fakes.telegram_server import FakeTelegram
from tests.web_drivers import SCHOOL, joined, to_photos


@pytest.fixture
async def web(app: GuongSang) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_web_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_a_person_with_neither_app_registers_writes_and_submits(
    app: GuongSang, web: httpx.AsyncClient, sample_story: str
) -> None:
    page = await joined(web, await invite_code(app, "web"))
    assert "Bắt đầu" in page.html

    text = await page.press("Bắt đầu")
    assert "họ và tên" in text.lower(), text
    await page.send("Phạm Thị Thu")
    text = await page.send("thcs le quy don")
    assert f"Đã chọn đơn vị {SCHOOL}" in text, text
    assert "gõ số điện thoại" in text and "Bấm nút" not in text, text  # no share button here
    text = await page.send("0912 345 678")
    assert "Đã lưu thông tin" in text, text

    text = await page.press("Viết bài mới")
    assert "Bước 1" in text, text
    await page.send("Nguyễn Thị Lan")
    await page.send("Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội")
    await page.press("An toàn trường học")
    text = await page.send("Cô giáo của những buổi chiều thứ Bảy")
    assert "Bước 5" in text
    # The long story goes in the editor, from the link on the page.
    editor = re.search(r'<a class="web" href="[^"]*(/editor/[^"]+)">', page.html)
    assert editor, page.html
    form = await web.get(editor.group(1))
    csrf = re.search(r'data-csrf="([0-9a-f]+)"', form.text)
    assert csrf
    headers = {"X-CSRF-Token": csrf.group(1)}
    saved = await web.post(f"{editor.group(1)}/save", json={"story": sample_story}, headers=headers)
    assert saved.json()["ok"] is True
    assert (await web.post(f"{editor.group(1)}/done", headers=headers)).status_code == 200
    await page.load()
    text = page.text()
    assert "Đã nhận bài viết từ trang web: 370 / 2.000 từ" in text
    assert "Bước 6" in text
    assert 'id="photo-upload"' in page.html

    for seed in (1, 2, 2):
        sent = await web.post(
            f"{page.path}/photo",
            content=jpeg(seed),
            headers={"X-CSRF-Token": page.csrf, "Content-Type": "image/jpeg"},
        )
        assert sent.status_code == 204
    await page.load()
    text = page.text()
    assert "trùng" in text and "2 / 10" in text, text
    text = await page.press("Xong phần ảnh")
    assert "370 / 2.000 từ" in text and "2 ảnh" in text, text
    text = await page.press("Gửi bài")
    assert "GS-2024-0001" in text, text

    async with app.db.transaction() as session:
        story = await session.scalar(select(Submission).where(Submission.code == "GS-2024-0001"))
        assert story is not None
        assert story.status == repo.SUBMITTED and story.channel == "web"
        assert story.values["_author"]["full_name"] == "Phạm Thị Thu"
        joined_event = await session.scalar(select(Event).where(Event.action == "joined_on_web"))
        assert joined_event is not None and joined_event.channel == "web"
        # Nothing is queued for the web person: they look at their page.
        identity = await session.scalar(select(Identity).where(Identity.channel == "web"))
        assert identity is not None and identity.chat_id is None
        queued = (await session.scalars(select(OutboxMessage))).all()
        assert all(m.channel != "web" for m in queued)
    text = await page.press("Bài của tôi")
    assert "GS-2024-0001" in text and "chờ" in text.lower(), text


async def test_the_unit_head_gets_the_web_story_like_any_other(
    app: GuongSang, web: httpx.AsyncClient, telegram: FakeTelegram, channel: object
) -> None:
    principal = Chat(telegram.user(201, "Bình"))
    await principal.send(f"/start {await invite_code(app, 'unit_head', SCHOOL)}")
    page = await joined(web, await invite_code(app, "web"))
    await to_photos(page)
    await web.post(
        f"{page.path}/photo",
        content=jpeg(7),
        headers={"X-CSRF-Token": page.csrf, "Content-Type": "image/jpeg"},
    )
    await page.load()
    await page.press("Xong phần ảnh")
    assert "GS-2024-0001" in await page.press("Gửi bài")
    app.delivery.kick()
    card = text_of(await principal.replies())
    assert "GS-2024-0001" in card and "Phạm Thị Thu" in card, card
    before = await page.press("Bài của tôi")
    assert "Đang chờ chấm" not in before, before
    await principal.press("Xác nhận")
    text = await page.press("Bài của tôi")
    assert "GS-2024-0001" in text and "Đang chờ chấm" in text, text


async def test_bad_invitations_links_and_posts_are_refused(
    app: GuongSang, web: httpx.AsyncClient, telegram: FakeTelegram, channel: object
) -> None:
    code = await invite_code(app, "web")
    page = await joined(web, code)
    # Used once: the invitation opens nothing more.
    again = await web.get(f"/join/{code}")
    assert again.status_code == 410 and "đã được dùng" in again.text
    assert (await web.get("/join/XXXXXXXX")).status_code == 410
    # A role's code is for a chat; a web code typed in a chat is explained, not granted.
    role_code = await invite_code(app, "reviewer", levels="MN")
    assert (await web.get(f"/join/{role_code}")).status_code == 410
    chat = Chat(telegram.user(301, "Thu"))
    text = await chat.send(f"/join {await invite_code(app, 'web')}")
    assert "trang web" in text and "không dùng Telegram hay Zalo" in text, text
    # Accepting without the page's token, a forged personal link, a post without the token.
    assert (await web.post(f"/join/{role_code}", data={"csrf": "0" * 64})).status_code == 403
    token = page.path.removeprefix("/me/")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await web.get(f"/me/{forged}")).status_code == 403
    refused = await web.post(page.path, data={"csrf": "0" * 64, "text": "/start"})
    assert refused.status_code == 403
    assert (await web.post(f"{page.path}/photo", content=jpeg(1))).status_code == 403
    await page.load()
    assert "Bắt đầu" in page.html  # nothing happened
    # What people type comes back escaped (a unit search that finds nothing repeats it).
    await page.press("Bắt đầu")
    await page.send("Phạm Thị Thu")
    await page.send("<script>alert(1)</script>")
    assert "<script>alert(1)" not in page.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.html, page.text()


async def test_invitations_from_the_cli_and_the_chat(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    env = {
        "GUONGSANG_DATA_DIR": str(app.settings.data_dir),
        "GUONGSANG_DATABASE_URL": app.settings.resolved_database_url,
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
        "GUONGSANG_PUBLIC_URL": "https://guongsang.example.vn",
    }
    made = await run_cli_beside(env, "invite", "--role", "web", "--json")
    assert made.returncode == 0, made.stderr
    invite = json.loads(made.stdout)
    assert invite["link"] == f"https://guongsang.example.vn/join/{invite['code']}"
    plain = await run_cli_beside(env, "invite", "--role", "web")
    assert "Đường dẫn trang web: https://guongsang.example.vn/join/" in plain.stdout
    assert "/join " not in plain.stdout  # nothing to type in a chat

    admin = Chat(telegram.user(999, "Quản trị"))
    await admin.send("/invite")
    text = await admin.press("trên trang web")
    assert f"{app.settings.public_url}/join/" in text, text
    code = re.search(r"/join/([A-Z0-9]+)", text)
    assert code
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_web_app(app)), base_url="http://testserver"
    ) as web:
        assert (await web.get(f"/join/{code.group(1)}")).status_code == 200

    # A principal invites someone of their school; anyone else may not invite.
    principal = Chat(telegram.user(201, "Bình"))
    await principal.send(f"/start {await invite_code(app, 'unit_head', SCHOOL)}")
    text = await principal.send("/invite")
    assert f"{app.settings.public_url}/join/" in text and SCHOOL in text, text
    teacher = Chat(telegram.user(101, "Hoa"))
    await register(teacher)
    assert "Chỉ quản trị viên" in await teacher.send("/invite")


async def test_an_oversized_photo_is_refused_by_its_size(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    app.services.max_upload_bytes = 50_000
    page = await joined(web, await invite_code(app, "web"))
    await to_photos(page)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):  # no Content-Length: sent in pieces
            yield b"\xff" * 10_000

    for body in (b"\xff" * 60_000, chunks()):
        sent = await web.post(
            f"{page.path}/photo",
            content=body,
            headers={"X-CSRF-Token": page.csrf, "Content-Type": "image/jpeg"},
        )
        assert sent.status_code == 204
        await page.load()
        assert "Tệp quá lớn" in page.text() and "Hiện có 0 / 10" in page.text(), page.text()
