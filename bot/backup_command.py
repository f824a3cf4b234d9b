"""`guongsang backup` and `guongsang restore`: the database and the photos in one archive.

An archive is a .tar.gz holding `manifest.json`, the database (`database.sqlite`, a copy made
with SQLite's online backup API, or `database.sql`, pg_dump's plain SQL) and `media/`, the
stored photos and documents. The bot may keep running while a backup is taken: the database
is copied first, from one consistent snapshot, and the photos after it, so every photo the
copied database names is already on disk (a photo is stored before its row is committed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import URL, make_url

from bot.settings import Settings
from templates import Texts

FORMAT = "guongsang-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite"
SQL_FILE = "database.sql"
MEDIA = "media"
# What the manifest counts, by table: what an office would check after a restore.
COUNTED = {
    "stories": "submissions",
    "photos": "attachments",
    "honours": "honours",
    "events": "events",
    "units": "units",
    "people": "people",
}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is for the person at the terminal."""


@dataclass(frozen=True)
class Summary:
    """What an archive holds: the manifest's counts and the number of media files."""

    path: Path
    backend: str
    counts: dict[str, int]
    media_files: int


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `backup [--output FILE]` and `restore ARCHIVE [--force]` on `sub`."""
    backup = sub.add_parser(
        "backup", help="copy the database and the photos into one .tar.gz (the bot may run)"
    )
    backup.add_argument(
        "--output", type=Path, help="archive to write (default: guongsang-backup-<time>.tar.gz)"
    )
    backup.set_defaults(func=_backup)
    restore = sub.add_parser("restore", help="restore a backup into an empty data dir/database")
    restore.add_argument("archive", type=Path)
    restore.add_argument(
        "--force",
        action="store_true",
        help="replace what the data dir or database already holds (stop the bot first)",
    )
    restore.set_defaults(func=_restore)


async def _backup(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    output = args.output or Path(
        datetime.now(ZoneInfo(settings.timezone)).strftime(
            "guongsang-backup-%Y-%m-%d-%H%M%S.tar.gz"
        )
    )
    try:
        summary = await backup(settings, output)
    except BackupError as exc:
        print(texts.render("backup.failed", message=str(exc)), file=sys.stderr)
        return 2
    print(texts.render("backup.written", summary=summary))
    return 0


async def _restore(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    try:
        summary = await restore(settings, args.archive, force=args.force)
    except BackupError as exc:
        print(texts.render("backup.failed", message=str(exc)), file=sys.stderr)
        return 2
    print(texts.render("backup.restored", summary=summary, data_dir=settings.data_dir))
    return 0


async def backup(settings: Settings, output: Path) -> Summary:
    """Write the database and the media dir to the archive `output`; returns what it holds.

    Safe while the bot runs: the slow parts run in threads or child processes, off the loop.
    """
    url = make_url(settings.resolved_database_url)
    backend = url.get_backend_name()
    output = await asyncio.to_thread(_output_dir, output)
    with tempfile.TemporaryDirectory(prefix=".guongsang-backup-", dir=output.parent) as tmp:
        work = Path(tmp)
        if backend == "sqlite":
            source = Path(url.database or "")
            counts = await asyncio.to_thread(_sqlite_snapshot, source, work / SQLITE_FILE)
            database = SQLITE_FILE
        elif backend == "postgresql":
            counts = await _pg_dump(url, work / SQL_FILE)
            database = SQL_FILE
        else:
            raise BackupError(f"không sao lưu được cơ sở dữ liệu loại {backend}")
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "backend": backend,
            "database": database,
            "counts": counts,
        }
        # Written beside the output, then renamed: a half-written archive never has its name.
        partial = work / "archive.tar.gz"
        media_files = await asyncio.to_thread(
            _write_archive, partial, work / database, settings.media_dir, manifest
        )
        os.replace(partial, output)
    return Summary(output, backend, counts, media_files)


async def restore(settings: Settings, archive: Path, *, force: bool = False) -> Summary:
    """Restore `archive` into the configured data dir and database; returns what it held.

    Refuses a data dir, SQLite file or PostgreSQL database that already holds something,
    unless `force`. The restored database is then migrated to this version's schema.
    """
    url = make_url(settings.resolved_database_url)
    backend = url.get_backend_name()
    with tempfile.TemporaryDirectory(prefix="guongsang-restore-") as tmp:
        work = Path(tmp)
        manifest = await asyncio.to_thread(_extract, archive, work)
        if manifest.get("backend") != backend:
            raise BackupError(
                f"bản sao lưu là của {manifest.get('backend')}, còn cấu hình hiện tại dùng "
                f"{backend}; hãy khôi phục vào cùng loại cơ sở dữ liệu"
            )
        if backend == "sqlite":
            target = Path(url.database or "")
            await asyncio.to_thread(_check_empty_dir, settings, target, force)
            await asyncio.to_thread(_restore_sqlite, work / SQLITE_FILE, target)
        else:
            await asyncio.to_thread(_check_empty_dir, settings, None, force)
            await _restore_postgresql(url, work / SQL_FILE, force)
        media_files = await asyncio.to_thread(_restore_media, work / MEDIA, settings.media_dir)
    counts = await _after_restore(settings, archive, manifest)
    return Summary(archive, backend, counts, media_files)


def _output_dir(output: Path) -> Path:
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    return output


def _sqlite_snapshot(source: Path, target: Path) -> dict[str, int]:
    """Copy the live database with SQLite's online backup API: one consistent snapshot,
    taken while the bot goes on writing (in WAL mode, readers never block its writer)."""
    if not source.is_file():
        raise BackupError(f"không có cơ sở dữ liệu SQLite tại {source}")
    src = sqlite3.connect(source, timeout=60)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # One self-contained file in the archive, not a database that expects a -wal beside it.
        dst.execute("PRAGMA journal_mode=DELETE")
        return {name: _count(dst, table) for name, table in COUNTED.items()}
    finally:
        dst.close()
        src.close()


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _pg_environment(url: URL) -> dict[str, str]:
    """libpq's environment for pg_dump and psql: the password never shows in `ps`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[key] = str(value)
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if isinstance(ssl, str):
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl, ssl)
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"không tìm thấy lệnh {name}: cài gói công cụ PostgreSQL "
            f"(Debian/Ubuntu: sudo apt install postgresql-client) rồi chạy lại"
        )
    return found


