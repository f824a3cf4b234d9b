"""A public page, an Atom feed and an embeddable block per unit, addressed by the unit's code
(letter 001: each school posts its stories on its website; letter 000: units spread the
exemplars on their own sites), and a page per public story.

A unit's page lists its honoured stories and the approved ones its head published
(storage/web_posts.py). Their photos get stable addresses, /photos/<story code>/<n>.<ext>, that
a school site can copy: they answer only while the story is public; every other photo stays
behind the signed, expiring links of bot/web/media.py. As on the other pages, only public
fields are copied into the views, and phone numbers typed into them are masked.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import GuongSang
from handlers.phones import mask_phones
from handlers.text_rules import excerpt
from storage import submissions as repo
from storage import web_posts
from storage.models import Attachment, Honour, Submission, Unit, WebPost

log = logging.getLogger(__name__)

UNIT_PAGE_SIZE = 50
EMBED_SIZE = 5
EXCERPT_WORDS, EXCERPT_CHARS = 60, 400
# Codes we issue: units' (TH-KG) and stories' (GS-2024-0001); anything else is not looked up.
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
_PHOTO = re.compile(r"^([1-9][0-9]{0,2})\.([a-z]{3,4})$")
# A photo may stop being public (the head took the story off): caches keep it an hour at most.
PHOTO_CACHE = "public, max-age=3600"
# The embed block is meant for other sites' frames; the other pages keep their own policy.
EMBED_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


def valid_code(raw: str) -> bool:
    """Whether `raw` could be one of our codes (so it is worth a query)."""
    return bool(_CODE.match(raw))


async def unit_by_code(session: AsyncSession, code: str) -> Unit | None:
    """A unit by its code, in any letter case (people type "th-kg")."""
    if not valid_code(code):
        return None
    return await session.scalar(select(Unit).where(func.upper(Unit.code) == code.upper()))


def photos_of(sub: Submission) -> list[Attachment]:
    """A story's photos in the order they were sent: /photos/<code>/<n> counts from 1."""
    return [a for a in sub.attachments if a.kind == "photo"]


def photo_path(sub: Submission, n: int, attachment: Attachment) -> str:
    """The stable, site-relative address of a public story's n-th photo (from 1)."""
    extension = Path(attachment.stored_path).suffix.lower().lstrip(".") or "jpg"
    return f"/photos/{sub.code}/{n}.{extension}"


