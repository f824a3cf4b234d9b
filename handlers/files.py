"""Incoming files: size limits, image checks, reading .docx/.txt stories, checksummed storage."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from handlers.types import IncomingFile

if TYPE_CHECKING:
    from docx.text.paragraph import Paragraph

IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Pillow refuses absurd pixel counts as a decompression-bomb guard; keep its default on.


class FileTooLarge(Exception):
    """The file is over the size limit; `size` is in bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class FileUnavailable(Exception):
    """The file could not be fetched (a link that timed out, failed or answered no file)."""


@dataclass(frozen=True)
class StoredFile:
    """A file written to the media folder under its checksum."""

    path: Path
    sha256: str
    size: int
    mime_type: str


async def download(file: IncomingFile, max_bytes: int) -> bytes:
    """Fetch the file's bytes, refusing before download when the platform says it is too big."""
    if file.size is not None and file.size > max_bytes:
        raise FileTooLarge(file.size)
    data = await file.fetch()
    if len(data) > max_bytes:
        raise FileTooLarge(len(data))
    return data


def image_format(data: bytes) -> str | None:
    """The image's file extension if the bytes are a whole, supported image, else None."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return IMAGE_FORMATS.get(fmt or "")


def store(media_dir: Path, data: bytes, extension: str, mime_type: str) -> StoredFile:
    """Write `data` under media_dir/<sha[:2]>/<sha>.<ext>; the same bytes land in the same file."""
    digest = hashlib.sha256(data).hexdigest()
    path = media_dir / digest[:2] / f"{digest}.{extension}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return StoredFile(path=path, sha256=digest, size=len(data), mime_type=mime_type)


def document_type(file: IncomingFile) -> str | None:
    """ "docx", "txt", "image" or None for a document we cannot take."""
    name = (file.file_name or "").lower()
    mime = (file.mime_type or "").lower()
    if name.endswith(".docx") or mime == DOCX_MIME:
        return "docx"
    if name.endswith(".txt") or mime == "text/plain":
        return "txt"
    if mime.startswith("image/") or name.endswith((".jpg", ".jpeg", ".png", ".webp")):
        return "image"
    return None


def read_story(data: bytes, kind: str) -> str | None:
    """The text of a .docx or .txt story, or None when the file cannot be read."""
    if kind == "docx":
        return _read_docx(data)
    return _read_txt(data)


def _read_docx(data: bytes) -> str | None:
    from docx import Document  # imported here: python-docx is slow to import and rarely needed
    from docx.opc.exceptions import PackageNotFoundError

    try:
        doc = Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, OSError):
        return None
    except Exception:
        return None
    parts = [_paragraph_text(p) for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            cells = ("\n".join(_paragraph_text(p) for p in cell.paragraphs) for cell in row.cells)
            parts.append(" ".join(cells))
    return "\n".join(parts)


def _paragraph_text(paragraph: Paragraph) -> str:
    """A paragraph's text, every break in it a line break.

    python-docx's own `text` drops page and column breaks, gluing the words either side into
    one ("Cô Lan<page break>dạy" became "Cô Landạy"), which the word count then missed.
    """
    from docx.oxml.ns import qn

    text, tab, breaks = qn("w:t"), qn("w:tab"), (qn("w:br"), qn("w:cr"))
    out = []
    for run in paragraph._p.iter(qn("w:r")):
        for element in run:
            if element.tag == text:
                out.append(element.text or "")
            elif element.tag == tab:
                out.append("\t")
            elif element.tag in breaks:
                out.append("\n")
    return "".join(out)


def _read_txt(data: bytes) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Old Vietnamese Windows text files use code page 1258.
        return data.decode("cp1258", errors="replace")
