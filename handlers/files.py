"""Incoming files: size limits, image checks, reading .docx/.txt stories, checksummed storage."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO
from xml.etree import ElementTree

from PIL import Image, UnidentifiedImageError

from handlers.types import DocumentText, ImageCheck, IncomingFile, StoredFile

IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# Pillow's decompression-bomb limit (about 89 megapixels, 11,000 × 8,000): far above any
# phone's photo in its usual mode (12–50 MP), and a picture that size decoded would take
# hundreds of megabytes wherever it is later opened.
MAX_PHOTO_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


class FileTooLarge(Exception):
    """The file is over the size limit; `size` is in bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class FileUnavailable(Exception):
    """The file could not be fetched (a link that timed out, failed or answered no file)."""


async def download(file: IncomingFile, max_bytes: int) -> bytes:
    """Fetch the file's bytes, refusing before download when the platform says it is too big."""
    if file.size is not None and file.size > max_bytes:
        raise FileTooLarge(file.size)
    data = await file.fetch()
    if len(data) > max_bytes:
        raise FileTooLarge(len(data))
    return data


def check_image(data: bytes) -> ImageCheck:
    """What the bytes are as a photo: a whole image of a supported format and a sane size.

    Only the formats we take are tried (not every format Pillow knows), and the check reads
    headers and chunks without decoding pixels. A picture of more than MAX_PHOTO_PIXELS is
    refused before Pillow's own decompression-bomb guard (a warning up to twice that) is met.
    """
    try:
        # Between its limit and twice it Pillow only warns (once, in the log); the size is
        # refused here. Past twice it, Pillow raises.
        with Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS)) as img:
            fmt, pixels = img.format, img.width * img.height
            if pixels > MAX_PHOTO_PIXELS:
                return ImageCheck(problem="too_big", pixels=pixels)
            img.verify()
    except Image.DecompressionBombError:
        return ImageCheck(problem="too_big", pixels=MAX_PHOTO_PIXELS * 2)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return ImageCheck(problem="not_image")
    extension = IMAGE_FORMATS.get(fmt or "")
    return ImageCheck(extension) if extension else ImageCheck(problem="not_image")


def store(media_dir: Path, data: bytes, extension: str, mime_type: str) -> StoredFile:
    """Write `data` under media_dir/<sha[:2]>/<sha>.<ext>; the same bytes land in the same file."""
    digest = hashlib.sha256(data).hexdigest()
    path = media_dir / digest[:2] / f"{digest}.{extension}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: the same photo may be stored by two threads at once (forwarded
        # to two chats), and either rename leaves the same whole file in place.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{digest[:16]}-", suffix=".part")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
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


# Bounds on a story file, checked before anything is unpacked or decoded. A story of 2,000
# words is about 12,000 characters; Word wraps it in a few hundred KB of XML at most, even with a
# run of formatting per word. Anything far beyond is not a story, and reading it whole would
# take seconds and hundreds of megabytes (a 290 KB .docx can unpack to 100 MB of XML).
MAX_DOCUMENT_XML = 2 * 1024 * 1024
MAX_PARAGRAPHS = 10_000
# A .docx has a dozen parts, more with pictures; the zip directory is read before the count is
# known, so the count comes from the end record first (ZipFile would build an object per entry).
MAX_ZIP_ENTRIES = 1_000
MAX_RELS_XML = 64 * 1024
# 12,000 characters of Vietnamese are at most 36 KB of UTF-8 (3 bytes a character, most take
# fewer), 24 KB of UTF-16; a text file beyond this is refused before it is decoded.
MAX_TXT_BYTES = 256 * 1024
# What any file's text may come to once read: far over every campaign's story (12,000
# characters for 2,000 words), far under what would slow the checks that follow.
MAX_TEXT_CHARS = 200_000
_CHUNK = 64 * 1024
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_MAX_ZIP_COMMENT = 65_535
_MAIN = "word/document.xml"
_OFFICE_DOCUMENT = "/officeDocument"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_PARAGRAPH, _TABLE, _ROW, _CELL = f"{_W}p", f"{_W}tbl", f"{_W}tr", f"{_W}tc"
_TEXT, _TAB, _BREAKS = f"{_W}t", f"{_W}tab", (f"{_W}br", f"{_W}cr")
# Word writes a text box twice: as DrawingML, and in mc:Fallback as VML for old readers.
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
TOO_BIG = DocumentText(problem="too_big")
UNREADABLE = DocumentText(problem="unreadable")
_BROKEN = (
    zipfile.BadZipFile, zlib.error, KeyError, ValueError, OSError, EOFError,
    NotImplementedError, RuntimeError, ElementTree.ParseError,
)  # fmt: skip


def is_story_file(kind: str | None) -> bool:
    """Whether `document_type` names a file whose text can be a story."""
    return kind in ("docx", "txt")


async def read_story_aside(data: bytes, kind: str) -> DocumentText:
    """`read_story` in a worker thread: the event loop goes on serving other people."""
    return await asyncio.to_thread(read_story, data, kind)


async def prepare(incoming: IncomingFile, data: bytes) -> None:
    """Read a story file's text, or check a photo, as soon as its bytes are here: in a worker
    thread, before the update's transaction (the router fetches files first). The result is
    kept on `incoming` for the form to use."""
    kind = "image" if incoming.kind == "photo" else document_type(incoming)
    if kind == "image":
        incoming.image_check = await asyncio.to_thread(check_image, data)
    elif is_story_file(kind):
        assert kind is not None
        incoming.document_text = await read_story_aside(data, kind)


