"""Every channel offers the web editor at the story step: a plain URL on Zalo and in the
console, a Mini App (web_app) button on Telegram when the site is https; the link opens that
person's draft."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.app import GuongSang
from bot.channels.console.channel import ConsoleChannel
from bot.settings import Settings
from bot.web.links import verify_editor
from handlers.types import Reply, WebLink, payload_to_reply, reply_to_payload
from tests.apps import Clock, start_app
from tests.drivers import Chat, fill_until_story, register, to_story_step, typed
from tests.fakes.telegram_server import FakeTelegram
from tests.zalo_drivers import ZaloChat, register_on_zalo

LINK = re.compile(r"✍️ Viết trên trang web: (\S+/editor/\S+)")


async def test_zalo_shows_the_link_as_a_line_that_opens_the_draft(
    zalo_app: GuongSang, zalo: object, zalo_web: httpx.AsyncClient
) -> None:
    teacher = ZaloChat(zalo.user("a1b2c3d4e5f601234567", "Hoa"))  # type: ignore[attr-defined]
    await register_on_zalo(teacher)
    await teacher.send("/new")
    await teacher.send("Nguyễn Thị Lan")
    await teacher.send("Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội")
    await teacher.choose("An toàn trường học")
    prompt = await teacher.send("Cô giáo của những buổi chiều thứ Bảy")

    assert "Bước 5" in prompt
    found = LINK.search(prompt)
    assert found, prompt
    url = found.group(1)
    assert url.startswith(zalo_app.settings.public_url + "/editor/")
    page = await zalo_web.get(url.removeprefix(zalo_app.settings.public_url))
    assert page.status_code == 200
    assert "Cô giáo của những buổi chiều thứ Bảy" in page.text


async def test_the_console_prints_the_link(app: GuongSang) -> None:
    await to_story_step(app, "hoa")
    response = await app.handle(typed("hoa", "/continue"))
    asked = response.replies[-1]
    assert asked.link is not None
    token = asked.link.url.removeprefix(f"{app.settings.public_url}/editor/")
    grant = verify_editor(token, app.settings.secret_key, app.services.now())
    assert grant is not None
    out = io.StringIO()
    ConsoleChannel(app, "hoa", stdin=io.StringIO(), stdout=out).render(response)
    assert f"✍️ Viết trên trang web: {asked.link.url}" in out.getvalue()


@pytest.fixture
async def https_app(settings: Settings, clock: Clock) -> AsyncIterator[GuongSang]:
    """The application as deployed behind https (Telegram opens only https Mini Apps)."""
    application = await start_app(
        settings.model_copy(update={"public_url": "https://guongsang.example.vn"}), clock
    )
    yield application
    await application.close()


async def test_telegram_offers_a_mini_app_button_on_https(
    https_app: GuongSang, telegram: FakeTelegram
) -> None:
    from bot.channels.telegram.channel import TelegramChannel

    tg = TelegramChannel(https_app, telegram.token, telegram.api_root, poll_timeout=1)
    await tg.start()
    telegram.settled = https_app.settled  # answers are read until the app settles
    try:
        chat = Chat(telegram.user(101, "Hoa"))
        await register(chat)
        prompt = await fill_until_story(chat)
        assert "Bước 5" in prompt and "/editor/" not in prompt
        message = chat.user.messages()[-1]
        rows = message.reply_markup["inline_keyboard"]  # type: ignore[index]
        button = rows[0][0]
        assert button["text"] == "✍️ Viết trên trang web"
        url = button["web_app"]["url"]
        assert url.startswith("https://guongsang.example.vn/editor/") and url.endswith("?tg=1")
        token = url.removeprefix("https://guongsang.example.vn/editor/").removesuffix("?tg=1")
        grant = verify_editor(token, https_app.settings.secret_key, https_app.services.now())
        assert grant is not None
        # The chat's menu button opens the Mini App's entry, which checks initData.
        assert telegram.menu_button == {
            "type": "web_app",
            "text": "✍️ Viết trên trang web",
            "web_app": {"url": "https://guongsang.example.vn/editor/telegram"},
        }
    finally:
        await tg.stop()


async def test_telegram_writes_the_link_out_without_https(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    chat = Chat(telegram.user(102, "Lan"))
    await register(chat, "Trần Thị Lan")
    prompt = await fill_until_story(chat)
    assert LINK.search(prompt), prompt
    assert all("web_app" not in str(m.reply_markup) for m in chat.user.messages())
    assert telegram.menu_button is None


def test_a_queued_reply_keeps_its_link(tmp_path: Path) -> None:
    reply = Reply("Bước 5", link=WebLink("✍️ Viết trên trang web", "https://x.vn/editor/1.2.3.a"))
    assert payload_to_reply(reply_to_payload(reply, tmp_path), tmp_path).link == reply.link
    plain = Reply("Không có liên kết")
    assert payload_to_reply(reply_to_payload(plain, tmp_path), tmp_path).link is None