class UnitPages:
    """The endpoints, sharing the bot's database and settings with the rest of the site."""

    def __init__(self, app: GuongSang, render: Any, html_headers: dict[str, str]) -> None:
        self.app = app
        self.services = app.services
        self.base = app.settings.public_url
        self._render = render
        self._html_headers = html_headers

    # -- views -------------------------------------------------------------------------------

    def _view(
        self, sub: Submission, unit: Unit | None, honour: Honour | None, post: WebPost | None
    ) -> dict[str, Any]:
        """The public fields of a story (never the author's phone), phones in them masked."""
        values = sub.values
        author = values.get("_author") or {}
        story = str(values.get("story") or "")
        photos = [photo_path(sub, n, a) for n, a in enumerate(photos_of(sub), start=1)]
        when: datetime | None = (
            honour.honoured_at
            if honour
            else (post.published_at if post and post.published_at else sub.decided_at)
        )
        return {
            "code": sub.code or "",
            "title": mask_phones(str(values.get("title") or "")),
            "exemplar": mask_phones(str(values.get("exemplar_name") or "")),
            "address": mask_phones(str(values.get("exemplar_address") or "")),
            "focus": mask_phones(str(values.get("focus_area") or "")),
            "unit": mask_phones(unit.name) if unit else "",
            "unit_code": unit.code if unit else "",
            "author_name": mask_phones(str(author.get("full_name") or "")),
            "campaign_title": sub.campaign.title,
            "paragraphs": [
                mask_phones(line.strip()) for line in story.splitlines() if line.strip()
            ],
            "excerpt": mask_phones(excerpt(" ".join(story.split()), EXCERPT_WORDS, EXCERPT_CHARS)),
            "photos": photos,
            "photo_urls": [self.base + p for p in photos],
            "photo_types": [_image_type(a) for a in photos_of(sub)],
            "cover": photos[0] if photos else None,
            "honour": (
                {
                    "number": mask_phones(honour.decision_number),
                    "date": honour.decision_date,
                    "summary": mask_phones(honour.summary),
                }
                if honour
                else None
            ),
            "portal_url": post.portal_url if post else None,
            "when": when or sub.updated_at,
            "path": f"/stories/{sub.code}",
            "url": f"{self.base}/stories/{sub.code}",
        }

    async def _unit_views(
        self, session: AsyncSession, unit: Unit, limit: int
    ) -> list[dict[str, Any]]:
        stories = await web_posts.unit_stories(session, unit.id, limit)
        honours, posts = await web_posts.details(session, [s.id for s in stories])
        return [self._view(s, unit, honours.get(s.id), posts.get(s.id)) for s in stories]

    def _html(
        self, body: str, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return HTMLResponse(body, status_code=status, headers=headers or self._html_headers)

    def _not_found(self) -> Response:
        return self._html(self._render("not_found.html", bad_filter=False), status=404)

    def _snippet(self, unit: Unit) -> str:
        return self._render("snippet.html", base_url=self.base, unit=unit).strip()

    # -- endpoints ---------------------------------------------------------------------------

    async def unit_page(self, request: Request) -> Response:
        """The unit's published stories, titled with its name."""
        async with self.app.db.transaction() as session:
            unit = await unit_by_code(session, request.path_params["code"])
            if unit is None or not unit.code:
                return self._not_found()
            items = await self._unit_views(session, unit, UNIT_PAGE_SIZE)
        body = self._render(
            "unit.html",
            unit=unit,
            unit_name=mask_phones(unit.name),
            items=items,
            page_url=f"{self.base}/units/{unit.code}",
            feed_url=f"/units/{unit.code}.atom",
            snippet=self._snippet(unit),
        )
        return self._html(body)

    async def unit_feed(self, request: Request) -> Response:
        """An Atom feed of the unit's published stories with their text and photos."""
        async with self.app.db.transaction() as session:
            unit = await unit_by_code(session, request.path_params["code"])
            if unit is None or not unit.code:
                return self._not_found()
            entries = await self._unit_views(session, unit, UNIT_PAGE_SIZE)
        updated = max((e["when"] for e in entries), default=None) or self.services.now()
        for entry in entries:
            # Atom's type="html" content is HTML carried as escaped text: rendered (and its
            # user text escaped) once here, escaped again by the feed's template.
            entry["content"] = self._render("unit_entry.html", e=entry)
        page_url = f"{self.base}/units/{unit.code}"
        body = self._render(
            "unit.atom",
            unit_name=mask_phones(unit.name),
            entries=entries,
            feed_id=f"{page_url}.atom",
            self_url=f"{page_url}.atom",
            html_url=page_url,
            updated=updated,
            rfc3339=_rfc3339,
        )
        return Response(
            body,
            media_type="application/atom+xml; charset=utf-8",
            headers={"Access-Control-Allow-Origin": "*", "X-Content-Type-Options": "nosniff"},
        )

    async def unit_embed(self, request: Request) -> Response:
        """A small block of the unit's newest stories, for a school portal's iframe."""
        async with self.app.db.transaction() as session:
            unit = await unit_by_code(session, request.path_params["code"])
            if unit is None or not unit.code:
                return self._not_found()
            items = await self._unit_views(session, unit, EMBED_SIZE)
        body = self._render(
            "embed.html",
            unit_name=mask_phones(unit.name),
            items=items,
            base=self.base,
            page_url=f"{self.base}/units/{unit.code}",
        )
        return self._html(body, headers=EMBED_HEADERS)

    async def story_page(self, request: Request) -> Response:
        """One public story in full (honoured, or published by its unit's head)."""
        code = request.path_params["code"]
        if not valid_code(code):
            return self._not_found()
        async with self.app.db.transaction() as session:
            sub = await repo.by_code(session, code)
            if sub is None or not await web_posts.is_public(session, sub.id):
                return self._not_found()
            sub = await repo.get(session, sub.id)
            assert sub is not None
            unit = await session.get(Unit, sub.unit_id) if sub.unit_id else None
            honours, posts = await web_posts.details(session, [sub.id])
            view = self._view(sub, unit, honours.get(sub.id), posts.get(sub.id))
        return self._html(self._render("story.html", item=view))

    async def photo(self, request: Request) -> Response:
        """A public story's photo at its stable address; 404 once the story is not public."""
        code, name = request.path_params["code"], request.path_params["name"]
        match = _PHOTO.match(name)
        if not valid_code(code) or match is None:
            return PlainTextResponse("Không tìm thấy ảnh.", status_code=404)
        n = int(match.group(1))
        async with self.app.db.transaction() as session:
            sub = await repo.by_code(session, code)
            if sub is None or not await web_posts.is_public(session, sub.id):
                return PlainTextResponse("Không tìm thấy ảnh.", status_code=404)
            sub = await repo.get(session, sub.id)
            assert sub is not None
            photos = photos_of(sub)
            attachment = photos[n - 1] if n <= len(photos) else None
        if attachment is None or photo_path(sub, n, attachment) != f"/photos/{code}/{name}":
            # Only the one spelling we publish (the code's case, the stored extension).
            return PlainTextResponse("Không tìm thấy ảnh.", status_code=404)
        path = self._stored_file(attachment)
        if path is None:
            log.warning("photos: attachment %s has no file on disk", attachment.id)
            return PlainTextResponse("Không tìm thấy ảnh.", status_code=404)
        return FileResponse(
            path,
            media_type=_image_type(attachment),
            headers={"Cache-Control": PHOTO_CACHE, "X-Content-Type-Options": "nosniff"},
        )

    def _stored_file(self, attachment: Attachment) -> Path | None:
        root = self.services.media_dir.resolve()
        path = (root / attachment.stored_path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path


IMAGE_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
}


def _image_type(attachment: Attachment) -> str:
    # Only image types go out: a stored type of anything else must not reach a browser.
    if attachment.mime_type in IMAGE_TYPES.values():
        return attachment.mime_type
    extension = Path(attachment.stored_path).suffix.lower().lstrip(".")
    return IMAGE_TYPES.get(extension, "application/octet-stream")


def _rfc3339(moment: datetime) -> str:
    """Atom's timestamp form, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unit_routes(app: GuongSang, render: Any, html_headers: dict[str, str]) -> list[Route]:
    """The per-unit pages, the story pages and the stable photo addresses."""
    pages = UnitPages(app, render, html_headers)
    return [
        # The feed first: "/units/{code}" would otherwise take "TH-KG.atom" as a code.
        Route("/units/{code}.atom", pages.unit_feed),
        Route("/units/{code}/embed", pages.unit_embed),
        Route("/units/{code}", pages.unit_page),
        Route("/stories/{code}", pages.story_page),
        Route("/photos/{code}/{name}", pages.photo),
    ]