def read_story(data: bytes, kind: str) -> DocumentText:
    """The text of a .docx or .txt story, refusing files far larger than any story.

    Bounded in time and memory whatever the bytes: sizes are checked from the zip directory,
    the XML is streamed with a cap on bytes and paragraphs, a text file is measured before it
    is decoded.
    """
    read = _read_docx(data) if kind == "docx" else _read_txt(data)
    return TOO_BIG if len(read.text) > MAX_TEXT_CHARS else read


def _read_docx(data: bytes) -> DocumentText:
    entries = _zip_entries(data)
    if entries is None:
        return UNREADABLE
    if entries > MAX_ZIP_ENTRIES:
        return TOO_BIG
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(_main_part(archive))
            if info.file_size > MAX_DOCUMENT_XML:
                return TOO_BIG
            with archive.open(info) as stream:
                return _read_document_xml(stream)
    except _BROKEN:
        return UNREADABLE


def _zip_entries(data: bytes) -> int | None:
    """The number of entries the zip's end record declares, None when there is no end record.

    A zip64 archive (over 65,535 entries or 4 GB) declares 0xFFFF: more than any story needs.
    """
    end = data.rfind(_END_RECORD, max(0, len(data) - _END_RECORD_SIZE - _MAX_ZIP_COMMENT))
    if end < 0 or end + _END_RECORD_SIZE > len(data):
        return None
    (total,) = struct.unpack_from("<H", data, end + 10)
    return int(total)


def _main_part(archive: zipfile.ZipFile) -> str:
    """The package's main document: word/document.xml, or where _rels/.rels points."""
    names = set(archive.namelist())
    if _MAIN in names or "_rels/.rels" not in names:
        return _MAIN
    info = archive.getinfo("_rels/.rels")
    if info.file_size > MAX_RELS_XML:
        return _MAIN
    with archive.open(info) as stream:
        rels = ElementTree.fromstring(_without_dtd(stream.read(MAX_RELS_XML + 1)))
    for rel in rels:
        if str(rel.get("Type", "")).endswith(_OFFICE_DOCUMENT):
            return str(rel.get("Target", "")).lstrip("/")
    return _MAIN


def _without_dtd(xml: bytes) -> bytes:
    # Office XML never declares a DTD; one here could only define entities to expand.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml or len(xml) > MAX_RELS_XML:
        raise ValueError("not an Office part")
    return xml


def _read_document_xml(stream: IO[bytes]) -> DocumentText:
    """Stream word/document.xml: paragraphs and tables in order, at most MAX_DOCUMENT_XML bytes
    (whatever the directory declared) and MAX_PARAGRAPHS paragraphs; each is let go once read."""
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    blocks: list[str] = []
    stack: list[ElementTree.Element] = []
    read = paragraphs = open_paragraphs = open_tables = 0
    previous = b""
    while True:
        chunk = stream.read(_CHUNK)
        if chunk:
            read += len(chunk)
            if read > MAX_DOCUMENT_XML:
                return TOO_BIG
            # Checked across the chunk boundary too (the tail of the one before).
            window = previous[-16:] + chunk
            if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                return UNREADABLE
            previous = chunk
            parser.feed(chunk)
        else:
            parser.close()
        for event, element in parser.read_events():
            assert isinstance(element, ElementTree.Element)
            tag = element.tag
            if event == "start":
                stack.append(element)
                open_paragraphs += tag == _PARAGRAPH
                open_tables += tag == _TABLE
                continue
            stack.pop()
            if tag == _PARAGRAPH:
                open_paragraphs -= 1
                paragraphs += 1
                if paragraphs > MAX_PARAGRAPHS:
                    return TOO_BIG
                if open_paragraphs == 0 and open_tables == 0:
                    blocks.append(_paragraph_text(element))
            elif tag == _TABLE:
                open_tables -= 1
                if open_tables == 0 and open_paragraphs == 0:
                    blocks.extend(_table_rows(element))
            if len(stack) == 2:
                # A child of w:body, read: let it go, so memory holds one block at a time.
                stack[-1].remove(element)
        if not chunk:
            return DocumentText("\n".join(blocks))


def _table_rows(table: ElementTree.Element) -> list[str]:
    """A table's rows, one line each: its cells side by side, a cell's paragraphs on lines."""
    return [
        " ".join(
            "\n".join(_paragraph_text(p) for p in cell.findall(_PARAGRAPH))
            for cell in row.findall(_CELL)
        )
        for row in table.findall(_ROW)
    ]


def _paragraph_text(paragraph: ElementTree.Element) -> str:
    """A paragraph's text, every break in it a line break.

    python-docx's own `text` drops page and column breaks, gluing the words either side into
    one ("Cô Lan<page break>dạy" became "Cô Landạy"), which the word count then missed. A text
    box inside the paragraph gives its own lines, once.
    """
    out: list[str] = []
    # Depth-first without recursion: nesting in hostile XML can be deeper than Python's stack.
    stack = [iter(paragraph)]
    while stack:
        element = next(stack[-1], None)
        if element is None:
            stack.pop()
            continue
        tag = element.tag
        if tag == _TEXT:
            out.append(element.text or "")
        elif tag == _TAB:
            out.append("\t")
        elif tag in _BREAKS or tag == _PARAGRAPH:
            # A paragraph inside this one (a text box) starts on a line of its own.
            out.append("\n")
            if tag == _PARAGRAPH:
                stack.append(iter(element))
        elif tag != _FALLBACK:
            stack.append(iter(element))
    return "".join(out)


def _read_txt(data: bytes) -> DocumentText:
    if len(data) > MAX_TXT_BYTES:
        return TOO_BIG
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return DocumentText(data.decode("utf-16", errors="replace"))
    try:
        return DocumentText(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        # Old Vietnamese Windows text files use code page 1258.
        return DocumentText(data.decode("cp1258", errors="replace"))
