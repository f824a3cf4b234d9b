"""The public web app: honoured exemplars' list, story pages, Atom feed, signed photos, health.

Pages are rendered from view dictionaries that copy only the public fields of a story, so the
templates never see `submission.values` and cannot show the author's phone number by mistake.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from bot.app import GuongSang
from bot.web.downloads import download_routes
from bot.web.editor import editor_routes
from bot.web.media import media_path, verify, verify_file
from bot.web.note_editor import note_routes
from bot.web.units import unit_by_code, unit_routes, valid_code
from bot.web.web_chat import web_chat_routes
from handlers.collation import vietnamese_key
from handlers.phones import has_phone, mask_phones
from storage import honours
from storage.models import Attachment, Honour, Submission, Unit
from templates import TEMPLATE_DIR, format_number

log = logging.getLogger(__name__)

PAGE_SIZE = 20
FEED_SIZE = 50
# Photo URLs on pages only need to outlive a reader's visit (and the browser cache).
PAGE_PHOTO_TTL = timedelta(days=1)
# A health check that hangs is worse than one that fails: the orchestrator needs an answer.
HEALTH_TIMEOUT = 5.0
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]
IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
}
# Pages load nothing from elsewhere and run no script; this stops injected markup from doing harm
# even if some text were ever left unescaped.
HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
}
# Characters XML 1.0 forbids even when escaped (and lone surrogates, which JSON can carry but
# UTF-8 cannot encode); a pasted story holding one must not break the feed or the page.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _finalize(value: Any) -> Any:
    # Runs on every {{ }} output before escaping; Markup is already safe and left alone.
    if isinstance(value, str) and not isinstance(value, Markup):
        return _NOT_XML.sub("", value)
    return value


def vn_date(value: date | datetime) -> str:
    """A date as Vietnamese write it: 20/03/2024."""
    return value.strftime("%d/%m/%Y")


@cache
def web_env() -> Environment:
    """The Jinja environment for web pages and the feed, escaping HTML and XML output."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "atom"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["vn_date"] = vn_date
    env.filters["num"] = format_number
    return env


def render(template: str, **values: Any) -> str:
    """Render templates/web/<template>."""
    return web_env().get_template(f"web/{template}").render(**values)


MAX_ID = 2**31 - 1


class BadFilter(ValueError):
    """A query parameter that cannot be a filter (a unit id that is not a number, or too long)."""


# Longer than any campaign slug or focus area; a slug is at most 120 characters.
MAX_TEXT_PARAM = 300


def _unmatchable(value: str) -> bool:
    """Whether no stored slug, campaign or focus area can be this: control characters
    (PostgreSQL refuses a NUL byte in a query outright) or an absurd length."""
    return len(value) > MAX_TEXT_PARAM or any(ord(ch) < 32 for ch in value)


def _text_param(raw: str | None) -> str | None:
    """A text filter ("" is none), or BadFilter for one nothing stored can match."""
    value = (raw or "").strip()
    if _unmatchable(value):
        raise BadFilter(value[:40])
    return value or None


@dataclass(frozen=True)
class Filters:
    """What the reader asked to see: `campaign` slug, `unit` id, `focus` area, `page`.

    `unit_code` is a unit asked for by its code (?unit=TH-KG), until `with_unit` resolves it.
    """

    campaign: str | None = None
    unit: int | None = None
    focus: str | None = None
    page: int = 1
    unit_code: str | None = None

    @classmethod
    def from_request(cls, request: Request) -> Filters:
        """Read the query string; empty values mean "no filter" (what an unset select sends)."""
        params = request.query_params
        campaign = _text_param(params.get("campaign"))
        focus = _text_param(params.get("focus"))
        raw_unit = (params.get("unit") or "").strip()
        unit_code = None
        if raw_unit and not (raw_unit.isascii() and raw_unit.isdigit()):
            # A unit's code (TH-KG), as the unit pages address it.
            if not valid_code(raw_unit):
                raise BadFilter(raw_unit)
            unit_code, raw_unit = raw_unit, ""
        # Ids are INTEGER columns (32-bit on PostgreSQL): a bigger number would fail the query.
        if raw_unit and int(raw_unit[:12]) > MAX_ID:
            raise BadFilter(raw_unit)
        unit = int(raw_unit) if raw_unit else None
        raw_page = (params.get("page") or "").strip()
        # A bad page number is a typo, not an error worth a page of its own: show the first.
        page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() else 1
        return cls(campaign, unit, focus, max(1, min(page, 100_000)), unit_code)

    async def with_unit(self, session: AsyncSession) -> Filters | None:
        """These filters with a unit code resolved to its id; None for a code no unit has."""
        if self.unit_code is None:
            return self
        unit = await unit_by_code(session, self.unit_code)
        if unit is None:
            return None
        return replace(self, unit=unit.id, unit_code=None)

    def query(self, **change: Any) -> str:
        """The query string of these filters with some values changed ("" when empty)."""
        values = {
            "campaign": self.campaign,
            "unit": self.unit,
            "focus": self.focus,
            "page": self.page,
        } | change
        if values["page"] == 1:
            values["page"] = None
        kept = {k: v for k, v in values.items() if v not in (None, "")}
        return f"?{urlencode(kept)}" if kept else ""

    @property
    def active(self) -> bool:
        """Whether any filter narrows the list."""
        return bool(self.campaign or self.unit is not None or self.focus)


