"""`guongsang backup` and `guongsang restore`: an office's year survives, photos and all.

A backup is taken from the real application's database while the application is open and
writing; it is restored with the real command line into an empty data dir (and, on
PostgreSQL, an empty database), and every story, photo, decision and event is found there.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tarfile
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bot import backup_command
from bot.app import GuongSang
from bot.settings import Settings
from storage import events
from storage.models import Attachment, Event, Honour, Submission
from tests.apps import FIXTURES, Clock, run_cli_beside, start_app
from tests.backends import fresh_database, postgresql_only
from tests.factories import honoured_story, story


async def office_year(app: GuongSang) -> None:
    """Stories in several states with photos, review decisions and two honours."""
    await story(app, code="GS-2024-0001", photos=2)
    await story(app, code="GS-2024-0002", status="rejected", photos=1, exemplar="Trần Văn Bình")
    await honoured_story(app, code="GS-2024-0003", photos=3, exemplar="Lê Thị Cúc")
    await honoured_story(
        app,
        code="GS-2024-0004",
        decision_number="2001/QĐ-UBND",
        decision_date=date(2024, 4, 2),
        exemplar="Phạm Văn Dũng",
    )
    async with app.db.transaction() as session:
        for sub in await session.scalars(select(Submission)):
            await events.record(
                session,
                subject="submission",
                subject_id=sub.id,
                action="rejected" if sub.status == "rejected" else "approved",
                actor_id=None,
                channel="telegram",
                from_status="in_review",
                to_status=sub.status,
                reason="Thiếu ảnh minh họa" if sub.status == "rejected" else None,
            )


async def contents(app: GuongSang) -> dict[str, object]:
    """What a restore must bring back: stories, photos (with their bytes), decisions, events."""
    media = app.services.media_dir
    async with app.db.transaction() as session:
        subs = {
            s.code: (s.status, s.values["exemplar_name"], s.values["story"])
            for s in await session.scalars(select(Submission))
        }
        photos = {}
        for a in await session.scalars(select(Attachment)):
            path = media / a.stored_path
            found = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            photos[a.stored_path] = (a.sha256, found)
        honours = {
            (h.submission.code, h.decision_number, h.decision_date, h.summary)
            for h in await session.scalars(select(Honour))
        }
        log = {
            (e.id, e.subject, e.subject_id, e.action, e.to_status, e.reason)
            for e in await session.scalars(select(Event).where(Event.action != "restored"))
        }
    return {"stories": subs, "photos": photos, "honours": honours, "events": log}


def cli_env(data_dir: Path, database_url: str) -> dict[str, str]:
    return {
        "GUONGSANG_DATA_DIR": str(data_dir),
        "GUONGSANG_DATABASE_URL": database_url,
        "GUONGSANG_CONFIG": str(FIXTURES / "campaigns.toml"),
    }


async def test_backup_while_open_then_restore_into_empty_dir(
    app: GuongSang, settings: Settings, clock: Clock, backend: str, tmp_path: Path
) -> None:
    await office_year(app)
    before = await contents(app)
    assert len(before["photos"]) == 7 and all(  # type: ignore[arg-type]
        stored == found
        for stored, found in before["photos"].values()  # type: ignore[attr-defined]
    )
    archive = tmp_path / "backups" / "guongsang.tar.gz"

    # The application is open and keeps writing while the backup is taken.
    async def keep_writing() -> None:
        async with app.db.transaction() as session:
            await events.record(
                session, subject="person", subject_id=1, action="wrote", actor_id=None, channel=None
            )

    summary, _ = await asyncio.gather(backup_command.backup(settings, archive), keep_writing())
    assert summary.counts["stories"] == 4 and summary.counts["photos"] == 7
    assert summary.counts["honours"] == 2 and summary.media_files == 7
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        names = tar.getnames()
    assert manifest["backend"] == backend and manifest["counts"] == summary.counts
    assert sum(name.startswith("media/") and not name.endswith("/") for name in names) == 7

    target = tmp_path / "restored"
    async with fresh_database(backend, target, "gs_restore") as url:
        env = cli_env(target, url)
        done = await run_cli_beside(env, "restore", str(archive))
        assert done.returncode == 0, done.stderr
        assert "4 bài, 7 ảnh" in done.stdout and "2 quyết định tuyên dương" in done.stdout
        assert "INFO" not in done.stdout + done.stderr

        restored_settings = settings.model_copy(update={"data_dir": target, "database_url": url})
        restored = await start_app(restored_settings, clock, with_units=False)
        try:
            after = await contents(restored)
            async with restored.db.transaction() as session:
                (logged,) = await session.scalars(select(Event).where(Event.action == "restored"))
        finally:
            await restored.close()
        # Every story, photo (the same bytes, on disk), decision and event came back; the
        # event written during the backup may or may not have made it, nothing else may differ.
        after_events = after.pop("events")
        before_events = before.pop("events")
        assert after == before
        assert before_events <= after_events  # type: ignore[operator]
        assert {e[3] for e in after_events - before_events} <= {"wrote"}  # type: ignore[operator]
        assert logged.channel == "cli" and logged.reason == str(archive)

        # A second restore into the now filled dir is refused and changes nothing…
        again = await run_cli_beside(env, "restore", str(archive))
        assert again.returncode == 2
        assert "không trống" in again.stderr or "đã có" in again.stderr, again.stderr
        assert "--force" in again.stderr
        # …unless forced, which replaces it with the archive's contents.
        forced = await run_cli_beside(env, "restore", "--force", str(archive))
        assert forced.returncode == 0, forced.stderr
        restored = await start_app(restored_settings, clock, with_units=False)
        try:
            again_after = await contents(restored)
            again_after.pop("events")
            assert again_after == before
        finally:
            await restored.close()


async def test_backup_command_line_writes_the_archive_it_names(
    app: GuongSang, settings: Settings, tmp_path: Path
) -> None:
    await story(app, code="GS-2024-0001", photos=1)
    archive = tmp_path / "sao-luu.tar.gz"
    env = cli_env(settings.data_dir, settings.resolved_database_url)
    done = await run_cli_beside(env, "backup", "--output", str(archive))
    assert done.returncode == 0, done.stderr
    assert str(archive) in done.stdout and "1 bài, 1 ảnh" in done.stdout
    assert "INFO" not in done.stdout + done.stderr
    assert archive.is_file()


async def test_restore_refuses_what_is_not_a_backup(settings: Settings, tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-backup.tar.gz"
    bogus.write_bytes(b"hello")
    env = cli_env(tmp_path / "empty", settings.resolved_database_url)
    done = await run_cli_beside(env, "restore", str(bogus))
    assert done.returncode == 2
    assert "không phải bản sao lưu" in done.stderr
    assert not (tmp_path / "empty").exists()


@postgresql_only()
async def test_backup_without_pg_dump_says_what_to_install(
    app: GuongSang, settings: Settings, tmp_path: Path
) -> None:
    nothing = tmp_path / "bin"
    nothing.mkdir()
    env = {
        **cli_env(settings.data_dir, settings.resolved_database_url),
        # No directory on PATH holds pg_dump (the interpreter is called by its full path).
        "PATH": str(nothing),
    }
    out = tmp_path / "out"
    done = await run_cli_beside(env, "backup", "--output", str(out / "b.tar.gz"))
    assert done.returncode == 2
    assert "pg_dump" in done.stderr and "postgresql-client" in done.stderr
    assert list(out.iterdir()) == []  # no archive, and no half-written one


async def test_restore_refuses_a_backup_of_another_database_kind(tmp_path: Path) -> None:
    manifest = {"format": "guongsang-backup", "version": 1, "backend": "postgresql"}
    manifest["database"] = "database.sql"
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "manifest.json").write_text(json.dumps(manifest))
    (staged / "database.sql").write_text("")
    archive = tmp_path / "pg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in staged.iterdir():
            tar.add(path, arcname=path.name)
    target = tmp_path / "data"
    env = cli_env(target, f"sqlite+aiosqlite:///{target / 'guongsang.db'}")
    done = await run_cli_beside(env, "restore", str(archive))
    assert done.returncode == 2 and "cùng loại" in done.stderr, done.stderr
