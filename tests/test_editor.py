"""The story editor over HTTP against the real Starlette app: the page is filled from the draft
the chat is writing, saves change that draft (recorded with channel "web"), the chat's limits
hold, and every bad link, missing CSRF token or flood is refused without showing any data."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, text

from bot.app import GuongSang
from bot.web import create_web_app
from bot.web.links import EDITOR_TTL, editor_path, sign_editor
from handlers.text_rules import count_words
from storage import conversations
from storage import submissions as repo
from storage.models import Event, Identity, Submission
from tests.backends import postgresql_only
from tests.drivers import to_story_step, typed

CHAT = "hoa"
PHONE = "0912345678"


@pytest.fixture
async def web(app: GuongSang) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the web app, in process (httpx's ASGI transport)."""
    transport = httpx.ASGITransport(app=create_web_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def draft_at_story(app: GuongSang, chat: str = CHAT) -> Submission:
    """Register `chat` in the console and fill the story form up to the story; its draft."""
    await to_story_step(app, chat)
    async with app.db.transaction() as session:
        person_id = await session.scalar(
            select(Identity.person_id).where(
                Identity.channel == "console", Identity.external_id == chat
            )
        )
        drafts = await repo.drafts_of(session, person_id)
    assert len(drafts) == 1
    return drafts[0]


def link(app: GuongSang, draft: Submission) -> str:
    return editor_path(draft.author_id, draft.id, app.services.now(), app.settings.secret_key)


async def open_page(web: httpx.AsyncClient, path: str) -> tuple[httpx.Response, str]:
    """The page and the CSRF token it carries."""
    page = await web.get(path)
    found = re.search(r'data-csrf="([0-9a-f]+)"', page.text)
    return page, found.group(1) if found else ""


async def opened_draft(app: GuongSang, web: httpx.AsyncClient) -> tuple[Submission, str, str]:
    """A draft at the story step, its editor path, and the CSRF token of its opened page."""
    draft = await draft_at_story(app)
    path = link(app, draft)
    _, csrf = await open_page(web, path)
    return draft, path, csrf


async def stored(app: GuongSang, draft_id: int) -> Submission:
    async with app.db.transaction() as session:
        found = await session.get(Submission, draft_id)
        assert found is not None
        return found


async def test_the_page_shows_the_draft_and_saves_into_it(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    draft = await draft_at_story(app)
    path = link(app, draft)
    page, csrf = await open_page(web, path)

    assert page.status_code == 200
    assert '<html lang="vi">' in page.text
    assert 'value="Cô giáo Lan"' in page.text
    assert "/ 2.000 từ" in page.text
    assert PHONE not in page.text  # the author's own number is not needed here
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert csrf

    story = "Cô Lan mở lớp học miễn phí\u00a0vào chiều thứ Bảy.\r\n\r\nCác em đến đông đủ."
    answer = await web.post(
        f"{path}/save", json={"title": "Cô giáo Lan ở Kim Giang", "story": story},
        headers={"X-CSRF-Token": csrf},
    )  # fmt: skip

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    assert sorted(body["stored"]) == ["story", "title"]
    assert body["words"] == 16 and body["limit"] == 2000
    saved = await stored(app, draft.id)
    assert saved.values["title"] == "Cô giáo Lan ở Kim Giang"
    assert saved.values["story"] == story.replace("\r\n", "\n")
    assert saved.word_count == 16
    async with app.db.transaction() as session:
        edits = list(
            await session.scalars(
                select(Event).where(Event.subject_id == draft.id, Event.action == "edited")
            )
        )
    assert [(e.channel, e.actor_id, e.data["fields"]) for e in edits] == [
        ("web", draft.author_id, ["title", "story"])
    ]
    # The same text again changes nothing and records nothing.
    again = await web.post(
        f"{path}/save", json={"title": "Cô giáo Lan ở Kim Giang", "story": story},
        headers={"X-CSRF-Token": csrf},
    )  # fmt: skip
    assert again.json()["stored"] == []
    # Reopened, the page holds what was saved.
    reopened, _ = await open_page(web, path)
    assert "Các em đến đông đủ." in reopened.text


async def test_the_chat_sees_what_the_web_saved(app: GuongSang, web: httpx.AsyncClient) -> None:
    _, path, csrf = await opened_draft(app, web)
    await web.post(
        f"{path}/save", json={"story": "Viết trên web trước."}, headers={"X-CSRF-Token": csrf}
    )
    # The chat goes on appending to the web's text, as to its own.
    response = await app.handle(typed(CHAT, "Rồi viết tiếp trong chat."))
    assert "9 / 2.000 từ" in response.replies[-1].text
    page, _ = await open_page(web, path)
    assert "Viết trên web trước.\n\nRồi viết tiếp trong chat." in page.text


async def test_over_the_limit_is_refused_saying_by_how_much(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    draft, path, csrf = await opened_draft(app, web)
    await web.post(f"{path}/save", json={"story": "Bản đã lưu."}, headers={"X-CSRF-Token": csrf})

    answer = await web.post(
        f"{path}/save",
        json={"title": "Tên mới của bài", "story": "chữ " * 2005},
        headers={"X-CSRF-Token": csrf},
    )

    body = answer.json()
    assert body["ok"] is False
    assert body["stored"] == ["title"]
    assert "2.005 từ" in body["problems"]["story"]
    assert "vượt giới hạn 2.000 từ 5 từ" in body["problems"]["story"]
    saved = await stored(app, draft.id)
    assert saved.values["story"] == "Bản đã lưu."  # nothing lost
    assert saved.values["title"] == "Tên mới của bài"


async def test_bad_values_are_kept_out_with_a_reason(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    draft, path, csrf = await opened_draft(app, web)
    answer = await web.post(
        f"{path}/save", json={"title": "  ", "story": " \n\u00a0 "}, headers={"X-CSRF-Token": csrf}
    )
    body = answer.json()
    assert body["stored"] == []
    assert set(body["problems"]) == {"title", "story"}
    assert (await stored(app, draft.id)).values["title"] == "Cô giáo Lan"
    for junk in (b"not json", b"[1, 2]", b'{"story": ' + b'"a' * 70_000 + b'"}'):
        refused = await web.post(f"{path}/save", content=junk, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 400


async def test_user_text_is_escaped_on_the_page(app: GuongSang, web: httpx.AsyncClient) -> None:
    _, path, csrf = await opened_draft(app, web)
    script = '"><script>alert(1)</script>'
    await web.post(
        f"{path}/save",
        json={"title": f"Tên {script}", "story": f"</textarea>{script}"},
        headers={"X-CSRF-Token": csrf},
    )
    page, _ = await open_page(web, path)
    assert "<script>alert(1)" not in page.text
    assert "&lt;/textarea&gt;" in page.text
    assert "&#34;&gt;&lt;script&gt;" in page.text


async def test_posts_without_the_links_csrf_token_are_refused(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    draft = await draft_at_story(app)
    path = link(app, draft)
    other = editor_path(draft.author_id, draft.id + 1, app.services.now(), app.settings.secret_key)
    _, other_csrf = await open_page(web, other)  # a page for another draft (refused: no token)
    assert other_csrf == ""
    _, csrf = await open_page(web, path)
    for headers in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf[:-1] + "0"}):
        for action in ("save", "done"):
            answer = await web.post(f"{path}/{action}", json={"story": "x y"}, headers=headers)
            assert answer.status_code == 403
            assert "tải lại trang" in answer.json()["message"]
    assert "story" not in (await stored(app, draft.id)).values


async def test_bad_links_get_a_clear_page_and_no_data(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    draft = await draft_at_story(app)
    secret, now = app.settings.secret_key, app.services.now()
    expires = int((now + EDITOR_TTL).timestamp())
    good = sign_editor(draft.author_id, draft.id, expires, secret)
    stale = sign_editor(draft.author_id, draft.id, int(now.timestamp()) - 1, secret)
    forged = sign_editor(draft.author_id, draft.id, expires, "guessed-secret")
    # Someone else's person id with this draft: genuine signature, not theirs.
    foreign = sign_editor(draft.author_id + 1, draft.id, expires, secret)
    tampered = good.replace(f".{draft.id}.", f".{draft.id + 1}.")
    for token in (stale, forged, tampered, "abc", good + "x"):
        page = await web.get(f"/editor/{token}")
        assert page.status_code == 403, token
        assert "Liên kết đã hết hạn hoặc không đúng" in page.text
        assert "Cô giáo Lan" not in page.text and "data-csrf" not in page.text
        assert (await web.post(f"/editor/{token}/save", json={"story": "x"})).status_code == 403
    page = await web.get(f"/editor/{foreign}")
    assert page.status_code == 410 and "Cô giáo Lan" not in page.text
    # Once the draft is no longer editable (discarded in the chat), the genuine link opens nothing.
    await app.handle(typed(CHAT, "/cancel"))
    async with app.db.transaction() as session:
        found = await session.get(Submission, draft.id)
        assert found is not None
        found.status = repo.DISCARDED
    page = await web.get(f"/editor/{good}")
    assert page.status_code == 410
    assert "không còn sửa được" in page.text and "Cô giáo Lan" not in page.text


async def test_saves_are_rate_limited_per_link(app: GuongSang, web: httpx.AsyncClient) -> None:
    _, path, csrf = await opened_draft(app, web)
    statuses, messages = [], []
    # A burst of 20 then one a second: 60 at once cannot all pass on any machine that answers
    # them within 40 seconds.
    for n in range(60):
        answer = await web.post(
            f"{path}/save", json={"story": f"Lần {n}"}, headers={"X-CSRF-Token": csrf}
        )
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            messages.append(answer.json()["message"])
    assert statuses[:20] == [200] * 20
    assert 429 in statuses
    assert "thử lại" in messages[0]
    # Another link (another draft) has its own budget.
    await app.handle(typed(CHAT, "/cancel"))
    other = await draft_at_story(app, "lan")
    other_path = link(app, other)
    _, other_csrf = await open_page(web, other_path)
    ok = await web.post(
        f"{other_path}/save", json={"story": "Bài khác"}, headers={"X-CSRF-Token": other_csrf}
    )
    assert ok.status_code == 200


async def test_a_link_expires_after_twelve_hours(app: GuongSang, web: httpx.AsyncClient) -> None:
    draft = await draft_at_story(app)
    path = link(app, draft)
    clock = app.services.clock
    start = clock()
    clock.moment = start + timedelta(hours=11, minutes=59)  # type: ignore[attr-defined]
    assert (await web.get(path)).status_code == 200
    clock.moment = start + timedelta(hours=12)  # type: ignore[attr-defined]
    assert (await web.get(path)).status_code == 403


@postgresql_only()
async def test_a_save_waits_for_the_chat_changing_the_same_draft(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    draft, path, csrf = await opened_draft(app, web)
    # Another transaction waits for a lock (the chat's, or the draft's row).
    waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    # The chat is in the middle of an update on this draft: it holds the chat and has changed
    # an answer, not yet committed.
    async with app.db.transaction() as chat_session:
        await conversations.lock_chat(chat_session, draft.channel, draft.chat_id)
        held = await chat_session.get(Submission, draft.id)
        assert held is not None
        held.values = {**held.values, "exemplar_name": "Nguyễn Thị Lan Anh"}
        await chat_session.flush()
        save = asyncio.create_task(
            web.post(
                f"{path}/save", json={"story": "Viết trên web."}, headers={"X-CSRF-Token": csrf}
            )
        )
        async with app.db.transaction() as probe:
            while not await probe.scalar(waiting):
                assert not save.done(), (await save).text
                await asyncio.sleep(0.01)
    answer = await save
    assert answer.json()["ok"] is True
    saved = await stored(app, draft.id)
    # Neither change is lost.
    assert saved.values["exemplar_name"] == "Nguyễn Thị Lan Anh"
    assert saved.values["story"] == "Viết trên web."


async def test_the_chats_other_story_limits_hold_on_the_web(
    app: GuongSang, web: httpx.AsyncClient
) -> None:
    draft, path, csrf = await opened_draft(app, web)
    await web.post(f"{path}/save", json={"story": "Bản đã lưu."}, headers={"X-CSRF-Token": csrf})
    limit = app.services.campaigns[0].max_chars
    long_words = " ".join(["nghiêngnghiêngnghiêng" * 4] * (limit // 80 + 10))
    assert count_words(long_words) <= 2000 and len(long_words) > limit
    answers = {}
    for name, story in (("chars", long_words), ("run", "Xem ảnh: " + "x" * 400)):
        answer = await web.post(
            f"{path}/save", json={"story": story}, headers={"X-CSRF-Token": csrf}
        )
        answers[name] = answer.json()
    assert "ký tự" in answers["chars"]["problems"]["story"]
    assert f"vượt giới hạn {limit:,}".replace(",", ".") in answers["chars"]["problems"]["story"]
    assert "400 ký tự liền nhau" in answers["run"]["problems"]["story"]
    assert (await stored(app, draft.id)).values["story"] == "Bản đã lưu."