def _paragraphs(story: str) -> list[str]:
    # Stories arrive as chat messages or .docx text: one line per paragraph, blank lines between.
    return [line.strip() for line in story.splitlines() if line.strip()]


def _photos(submission: Submission) -> list[Attachment]:
    return [a for a in submission.attachments if a.kind == "photo"]


class Site:
    """The endpoints, sharing the bot's database, clock, settings and media folder."""

    def __init__(self, app: GuongSang) -> None:
        self.app = app
        self.services = app.services
        self.settings = app.settings

    # -- views -------------------------------------------------------------------------------

    def _photo_path(self, attachment: Attachment) -> str:
        return media_path(
            attachment.id, self.services.now(), PAGE_PHOTO_TTL, self.settings.secret_key
        )

    def _summary_view(self, honour: Honour, units: dict[int, str]) -> dict[str, Any]:
        """The public fields of an honoured story, and nothing else; a phone number typed
        into any of them is hidden (handlers/phones.py)."""
        submission = honour.submission
        values = submission.values
        author = values.get("_author") or {}
        photos = _photos(submission)
        cover = self._photo_path(photos[0]) if photos else None
        focus = str(values.get("focus_area") or "")
        return {
            "slug": honour.slug,
            "code": submission.code or "",
            "exemplar": mask_phones(str(values.get("exemplar_name") or "")),
            "address": mask_phones(str(values.get("exemplar_address") or "")),
            "focus": mask_phones(focus),
            # A typed-in area holding a phone is not offered as a filter link: the link would
            # carry the number in its URL.
            "focus_link": not has_phone(focus),
            "title": mask_phones(str(values.get("title") or "")),
            "unit_id": submission.unit_id,
            "unit": mask_phones(units.get(submission.unit_id or 0, "")),
            "campaign_slug": submission.campaign.slug,
            "campaign_title": submission.campaign.title,
            "decision_number": mask_phones(honour.decision_number),
            "decision_date": honour.decision_date,
            "summary": mask_phones(honour.summary),
            "honoured_at": honour.honoured_at,
            "author_name": mask_phones(str(author.get("full_name") or "")),
            "author_unit": mask_phones(str(author.get("unit") or "")),
            "cover": cover,
            # Link previews (Zalo, Facebook) fetch the picture from outside: an absolute URL.
            "cover_url": self.settings.public_url + cover if cover else None,
            "path": f"/exemplars/{honour.slug}",
            "url": f"{self.settings.public_url}/exemplars/{honour.slug}",
        }

    async def _unit_names(self, session: AsyncSession, ids: set[int]) -> dict[int, str]:
        if not ids:
            return {}
        rows = await session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(ids)))
        return {row.id: row.name for row in rows}

    async def _honoured_units(self, session: AsyncSession) -> list[tuple[int, str]]:
        # Only units with at least one honoured story are worth offering as a filter.
        rows = await session.execute(
            select(Unit.id, Unit.name)
            .join(Submission, Submission.unit_id == Unit.id)
            .join(Honour, Honour.submission_id == Submission.id)
            .distinct()
        )
        # In Vietnamese alphabetical order ("Hạ Đình" before "Hoa Sữa"), as every list is.
        return sorted(((row.id, row.name) for row in rows), key=lambda u: vietnamese_key(u[1]))

    def _focus_areas(self) -> list[str]:
        seen: dict[str, None] = {}
        for campaign in self.services.campaigns:
            seen.update(dict.fromkeys(campaign.focus_areas))
        return list(seen)

    async def _listing(
        self, session: AsyncSession, filters: Filters, limit: int, offset: int
    ) -> list[Honour]:
        return await honours.listing(
            session,
            campaign_slug=filters.campaign,
            unit_id=filters.unit,
            focus_area=filters.focus,
            limit=limit,
            offset=offset,
        )

    # -- endpoints ---------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        """The site root leads to the list."""
        return RedirectResponse("/exemplars", status_code=307)

    async def healthz(self, request: Request) -> Response:
        """200 {"ok": true} when the database answers a trivial query, else 503."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT), self.app.db.transaction() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            log.exception("health check: the database did not answer")
            return JSONResponse({"ok": False}, status_code=503)
        return JSONResponse({"ok": True})

    async def exemplar_list(self, request: Request) -> Response:
        """Honoured exemplars, newest decision first, filtered and paginated."""
        try:
            filters = Filters.from_request(request)
        except BadFilter:
            return self._not_found_page(status_code=400, bad_filter=True)
        offset = (filters.page - 1) * PAGE_SIZE
        async with self.app.db.transaction() as session:
            resolved = await filters.with_unit(session)
            if resolved is None:
                # A code no unit has is a filter that cannot be, as an unknown id's was.
                return self._not_found_page(status_code=400, bad_filter=True)
            filters = resolved
            # One row more than a page tells whether there is a next page without a count.
            rows = await self._listing(session, filters, PAGE_SIZE + 1, offset)
            unit_ids = {h.submission.unit_id for h in rows if h.submission.unit_id}
            if filters.unit is not None:
                unit_ids.add(filters.unit)
            units = await self._unit_names(session, unit_ids)
            unit_options = await self._honoured_units(session)
        items = [self._summary_view(h, units) for h in rows[:PAGE_SIZE]]
        campaigns = [(c.slug, c.title) for c in self.services.campaigns]
        focus_options = self._focus_areas()
        if filters.focus and filters.focus not in focus_options:
            # A typed-in ("other") area, reached from a story's link: keep it selectable.
            focus_options.append(filters.focus)
        body = render(
            "list.html",
            items=items,
            filters=filters,
            campaigns=campaigns,
            campaign_title=dict(campaigns).get(filters.campaign or ""),
            unit_name=units.get(filters.unit) if filters.unit is not None else None,
            unit_options=unit_options,
            focus_options=focus_options,
            prev_url=(
                "/exemplars" + filters.query(page=filters.page - 1) if filters.page > 1 else None
            ),
            next_url=(
                "/exemplars" + filters.query(page=filters.page + 1)
                if len(rows) > PAGE_SIZE
                else None
            ),
            feed_url="/exemplars.atom" + filters.query(page=1),
        )
        return HTMLResponse(body, headers=HTML_HEADERS)

    async def exemplar_page(self, request: Request) -> Response:
        """One honoured story in full, with its photos."""
        slug = request.path_params["slug"]
        if _unmatchable(slug):
            return self._not_found_page()
        async with self.app.db.transaction() as session:
            honour = await honours.by_slug(session, slug)
            if honour is None:
                return self._not_found_page()
            unit_id = honour.submission.unit_id
            units = await self._unit_names(session, {unit_id} if unit_id else set())
        view = self._summary_view(honour, units)
        story = str(honour.submission.values.get("story") or "")
        view["paragraphs"] = [mask_phones(p) for p in _paragraphs(story)]
        view["photos"] = [self._photo_path(a) for a in _photos(honour.submission)]
        body = render("exemplar.html", item=view)
        return HTMLResponse(body, headers=HTML_HEADERS)

    async def feed(self, request: Request) -> Response:
        """An Atom feed of the newest honoured stories, with the list's filters."""
        try:
            filters = Filters.from_request(request)
        except BadFilter:
            return self._not_found_page(status_code=400, bad_filter=True)
        filters = replace(filters, page=1)
        async with self.app.db.transaction() as session:
            resolved = await filters.with_unit(session)
            if resolved is None:
                # A code no unit has is a filter that cannot be, as an unknown id's was.
                return self._not_found_page(status_code=400, bad_filter=True)
            filters = resolved
            rows = await self._listing(session, filters, FEED_SIZE, 0)
            units = await self._unit_names(
                session, {h.submission.unit_id for h in rows if h.submission.unit_id}
            )
        entries = [self._summary_view(h, units) for h in rows]
        updated = max((e["honoured_at"] for e in entries), default=None) or self.services.now()
        base = self.settings.public_url
        body = render(
            "feed.atom",
            entries=entries,
            feed_id=f"{base}/exemplars.atom{filters.query()}",
            self_url=f"{base}/exemplars.atom{filters.query()}",
            html_url=f"{base}/exemplars{filters.query()}",
            updated=updated,
            rfc3339=_rfc3339,
        )
        return Response(
            body,
            media_type="application/atom+xml; charset=utf-8",
            # School websites fetch the feed from their own pages' scripts to embed it.
            headers={"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"},
        )

    async def media(self, request: Request) -> Response:
        """A photo of an honoured story, for a genuine, unexpired token only."""
        now = self.services.now()
        attachment_id = verify(request.path_params["token"], self.settings.secret_key, now)
        if attachment_id is None:
            return PlainTextResponse("Liên kết ảnh không hợp lệ hoặc đã hết hạn.", status_code=403)
        async with self.app.db.transaction() as session:
            attachment = await session.get(Attachment, attachment_id)
            honoured = (
                attachment is not None
                and attachment.kind == "photo"
                and await honours.for_submission(session, attachment.submission_id) is not None
            )
        if not honoured or attachment is None:
            # The token is ours, but the story is not public (yet, or any more).
            return PlainTextResponse("Không tìm thấy ảnh.", status_code=404)
        path = self._stored_file(attachment)
        if path is None:
            log.warning("media: attachment %s has no file on disk", attachment.id)
            return PlainTextResponse("Không tìm thấy ảnh.", status_code=404)
        expires = int(request.path_params["token"].split(".")[1])
        max_age = max(0, expires - int(now.timestamp()))
        return FileResponse(
            path,
            media_type=self._image_type(attachment, path),
            headers={
                "Cache-Control": f"public, max-age={max_age}, immutable",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def media_file(self, request: Request) -> Response:
        """A stored photo sent to a chat (Zalo fetches it by URL), for a genuine file token.

        These photos need not be public: the token names the file by its checksum and is
        signed for this purpose only, so it can be neither guessed nor made from a page's.
        """
        now = self.services.now()
        relative = verify_file(request.path_params["token"], self.settings.secret_key, now)
        if relative is None:
            return PlainTextResponse("Liên kết ảnh không hợp lệ hoặc đã hết hạn.", status_code=403)
        path = self.services.media_dir / relative
        if not path.is_file():
            return PlainTextResponse("Không tìm thấy ảnh.", status_code=404)
        return FileResponse(
            path,
            media_type=IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream"),
            headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    def _stored_file(self, attachment: Attachment) -> Path | None:
        # Stored paths come from our own writes; still, never follow one out of the media folder.
        root = self.services.media_dir.resolve()
        path = (root / attachment.stored_path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    @staticmethod
    def _image_type(attachment: Attachment, path: Path) -> str:
        # Only image types go out: a stored type of anything else must not reach a browser.
        if attachment.mime_type in IMAGE_TYPES.values():
            return attachment.mime_type
        return IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")

    def _not_found_page(self, status_code: int = 404, bad_filter: bool = False) -> Response:
        body = render("not_found.html", bad_filter=bad_filter)
        return HTMLResponse(body, status_code=status_code, headers=HTML_HEADERS)

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """Unknown addresses get the Vietnamese not-found page too."""
        return self._not_found_page()


def _rfc3339(moment: datetime) -> str:
    """Atom's timestamp form, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_web_app(
    app: GuongSang, webhooks: Sequence[Route] = (), lifespan: Lifespan | None = None
) -> Starlette:
    """The ASGI app for a GuongSang; it shares the bot's database and media folder.

    `webhooks` are the chat platforms' update endpoints, made by their channels; `lifespan`
    starts and stops the bot when the app does not run inside an already started one.
    """
    site = Site(app)
    routes = [
        Route("/", site.home),
        Route("/healthz", site.healthz),
        Route("/exemplars", site.exemplar_list),
        # Before /exemplars/{slug} only for clarity: "exemplars.atom" has no slash to match it.
        Route("/exemplars.atom", site.feed),
        Route("/exemplars/{slug}", site.exemplar_page),
        Route("/media/f/{token}", site.media_file),
        Route("/media/{token}", site.media),
        *unit_routes(app, render, HTML_HEADERS),
        *download_routes(app),
        *editor_routes(app),
        *note_routes(app),
        *web_chat_routes(app),
        *webhooks,
    ]
    return Starlette(routes=routes, exception_handlers={404: site.not_found}, lifespan=lifespan)
