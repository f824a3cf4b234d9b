"""The story editor's page in its character-count mode, for one emulation criterion's note
(letter 004): opened from a signed 12-hour link (bot/web/links.py, bound to the person, the
unit's card, the sheet version and the criterion) that Zalo and the console are given at the
note prompt. Saves go through the chat's own checks (handlers/emulation/notes.py).

The same protections as the story editor: the CSRF token derived from the link on every POST,
a rate limit per link, the link kept out of the access log and out of Referer headers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.app import GuongSang
from bot.web.editor import EDITOR_HEADERS, Editor, _json_body
from bot.web.links import NoteGrant, csrf_ok, csrf_token, verify_note
from handlers.emulation import notes
from storage.models import Person

# The page's own texts the script shows while saving (templates/web/editor_messages.html).
PAGE_TEXTS = ("saving", "saved", "offline", "unsaved", "too_fast", "csrf")


class NoteEditor(Editor):
    """The note page and its save and "Xong" endpoints."""

    def _note_grant(self, request: Request) -> tuple[str, NoteGrant | None]:
        token = request.path_params["token"]
        return token, verify_note(token, self.settings.secret_key, self.services.now())

    def _note_refused(self, reason: str, status_code: int = 403) -> Response:
        return self._page("note_refused.html", status_code=status_code, reason=reason)

    async def _note_post_checks(self, request: Request) -> tuple[str, NoteGrant] | Response:
        """The link, the CSRF token and the rate limit of a POST; a JSON refusal otherwise."""
        token, grant = self._note_grant(request)
        if grant is None:
            return self._json_error("note_link_bad", 403)
        if not csrf_ok(token, request.headers.get("x-csrf-token", ""), self.settings.secret_key):
            return self._json_error("csrf", 403)
        key = f"{grant.person_id}.{grant.card_id}.{grant.criterion}"
        taken, _tell = self.limits.admit("note", key)
        if not taken:
            return self._json_error("too_fast", 429, headers={"Retry-After": "5"})
        return token, grant

    async def note_page(self, request: Request) -> Response:
        """The note of the criterion the link names, filled from the database."""
        token, grant = self._note_grant(request)
        if grant is None:
            return self._note_refused("note_link_bad")
        async with self.app.db.transaction() as session:
            note = await notes.editable(
                session, grant.person_id, grant.card_id, grant.sheet_id, grant.criterion
            )
            if note is None:
                return self._note_refused("note_gone", status_code=410)
            unit_name = note.card.unit.name
        texts = {name: self._message(name) for name in PAGE_TEXTS}
        texts["link_bad"] = self._message("note_link_bad")
        return self._page(
            "note_editor.html",
            note=note,
            unit_name=unit_name,
            csrf=csrf_token(token, self.settings.secret_key),
            expires=self.services.local(datetime.fromtimestamp(grant.expires, UTC)),
            texts=texts,
            base=f"/note/{token}",
        )

    async def note_save(self, request: Request) -> Response:
        """Store the typed note (JSON {"note": …}); says why it was kept out, if it was."""
        checked = await self._note_post_checks(request)
        if isinstance(checked, Response):
            return checked
        _token, grant = checked
        typed = await _json_body(request)
        raw = typed.get("note") if typed is not None else None
        if not isinstance(raw, str):
            return self._json_error("bad_request", 400)
        async with self.app.db.transaction() as session:
            note = await notes.editable(
                session, grant.person_id, grant.card_id, grant.sheet_id, grant.criterion,
                lock=True,
            )  # fmt: skip
            person = await session.get(Person, grant.person_id) if note else None
            if note is None or person is None:
                return self._json_error("note_gone", 410)
            saved = await notes.save(session, self.services, note, person, raw)
        problems = {}
        if saved.problem is not None:
            problems["note"] = self._message(saved.problem, **saved.values)
        return JSONResponse(
            {
                "ok": not problems,
                "stored": ["note"] if saved.stored else [],
                # What the card now holds, cleaned as the chat cleans it.
                "values": {"note": saved.note},
                "problems": problems,
                "chars": len(saved.note),
                "limit": saved.values["limit"],
            },
            headers=EDITOR_HEADERS,
        )

    async def note_done(self, request: Request) -> Response:
        """ "Xong": the person's chat is told the note is kept."""
        checked = await self._note_post_checks(request)
        if isinstance(checked, Response):
            return checked
        _token, grant = checked
        async with self.app.db.transaction() as session:
            note = await notes.editable(
                session, grant.person_id, grant.card_id, grant.sheet_id, grant.criterion
            )
            person = await session.get(Person, grant.person_id) if note else None
            if note is None or person is None:
                return self._json_error("note_gone", 410)
            if not note.value:
                return self._json_error("note_empty", 409)
            await notes.finish(session, self.services, note, person)
            chars, limit = note.chars, note.limit
        self.app.delivery.kick()
        return JSONResponse(
            {"ok": True, "message": self._message("note_done", chars=chars, limit=limit)},
            headers=EDITOR_HEADERS,
        )


def note_routes(app: GuongSang) -> list[Route]:
    """The note page's routes, to mount in the web app (the script is the editor's)."""
    editor = NoteEditor(app)
    return [
        Route("/note/{token}", editor.note_page),
        Route("/note/{token}/save", editor.note_save, methods=["POST"]),
        Route("/note/{token}/done", editor.note_done, methods=["POST"]),
    ]
