"""Story files that are not stories: a .docx that unpacks to 100 MB of XML, a zip of thousands
of parts, a 20 MiB .txt. Each is refused at once with a clear message, in bounded memory, and
read off the event loop before the update's transaction, so other people are answered meanwhile.

Driven through the real application (`app.handle`) on a real database; the file's bytes come
from its `fetch`, the network edge."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import time
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from bot.app import GuongSang
from handlers import files
from handlers.types import Event, IncomingFile
from storage.models import Submission
from tests.drivers import jpeg, to_story_step, typed, typed_photo

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Override PartName="/word/document.xml" ContentType="'
    'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)


def docx(body_chunks: object, extra_parts: int = 0) -> bytes:
    """A .docx (deflated) whose body is the XML `body_chunks` yields, written as it comes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        with archive.open("word/document.xml", "w", force_zip64=False) as part:
            part.write(f'<?xml version="1.0"?><w:document {_NS}><w:body>'.encode())
            for chunk in body_chunks:  # type: ignore[attr-defined]
                part.write(chunk)
            part.write(b"</w:body></w:document>")
        for n in range(extra_parts):
            archive.writestr(f"word/media/p{n}.xml", "")
    return buffer.getvalue()


def paragraphs(count: int, per_chunk: int = 100_000) -> object:
    """`count` tiny paragraphs ("a"), in chunks."""
    one = b"<w:p><w:r><w:t>a</w:t></w:r></w:p>"
    for start in range(0, count, per_chunk):
        yield one * min(per_chunk, count - start)


def sent_file(chat: str, data: bytes, name: str, mime: str) -> Event:
    """A document sent in `chat`, its bytes fetched from the platform."""

    async def fetch() -> bytes:
        return data

    event = typed(chat, "")
    event.kind, event.text = "document", ""
    event.files = [
        IncomingFile(
            kind="document",
            file_id=f"d{event.update_key}",
            fetch=fetch,
            size=len(data),
            file_name=name,
            mime_type=mime,
        )
    ]
    return event


def said(response: object) -> str:
    return "\n".join(r.text for r in response.replies)  # type: ignore[attr-defined]


def rss_kb(field: str) -> int:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(field)


def reset_peak() -> None:
    """Make VmHWM start again from the current resident size (Linux 4.0+)."""
    Path("/proc/self/clear_refs").write_text("5")


async def story_of(app: GuongSang, chat: str) -> str:
    async with app.db.transaction() as session:
        draft = await session.scalar(select(Submission).where(Submission.chat_id == chat))
        assert draft is not None
        return str(draft.values.get("story") or "")


async def test_a_docx_of_three_million_paragraphs_is_refused_at_once_in_bounded_memory(
    app: GuongSang,
) -> None:
    bomb = docx(paragraphs(3_000_000))
    assert len(bomb) < 1_000_000, len(bomb)  # about 300 KB, for 102 MB of XML
    await to_story_step(app, "bomb")
    await app.handle(typed("bomb", "Cô Lan dạy học miễn phí."))
    reset_peak()
    before = rss_kb("VmRSS")
    started = time.perf_counter()
    response = await app.handle(sent_file("bomb", bomb, "bai-viet.docx", DOCX_MIME))
    elapsed = time.perf_counter() - started
    grown_mb = (rss_kb("VmHWM") - before) / 1024
    text = said(response)
    assert "«bai-viet.docx» chứa nhiều hơn hẳn một bài viết" in text, text
    assert "giữ nguyên" in text
    # The bounds: refused in under a second, resident memory up by less than 50 MB.
    assert elapsed < 1.0, elapsed
    assert grown_mb < 50, grown_mb
    assert await story_of(app, "bomb") == "Cô Lan dạy học miễn phí."
    print(f"\n3,000,000-paragraph .docx refused in {elapsed * 1000:.0f} ms, +{grown_mb:.1f} MB")


@pytest.mark.parametrize(
    ("case", "data"),
    [
        # Small enough unpacked, but more paragraphs than any story (empty ones, 6 bytes each).
        ("paragraphs", docx([b"<w:p/>" * 20_000])),
        # Thousands of parts: the zip directory alone would take memory to read.
        ("parts", docx([b"<w:p><w:r><w:t>Lan.</w:t></w:r></w:p>"], extra_parts=5_000)),
    ],
)
async def test_other_docx_far_beyond_a_story_are_refused(
    app: GuongSang, case: str, data: bytes
) -> None:
    await to_story_step(app, case)
    text = said(await app.handle(sent_file(case, data, "bai.docx", DOCX_MIME)))
    assert "chứa nhiều hơn hẳn một bài viết" in text, text


