"""The story editor's pages and its save API: a phone-first page opened from a signed link
(bot/web/links.py) or as a Telegram Mini App, writing into the draft the chat reads.

Every POST carries the CSRF token derived from the link; saves are rate-limited per link; the
link's token never reaches the logs (HideEditorLinks replaces it in uvicorn's access log)
and, with `Referrer-Policy: no-referrer`, never leaves the page in a Referer header.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.app import GuongSang
from bot.web.links import EditorGrant, csrf_ok, csrf_token, editor_path, verify_editor
from bot.web.telegram_init import verify_init_data
from handlers import web_editor
from handlers.flood import FloodGuard
from storage import people
from storage.models import Person
from templates import TEMPLATE_DIR

# A debounced autosave sends at most one save every couple of seconds while someone types;
# a burst covers a page reopened on a bad network retrying what it holds.
SAVE_RATE = 1.0
SAVE_BURST = 20
# Two stories of the longest kind: a body longer than this is not from the page.
MAX_BODY = 64 * 1024
_SCRIPT_SOURCE = "https://telegram.org"
TELEGRAM_SCRIPT = f"{_SCRIPT_SOURCE}/js/telegram-web-app.js"
# The page's own script only (and Telegram's, which themes a Mini App); it talks only to us.
EDITOR_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src 'self' {_SCRIPT_SOURCE}; connect-src 'self'; "
        "img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # The address holds the link's token: it must not travel to other sites as a Referer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@cache
def _script() -> bytes:
    return (TEMPLATE_DIR / "web" / "editor.js").read_bytes()


class Editor:
    """The endpoints, sharing the bot's database, clock and settings."""

    def __init__(self, app: GuongSang) -> None:
        self.app = app
        self.services = app.services
        self.settings = app.settings
        self.limits = FloodGuard(SAVE_RATE, SAVE_BURST, clock=time.monotonic)

    # -- helpers ----------------------------------------------------------------------------

    def _grant(self, request: Request) -> tuple[str, EditorGrant | None]:
        token = request.path_params["token"]
        return token, verify_editor(token, self.settings.secret_key, self.services.now())

    def _page(self, template: str, status_code: int = 200, **values: Any) -> Response:
        # Imported here: bot.web.app mounts these routes, so it imports this module first.
        from bot.web.app import render

        return HTMLResponse(
            render(template, **values), status_code=status_code, headers=EDITOR_HEADERS
        )

    def _refused(self, reason: str, status_code: int = 403) -> Response:
        return self._page("editor_refused.html", status_code=status_code, reason=reason)

    def _message(self, name: str, **values: Any) -> str:
        from bot.web.app import web_env  # see _page

        module = web_env().get_template("web/editor_messages.html").module
        return str(getattr(module, name)(**values)).strip()

    async def _post_checks(self, request: Request) -> tuple[str, EditorGrant] | Response:
        """The link, the CSRF token and the rate limit of a POST; a JSON refusal otherwise."""
        token, grant = self._grant(request)
        if grant is None:
            return self._json_error("link_bad", 403)
        given = request.headers.get("x-csrf-token", "")
        if not csrf_ok(token, given, self.settings.secret_key):
            return self._json_error("csrf", 403)
        taken, _tell = self.limits.admit("editor", f"{grant.person_id}.{grant.draft_id}")
        if not taken:
            return self._json_error("too_fast", 429, headers={"Retry-After": "5"})
        return token, grant

    def _json_error(
        self, name: str, status_code: int, headers: dict[str, str] | None = None
    ) -> Response:
        return JSONResponse(
            {"ok": False, "error": name, "message": self._message(name)},
            status_code=status_code,
            headers={**EDITOR_HEADERS, **(headers or {})},
        )

    # -- endpoints --------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        """The editor for the draft the link names, filled from the database."""
        token, grant = self._grant(request)
        if grant is None:
            return self._refused("link_bad")
        async with self.app.db.transaction() as session:
            draft = await web_editor.editable(
                session, self.services, grant.person_id, grant.draft_id
            )
        if draft is None:
            return self._refused("draft_gone", status_code=410)
        story = next(f for f in draft.fields if f.kind == "long_text")
        texts = {
            name: self._message(name)
            for name in ("saving", "saved", "offline", "unsaved", "too_fast", "csrf", "link_bad")
        }
        return self._page(
            "editor.html",
            draft=draft,
            story_key=story.key,
            csrf=csrf_token(token, self.settings.secret_key),
            expires=self.services.local(datetime.fromtimestamp(grant.expires, UTC)),
            texts=texts,
            base=f"/editor/{token}",
            telegram=request.query_params.get("tg") == "1",
            telegram_script=TELEGRAM_SCRIPT,
        )

    async def save(self, request: Request) -> Response:
        """Store the typed title and story (JSON); says per field what was kept out and why."""
        checked = await self._post_checks(request)
        if isinstance(checked, Response):
            return checked
        _token, grant = checked
        typed = await _json_body(request)
        if typed is None:
            return self._json_error("bad_request", 400)
        async with self.app.db.transaction() as session:
            draft = await web_editor.editable(
                session, self.services, grant.person_id, grant.draft_id, lock=True
            )
            person = await session.get(Person, grant.person_id) if draft else None
            if draft is None or person is None:
                return self._json_error("draft_gone", 410)
            saved = await web_editor.save(session, self.services, draft, person, typed)
        problems = {
            key: self._message(problem.name, **problem.values)
            for key, problem in saved.problems.items()
        }
        return JSONResponse(
            {
                "ok": not problems,
                "stored": saved.stored,
                # What the draft now holds (cleaned as the chat cleans it): the page keeps
                # its copy of the typing only over exactly this text.
                "values": saved.values,
                "problems": problems,
                "words": saved.words,
                "limit": saved.limit,
            },
            headers=EDITOR_HEADERS,
        )

    async def done(self, request: Request) -> Response:
        """ "Xong": the chat moves on past the story and says what the web saved."""
        checked = await self._post_checks(request)
        if isinstance(checked, Response):
            return checked
        _token, grant = checked
        async with self.app.db.transaction() as session:
            current = await web_editor.editable(
                session, self.services, grant.person_id, grant.draft_id
            )
        if current is None:
            return self._json_error("draft_gone", 410)
        if not current.words:
            return self._json_error("done_empty", 409)
        draft = await web_editor.finish(self.services, grant.person_id, grant.draft_id)
        if draft is None:
            return self._json_error("draft_gone", 410)
        self.app.delivery.kick()
        return JSONResponse(
            {
                "ok": True,
                "words": draft.words,
                "limit": draft.limit,
                "message": self._message("done", words=draft.words, limit=draft.limit),
            },
            headers=EDITOR_HEADERS,
        )

    async def script(self, request: Request) -> Response:
        """The page's script (served by us: the page loads nothing from elsewhere)."""
        return Response(
            _script(),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    async def mini_app(self, request: Request) -> Response:
        """The Telegram Mini App's entry: its script sends Telegram's initData to `session`."""
        return self._page("editor_telegram.html", telegram_script=TELEGRAM_SCRIPT)

    async def mini_app_session(self, request: Request) -> Response:
        """Telegram's signed initData in, the editor link of the person's current draft out."""
        body = await request.body()
        token = self.settings.telegram_token
        if len(body) > MAX_BODY or not token:
            return self._json_error("tg_bad", 403)
        user_id = verify_init_data(body.decode("utf-8", "replace"), token, self.services.now())
        if user_id is None:
            return self._json_error("tg_bad", 403)
        async with self.app.db.transaction() as session:
            person = await people.by_identity(session, "telegram", str(user_id))
            draft = await web_editor.current_draft(session, person) if person else None
            if person is None or draft is None:
                return self._json_error("no_draft", 404)
            person_id, draft_id = person.id, draft.id
        path = editor_path(person_id, draft_id, self.services.now(), self.settings.secret_key)
        return JSONResponse({"ok": True, "url": f"{path}?tg=1"}, headers=EDITOR_HEADERS)


async def _json_body(request: Request) -> dict[str, Any] | None:
    body = await request.body()
    if len(body) > MAX_BODY:
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# Paths whose next segment opens something: an editor link, a criterion's note, a personal
# page (a year), an invitation.
_LINK_IN_PATH = re.compile(r"^/(editor|note|me|join)/(?!telegram(?:/|$))[^/?]+")


def hide_link(path: str) -> str:
    """A request path with a link's token replaced, as the access log shows it."""
    return _LINK_IN_PATH.sub(r"/\1/…", path)


class HideEditorLinks(logging.Filter):
    """Keeps editor links, personal pages and invitations out of uvicorn's access log: a
    logged link would let whoever reads the log open that person's draft or page."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the path argument of an access line (uvicorn logs client, method, path…)."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], hide_link(args[2]), *args[3:])
        return True


def hide_links_in_access_log() -> None:
    """Install the filter on uvicorn's access logger, once per process."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideEditorLinks) for f in access.filters):
        access.addFilter(HideEditorLinks())


def editor_routes(app: GuongSang) -> list[Route]:
    """The editor's routes, to mount in the web app."""
    hide_links_in_access_log()
    editor = Editor(app)
    return [
        Route("/editor.js", editor.script),
        Route("/editor/telegram", editor.mini_app),
        Route("/editor/telegram/session", editor.mini_app_session, methods=["POST"]),
        Route("/editor/{token}", editor.page),
        Route("/editor/{token}/save", editor.save, methods=["POST"]),
        Route("/editor/{token}/done", editor.done, methods=["POST"]),
    ]
