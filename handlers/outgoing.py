"""Files the bot hands to a person in chat: exports it makes and documents it keeps.

A generated file is written under ``<data>/exports/<random>/<name>`` (the random folder keeps
two people's files of the same name apart and makes the path unguessable), sent as a file
where the channel sends files (Telegram), and as a signed download link that lasts a day
elsewhere (Zalo, the console, the web chat). Exports are deleted after two days by the app's
periodic tick (`forget_old_exports`): an internal list must not pile up on the server.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from datetime import timedelta
from pathlib import Path

from handlers.context import Ctx
from handlers.types import OutgoingFile, Reply

EXPORTS_FOLDER = "exports"
EXPORTS_KEPT = timedelta(days=2)
# Anything but letters (Vietnamese ones included), digits, dot, dash and underscore becomes "_".
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def exports_dir(ctx: Ctx) -> Path:
    """The folder generated files go in (the media folder's sibling, under the data folder)."""
    return ctx.services.media_dir.parent / EXPORTS_FOLDER


def safe_name(name: str) -> str:
    """`name` fit for a file name on every system (no path separators or control bytes)."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "tep"
    return cleaned[:120]


def write_export(ctx: Ctx, name: str, data: bytes) -> Path:
    """Write a generated file and return its path."""
    folder = exports_dir(ctx) / secrets.token_hex(8)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe_name(name)
    path.write_bytes(data)
    return path


def send_file(ctx: Ctx, path: Path, name: str, caption_name: str, **values: object) -> Reply:
    """Reply with the file at `path` shown as `name`: the file itself where the channel sends
    files, else a download link (office.file_link). `caption_name` is the template of the
    caption (office.j2 or emulation.j2), rendered with `values`."""
    caption = ctx.text(caption_name, name=name, **values)
    if ctx.event.caps.files or ctx.services.download_link is None:
        reply = Reply(text=caption, file=OutgoingFile(name, path, ""))
    else:
        url = ctx.services.download_link(path, name)
        reply = Reply(text=ctx.text("office.file_link", caption=caption, url=url, name=name))
    ctx.response.replies.append(reply)
    return reply


def forget_old_exports(data_dir: Path, kept: timedelta = EXPORTS_KEPT) -> int:
    """Delete export folders older than `kept`; returns how many were removed."""
    root = data_dir / EXPORTS_FOLDER
    if not root.is_dir():
        return 0
    cutoff = time.time() - kept.total_seconds()
    removed = 0
    for folder in root.iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                if folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
                else:
                    folder.unlink(missing_ok=True)
                removed += 1
        except FileNotFoundError:
            continue  # another worker removed it first
    return removed
