"""Data built straight through the storage layer, for tests of what comes after review."""

from __future__ import annotations

import zlib
from datetime import date, datetime

from sqlalchemy import select

from bot.app import GuongSang
from handlers import files
from handlers.broadcast import page_slug
from storage import honours, people
from storage.models import Attachment, Honour, Submission, Unit
from tests.drivers import jpeg


async def honoured_story(app: GuongSang, *, code: str, **fields: object) -> Honour:
    """An approved, honoured story with stored photos, as the review flow would leave it."""
    decision = {
        k: fields.pop(k) for k in ("decision_number", "decision_date", "summary") if k in fields
    }
    sub = await story(app, code=code, status="honoured", **fields)  # type: ignore[arg-type]
    async with app.db.transaction() as session:
        sub = await session.get(Submission, sub.id)  # type: ignore[assignment]
        assert sub is not None
        return await honours.create(
            session,
            sub,
            decision_number=str(decision.get("decision_number", "1625/QĐ-UBND")),
            decision_date=decision.get("decision_date", date(2024, 3, 20)),  # type: ignore[arg-type]
            summary=str(
                decision.get("summary", "Mở lớp học miễn phí cho học sinh khó khăn suốt ba năm.")
            ),
            slug=page_slug(sub),
            honoured_by_id=None,
            at=datetime(2024, 3, 21, 3, 0, tzinfo=app.services.now().tzinfo),
        )


async def story(
    app: GuongSang,
    *,
    code: str,
    status: str = "approved",
    exemplar: str = "Nguyễn Thị Lan",
    title: str = "Cô giáo của những buổi chiều thứ Bảy",
    story: str = "Cô Lan mở lớp học miễn phí vào chiều thứ Bảy.",
    unit_name: str = "Trường Tiểu học Kim Giang",
    address: str | None = None,
    focus_area: str = "An toàn trường học",
    author_phone: str = "0912345678",
    photos: int = 1,
    campaign_slug: str = "thanh-xuan-2024",
) -> Submission:
    """A reviewed story (approved by default) with stored photos."""
    async with app.db.transaction() as session:
        unit = await session.scalar(select(Unit).where(Unit.name == unit_name))
        assert unit is not None, unit_name
        chat = str(500_000 + int(code.rsplit("-", 1)[-1]))
        author = await people.create_with_identity(session, "telegram", chat, chat, "Tác giả")
        author.full_name, author.phone, author.unit_id = "Nguyễn Thị Hoa", author_phone, unit.id
        now = app.services.now()
        sub = Submission(
            code=code,
            campaign_id=app.services.campaign_ids[campaign_slug],
            author_id=author.id,
            unit_id=unit.id,
            status=status,
            values={
                "exemplar_name": exemplar,
                "exemplar_address": address or unit_name,
                "focus_area": focus_area,
                "title": title,
                "story": story,
                "_author": {
                    "full_name": "Nguyễn Thị Hoa",
                    "phone": author_phone,
                    "unit": unit_name,
                    "unit_id": unit.id,
                },
            },
            word_count=len(story.split()),
            channel="telegram",
            chat_id=chat,
            submitted_at=now,
            status_since=now,
            attachments=[],
        )
        session.add(sub)
        await session.flush()
        for n in range(photos):
            # Seeded by the code itself, not hash(), which changes with every run: two
            # stories' photos alike by chance would be stored once, and counts would differ.
            data = jpeg(zlib.crc32(f"{code}/{n}".encode()) % 256)
            stored = files.store(app.services.media_dir, data, "jpg", "image/jpeg")
            sub.attachments.append(
                Attachment(
                    kind="photo",
                    channel="telegram",
                    platform_file_id=f"f-{code}-{n}",
                    stored_path=str(stored.path.relative_to(app.services.media_dir)),
                    sha256=stored.sha256,
                    size=stored.size,
                    mime_type="image/jpeg",
                )
            )
        await session.flush()
        return sub


async def honour_and_send(
    app: GuongSang,
    code: str,
    summary: str = "Mở lớp học miễn phí cho học sinh khó khăn.",
    progress_chat: tuple[str, str] | None = None,
) -> None:
    """Honour an approved story by decision 1625/QĐ-UBND of 20/03/2023 and start its
    broadcast, as `guongsang honour` does (or, with `progress_chat`, /honour in that chat)."""
    from handlers import broadcast as broadcasting

    async with app.db.transaction() as session:
        await broadcasting.honour(
            session,
            app.services,
            code,
            decision_number="1625/QĐ-UBND",
            decision_date=date(2023, 3, 20),
            summary=summary,
            actor_id=None,
            channel="cli",
            progress_chat=progress_chat,
        )
    app.delivery.kick()


async def add_audience(app: GuongSang, chat_ids: list[int], kind: str = "person") -> None:
    """Telegram chats that receive broadcasts (people subscribed, or channels and groups)."""
    from handlers import broadcast as broadcasting

    async with app.db.transaction() as session:
        for chat_id in chat_ids:
            await broadcasting.set_subscription(
                session, app.services, "telegram", str(chat_id), None, True, kind=kind
            )
