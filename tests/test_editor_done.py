""" "Xong" on the web editor: the Telegram chat that is writing the draft moves on past the
story, as its own "Xong phần bài viết" would, and says what the web saved (through the
outbox, to the fake Telegram server)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from bot.app import GuongSang
from bot.web import create_web_app
from bot.web.links import editor_path
from storage import submissions as repo
from storage.models import Conversation, Event, Identity
from tests.drivers import Chat, fill_until_story, jpeg, register, text_of
from tests.fakes.telegram_server import FakeTelegram


async def web_link(app: GuongSang, user_id: int) -> tuple[str, int]:
    """The editor link of the draft this Telegram user is writing, and the draft's id."""
    async with app.db.transaction() as session:
        person_id = await session.scalar(
            select(Identity.person_id).where(
                Identity.channel == "telegram", Identity.external_id == str(user_id)
            )
        )
        assert person_id is not None
        (draft,) = await repo.drafts_of(session, person_id)
    now, secret = app.services.now(), app.settings.secret_key
    return editor_path(person_id, draft.id, now, secret), draft.id


async def save_and_finish(app: GuongSang, path: str, story: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_web_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
        page = await web.get(path)
        found = re.search(r'data-csrf="([0-9a-f]+)"', page.text)
        assert found is not None
        headers = {"X-CSRF-Token": found.group(1)}
        saved = await web.post(f"{path}/save", json={"story": story}, headers=headers)
        assert saved.json()["ok"] is True
        return await web.post(f"{path}/done", json={}, headers=headers)


async def test_done_moves_the_chat_past_the_story(
    app: GuongSang, telegram: FakeTelegram, channel: object, sample_story: str
) -> None:
    chat = Chat(telegram.user(101, "Hoa"))
    await register(chat)
    await fill_until_story(chat)
    path, draft_id = await web_link(app, 101)

    answer = await save_and_finish(app, path, sample_story)

    assert answer.status_code == 200, answer.text
    assert "370 / 2.000 từ" in answer.json()["message"]
    text = text_of(await chat.replies(min_count=2))
    assert "Đã nhận bài viết từ trang web: 370 / 2.000 từ" in text, text
    assert "Bước 6" in text, text
    async with app.db.transaction() as session:
        conv = await session.scalar(
            select(Conversation).where(
                Conversation.channel == "telegram", Conversation.chat_id == "101"
            )
        )
        assert conv is not None
        assert (conv.step, conv.data["index"], conv.data["submission_id"]) == ("form", 5, draft_id)
        done = await session.scalar(
            select(Event).where(Event.subject_id == draft_id, Event.action == "web_done")
        )
        assert done is not None and done.channel == "web" and done.data == {"words": 370}
    # The chat now takes photos, as after its own «Xong phần bài viết».
    await chat.photo(jpeg(1))
    text = text_of(await chat.replies())
    assert "1 / 10" in text, text


async def test_done_away_from_the_draft_only_tells(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    chat = Chat(telegram.user(102, "Lan"))
    await register(chat, "Trần Thị Lan")
    await fill_until_story(chat)
    path, _ = await web_link(app, 102)
    await chat.send("/cancel")  # the chat went on to something else

    answer = await save_and_finish(app, path, "Viết xong trên điện thoại.")

    assert answer.status_code == 200
    text = text_of(await chat.replies())
    assert "Đã nhận bài viết từ trang web: 5 / 2.000 từ" in text
    assert "/continue" in text
    text = await chat.send("/continue")
    assert "Bước 6" in text, text  # the story step counts as done


async def test_done_with_an_empty_story_is_refused(
    app: GuongSang, telegram: FakeTelegram, channel: object
) -> None:
    chat = Chat(telegram.user(103, "Minh"))
    await register(chat, "Lê Văn Minh")
    await fill_until_story(chat)
    path, _ = await web_link(app, 103)
    transport = httpx.ASGITransport(app=create_web_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
        page = await web.get(path)
        csrf = re.search(r'data-csrf="([0-9a-f]+)"', page.text)
        assert csrf is not None
        answer = await web.post(f"{path}/done", headers={"X-CSRF-Token": csrf.group(1)})
    assert answer.status_code == 409
    assert "chưa có nội dung" in answer.json()["message"]
