"""The web as a channel, for people with neither Telegram nor Zalo: a one-time invitation
(/join/<code>) gives them a personal page (/me/<token>) where they talk to the bot as in a chat.

Each form post is one event through the same core as every chat (handlers/router.py): the same
registration, story form, checks, preview and review path. The bot's answers are kept with the
conversation and shown after a redirect, so reloading the page sends nothing twice. Photos are
sent one per request by the page's script (no multipart parsing needed).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.app import GuongSang
from bot.web.editor import EDITOR_HEADERS
from bot.web.links import me_path, verify_me
from handlers import web_people
from handlers.types import Event, IncomingFile, Reply
from storage.models import Person
from templates import to_plain

# A form post: a typed line or a pressed button. A story comes through the editor instead.
MAX_FORM = 16 * 1024
_CSRF_PURPOSE = b"guongsang-web-chat-csrf-v1:"
_uploads = itertools.count(1)


def _csrf(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), _CSRF_PURPOSE + value.encode(), hashlib.sha256).hexdigest()


class WebChat:
    """The join and personal pages."""

    def __init__(self, app: GuongSang) -> None:
        self.app = app
        self.services = app.services
        self.secret = app.settings.secret_key

    def _page(self, template: str, status_code: int = 200, **values: Any) -> Response:
        from bot.web.app import render  # see bot/web/editor.py

        return HTMLResponse(
            render(template, **values), status_code=status_code, headers=EDITOR_HEADERS
        )

    def _csrf_ok(self, value: str, given: str) -> bool:
        return given.isascii() and hmac.compare_digest(_csrf(self.secret, value), given)

    async def _form(self, request: Request) -> dict[str, str] | None:
        body = await request.body()
        if len(body) > MAX_FORM:
            return None
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return None
        return {key: values[-1] for key, values in parsed.items()}

    # -- joining ----------------------------------------------------------------------------

    async def join_page(self, request: Request) -> Response:
        """What the invitation is, and a button to accept it."""
        code = request.path_params["code"][:40]
        async with self.app.db.transaction() as session:
            problem = await web_people.invite_problem(session, self.services, code)
        if problem:
            return self._page("web_join.html", status_code=410, problem=problem, code=code)
        return self._page("web_join.html", problem="", code=code, csrf=_csrf(self.secret, code))

    async def join(self, request: Request) -> Response:
        """Accept the invitation: a new person, and their personal page."""
        code = request.path_params["code"][:40]
        form = await self._form(request)
        if form is None or not self._csrf_ok(code, form.get("csrf", "")):
            return self._page("web_join.html", status_code=403, problem="stale", code=code)
        async with self.app.db.transaction() as session:
            person, problem = await web_people.join(session, self.services, code)
            person_id = person.id if person else None
        if person_id is None:
            return self._page("web_join.html", status_code=410, problem=problem, code=code)
        path = me_path(person_id, self.services.now(), self.secret)
        return RedirectResponse(path, status_code=303)

    # -- the personal page ------------------------------------------------------------------

    async def _who(self, request: Request) -> tuple[str, int, str] | None:
        token = request.path_params["token"]
        person_id = verify_me(token, self.secret, self.services.now())
        if person_id is None:
            return None
        async with self.app.db.transaction() as session:
            chat = await web_people.chat_of(session, person_id)
        return (token, person_id, chat) if chat else None

    async def me(self, request: Request) -> Response:
        """The bot's last answers, with their buttons, a box to type in and the menu."""
        who = await self._who(request)
        if who is None:
            return self._page("web_join.html", status_code=403, problem="link")
        token, person_id, chat = who
        async with self.app.db.transaction() as session:
            replies = await web_people.shown(session, self.services, chat)
            wants_photos = await web_people.wants_photos(session, self.services, chat)
            menu = await web_people.menu(session, chat)
            person = await session.get(Person, person_id)
            name = person.full_name if person else None
        shown = [
            {
                "text": to_plain(r.text),
                "choices": r.choices,
                "link": r.link,
                "ask_contact": to_plain(r.ask_contact) if r.ask_contact else "",
            }
            for r in replies
        ]
        return self._page(
            "web_me.html",
            replies=shown,
            name=name,
            base=f"/me/{token}",
            csrf=_csrf(self.secret, token),
            wants_photos=wants_photos,
            menu=menu,
        )

    async def act(self, request: Request) -> Response:
        """A typed line or a pressed button, as one event; then back to the page."""
        who = await self._who(request)
        if who is None:
            return self._page("web_join.html", status_code=403, problem="link")
        token, _person_id, chat = who
        form = await self._form(request)
        if form is None or not self._csrf_ok(token, form.get("csrf", "")):
            return self._page("web_join.html", status_code=403, problem="stale")
        button, text = form.get("button", ""), form.get("text", "")
        if button or text.strip():
            await self._handle(chat, self._event(chat, button=button, text=text))
        return RedirectResponse(f"/me/{token}", status_code=303)

    async def photo(self, request: Request) -> Response:
        """One photo from the page (its body is the file), as a chat's photo."""
        who = await self._who(request)
        if who is None:
            return Response(status_code=403)
        token, _person_id, chat = who
        if not self._csrf_ok(token, request.headers.get("x-csrf-token", "")):
            return Response(status_code=403)
        size, data = await _upload(request, self.services.max_upload_bytes)

        async def fetch() -> bytes:
            return data

        incoming = IncomingFile(
            kind="photo",
            file_id=f"web-{next(_uploads)}",
            fetch=fetch,
            size=size,
            file_name=request.headers.get("x-file-name", "")[:200] or None,
            mime_type=request.headers.get("content-type"),
        )
        event = self._event(chat)
        event.kind, event.files = "photo", [incoming]
        await self._handle(chat, event)
        return Response(status_code=204)

    def _event(self, chat: str, button: str = "", text: str = "") -> Event:
        base: dict[str, Any] = {
            "channel": web_people.CHANNEL,
            "chat_id": chat,
            "user_id": chat,
            **web_people.CAPABILITIES,
        }
        if button:
            return Event(kind="button", button=button[:200], **base)
        text = text.strip()
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            return Event(kind="command", command=command.lower(), args=args, text=text, **base)
        return Event(kind="text", text=text, **base)

    async def _handle(self, chat: str, event: Event) -> None:
        async with self.app.db.transaction() as session:
            menu_before = await web_people.menu(session, chat)
        response = await self.app.handle(event)
        replies = list(response.replies)
        if response.notice and not replies:
            replies = [Reply(response.notice)]
        async with self.app.db.transaction() as session:
            await web_people.show(session, self.services, chat, replies, menu_before)


async def _upload(request: Request, limit: int) -> tuple[int, bytes]:
    """(size, bytes) of an uploaded file; past `limit` only the size read so far, so an
    oversized upload is refused as a chat's is (by size) without being held in memory."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return int(declared), b""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return size, b""
        chunks.append(chunk)
    return size, b"".join(chunks)


def web_chat_routes(app: GuongSang) -> list[Route]:
    """The join and personal pages' routes."""
    web = WebChat(app)
    return [
        Route("/join/{code}", web.join_page),
        Route("/join/{code}", web.join, methods=["POST"]),
        Route("/me/{token}", web.me),
        Route("/me/{token}", web.act, methods=["POST"]),
        Route("/me/{token}/photo", web.photo, methods=["POST"]),
    ]