async def test_a_20_mib_txt_is_refused_before_it_is_decoded(app: GuongSang) -> None:
    await to_story_step(app, "txt")
    data = ("Cô Lan dạy học. " * 1_400_000).encode()[: 20 * 1024 * 1024 - 1]
    started = time.perf_counter()
    text = said(await app.handle(sent_file("txt", data, "bai.txt", "text/plain")))
    elapsed = time.perf_counter() - started
    assert "«bai.txt» chứa nhiều hơn hẳn một bài viết" in text, text
    assert elapsed < 1.0, elapsed


async def test_a_docx_is_read_off_the_loop_while_others_are_answered(
    app: GuongSang, monkeypatch: pytest.MonkeyPatch
) -> None:
    await to_story_step(app, "reader")
    await to_story_step(app, "other")
    story = b"".join(
        f"<w:p><w:r><w:t>Đoạn {n}: cô Lan dạy học miễn phí.</w:t></w:r></w:p>".encode()
        for n in range(1, 41)
    )
    # The file's reading waits until another person has been answered: were it read on the
    # event loop, or inside its update's transaction (which on SQLite every other update
    # queues behind), that answer could never come and the reading would give up.
    answered = threading.Event()
    real = files.read_story

    def reading_held_open(data: bytes, kind: str) -> object:
        assert answered.wait(timeout=20), "no one else was answered while the file was read"
        return real(data, kind)

    monkeypatch.setattr(files, "read_story", reading_held_open)
    reading = asyncio.create_task(
        app.handle(sent_file("reader", docx([story]), "bai.docx", DOCX_MIME))
    )
    started = time.perf_counter()
    other = await asyncio.wait_for(app.handle(typed("other", "Cô Lan dạy học.")), timeout=20)
    waited = time.perf_counter() - started
    assert "4 / 2.000 từ" in said(other), said(other)
    assert not reading.done()
    # The issue asks for under 100 ms; this bound is generous, for a busy test machine.
    assert waited < 1.0, waited
    answered.set()
    text = said(await asyncio.wait_for(reading, timeout=20))
    assert "Đã đọc nội dung từ tệp" in text and "320 / 2.000 từ" in text, text
    print(f"\nanother person answered in {waited * 1000:.0f} ms while a file was being read")


async def test_a_photo_of_95_megapixels_is_refused_as_too_large(app: GuongSang) -> None:
    await to_story_step(app, "pixels")
    await app.handle(typed("pixels", "Cô Lan dạy học miễn phí."))
    await app.handle(typed("pixels", "1"))  # ✅ Xong phần bài viết
    buffer = io.BytesIO()
    # 95 million one-bit pixels: a few kilobytes of PNG, 95 MB and more once decoded.
    Image.new("1", (10_000, 9_500)).save(buffer, "PNG")
    assert len(buffer.getvalue()) < 1_000_000
    text = said(await app.handle(typed_photo("pixels", buffer.getvalue())))
    assert "quá lớn (95 megapixel" in text and "89 megapixel" in text, text
    assert "0 / 10" in text, text
    assert "1 / 10" in said(await app.handle(typed_photo("pixels", jpeg(3))))


async def test_a_docx_whose_directory_understates_its_size_is_read_no_further(
    app: GuongSang,
) -> None:
    data = bytearray(docx(paragraphs(200_000)))  # 6.8 MB of XML
    # The central directory says word/document.xml unpacks to 1,000 bytes.
    offset = 0
    while (offset := data.find(b"PK\x01\x02", offset + 1)) != -1:
        (name_length,) = struct.unpack_from("<H", data, offset + 28)
        if data[offset + 46 : offset + 46 + name_length] == b"word/document.xml":
            struct.pack_into("<I", data, offset + 24, 1_000)
            break
    else:
        raise AssertionError("no directory entry for word/document.xml")
    await to_story_step(app, "liar")
    started = time.perf_counter()
    text = said(await app.handle(sent_file("liar", bytes(data), "bai.docx", DOCX_MIME)))
    assert "«bai.docx» bị lỗi" in text, text
    assert time.perf_counter() - started < 1.0


async def test_a_txt_whose_first_line_is_the_title_keeps_it_out_of_the_story(
    app: GuongSang, sample_story: str
) -> None:
    await to_story_step(app, "titled")  # the title given: "Cô giáo Lan"
    data = ("CÔ GIÁO LAN\n\n" + sample_story.split("\n", 1)[1]).encode("utf-8")
    text = said(await app.handle(sent_file("titled", data, "bai.txt", "text/plain")))
    assert "362 / 2.000 từ" in text and "trùng với tiêu đề" in text, text
    assert not (await story_of(app, "titled")).startswith("CÔ GIÁO LAN")
    # A first line that is not the title stays.
    await to_story_step(app, "untitled")
    data = sample_story.encode("utf-8")
    await app.handle(sent_file("untitled", data, "bai.txt", "text/plain"))
    assert (await story_of(app, "untitled")).startswith("Cô giáo của những buổi chiều")