async def _pg_dump(url: URL, target: Path) -> dict[str, int]:
    """Dump the database with pg_dump, counting rows in the very snapshot pg_dump reads."""
    import asyncpg

    pg_dump = _tool("pg_dump")
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        # The counts and the dump come from one exported snapshot, held open by this
        # transaction until pg_dump has finished.
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            counts = {
                name: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
                for name, table in COUNTED.items()
            }
            child = await asyncio.create_subprocess_exec(
                pg_dump,
                "--format=plain",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={target}",
                env=_pg_environment(url),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await child.communicate()
            if child.returncode != 0:
                raise BackupError(f"pg_dump thất bại: {err.decode(errors='replace').strip()}")
    finally:
        await conn.close()
    return counts


def _asyncpg_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _write_archive(archive: Path, database: Path, media_dir: Path, manifest: dict[str, Any]) -> int:
    """Pack the manifest, the database copy and every media file; returns how many files."""
    files = sorted(p for p in media_dir.rglob("*") if p.is_file()) if media_dir.is_dir() else []
    manifest = {**manifest, "media_files": len(files)}
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
    (archive.parent / MANIFEST).write_bytes(data)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(archive.parent / MANIFEST, arcname=MANIFEST)
        tar.add(database, arcname=database.name)
        for path in files:
            tar.add(path, arcname=f"{MEDIA}/{path.relative_to(media_dir).as_posix()}")
    return len(files)


def _extract(archive: Path, target: Path) -> dict[str, Any]:
    """Unpack an archive (refusing paths outside `target`) and return its manifest."""
    if not archive.is_file():
        raise BackupError(f"không tìm thấy tệp {archive}")
    try:
        with tarfile.open(archive, "r:*") as tar:
            # The "data" filter refuses absolute paths, "..", links out of the tree and devices.
            tar.extractall(target, filter="data")
        manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise BackupError(f"{archive} không phải bản sao lưu của Gương Sáng ({exc})") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{archive} không phải bản sao lưu của Gương Sáng (phiên bản lạ)")
    if not (target / str(manifest.get("database"))).is_file():
        raise BackupError(f"{archive} thiếu tệp cơ sở dữ liệu")
    return manifest


def _check_empty_dir(settings: Settings, sqlite_file: Path | None, force: bool) -> None:
    """Refuse to restore over data (unless forced); when forced, clear what will be replaced."""
    data_dir = settings.data_dir
    held = sorted(p.name for p in data_dir.iterdir()) if data_dir.is_dir() else []
    if sqlite_file is not None and sqlite_file.exists() and sqlite_file.name not in held:
        held.append(str(sqlite_file))
    if held and not force:
        raise BackupError(
            f"thư mục dữ liệu {data_dir} không trống ({', '.join(held[:5])}); "
            "khôi phục vào một thư mục trống, hoặc thêm --force để thay toàn bộ "
            "(hãy dừng bot trước)"
        )
    if force:
        shutil.rmtree(settings.media_dir, ignore_errors=True)
        if sqlite_file is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)


def _restore_sqlite(copy: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(copy, target)


async def _restore_postgresql(url: URL, dump: Path, force: bool) -> None:
    """Load pg_dump's SQL into the configured database, which must be empty (or be emptied)."""
    import asyncpg

    psql = _tool("psql")
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        if tables and not force:
            raise BackupError(
                f"cơ sở dữ liệu {url.database} đã có {tables} bảng; khôi phục vào một cơ sở "
                "dữ liệu trống, hoặc thêm --force để thay toàn bộ (hãy dừng bot trước)"
            )
        if tables:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    child = await asyncio.create_subprocess_exec(
        psql,
        "--no-psqlrc",
        "--quiet",
        "--single-transaction",
        "--set=ON_ERROR_STOP=1",
        f"--file={dump}",
        env=_pg_environment(url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await child.communicate()
    if child.returncode != 0:
        raise BackupError(f"psql thất bại: {err.decode(errors='replace').strip()}")


def _restore_media(source: Path, media_dir: Path) -> int:
    media_dir.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return 0
    shutil.copytree(source, media_dir, dirs_exist_ok=True)
    return sum(1 for p in media_dir.rglob("*") if p.is_file())


async def _after_restore(
    settings: Settings, archive: Path, manifest: dict[str, Any]
) -> dict[str, int]:
    """Migrate the restored database, log the restore and count what it holds."""
    from sqlalchemy import func, select

    from bot.app import running
    from storage import events
    from storage.models import Base

    tables = Base.metadata.tables
    async with running(settings) as app, app.db.transaction() as session:
        await events.record(
            session,
            subject="database",
            subject_id=0,
            action="restored",
            actor_id=None,
            channel="cli",
            reason=str(archive),
            data={"backup_created_at": manifest.get("created_at")},
        )
        counts = {}
        for name, table in COUNTED.items():
            counts[name] = int(
                await session.scalar(select(func.count()).select_from(tables[table])) or 0
            )
    # The restore itself is one of the events now in the database.
    counts["events"] -= 1
    return counts
