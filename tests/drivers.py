"""Drive a person's chat with the real bot through the fake Telegram server."""

from __future__ import annotations

import io
import itertools
from typing import Protocol

from PIL import Image

from bot.app import GuongSang
from handlers.types import Event, IncomingFile
from tests.fakes.telegram_server import FakeUser, SentMessage


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small, valid JPEG whose bytes differ by `seed`."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, seed * 13 % 256)).save(buffer, "JPEG")
    return buffer.getvalue()


def text_of(messages: list[SentMessage]) -> str:
    """All the plain text of some messages, joined."""
    return "\n".join(m.plain_text or m.caption or "" for m in messages)


class Chat:
    """A person in a private chat: each action waits for the bot's answers and returns them."""

    def __init__(self, user: FakeUser) -> None:
        self.user = user
        self.last: list[SentMessage] = []

    async def replies(self, min_count: int = 1) -> list[SentMessage]:
        """The bot's answer: new messages until the bot has settled (or, without the app in
        this process, until it falls quiet)."""
        self.last = await self.user.messages_until_idle(idle=0.25, timeout=15, min_count=min_count)
        return self.last

    async def send(self, text: str) -> str:
        """Send text (or a /command) and return the answer's text."""
        if text.startswith("/"):
            await self.user.send_command(text)
        else:
            await self.user.send_text(text)
        return text_of(await self.replies())

    async def press(self, label: str, message: SentMessage | None = None) -> str:
        """Press the button containing `label` on `message` (default: the newest message with
        such a button, waiting for it if the bot's answer is still coming)."""
        target = message or await self.with_button(label)
        await self.user.press(target, label)
        return text_of(await self.replies())

    async def with_button(self, label: str) -> SentMessage:
        """The newest message in this chat with a button containing `label`; if none has
        arrived yet, the next answers are awaited (a few, each bounded by `replies`)."""
        for _ in range(4):
            for message in reversed(self.user.messages()):
                if any(label in text for text in message.buttons()):
                    return message
            try:
                await self.replies()
            except TimeoutError:
                break
        return self.with_buttons()  # its own error names what the chat holds

    async def press_raw(self, data: str, message_id: int = 1) -> str:
        """Press a button with arbitrary (forged or stale) data; returns the button's answer."""
        server = self.user.server
        start = len(server.calls)
        await self.user.press_data(message_id, data)
        call = await server.wait_for_call("answerCallbackQuery", start=start)
        return str(call.params.get("text", ""))

    def with_buttons(self) -> SentMessage:
        """The newest message in this chat that still has inline buttons."""
        for message in reversed(self.user.messages()):
            if message.buttons():
                return message
        raise AssertionError("no message with buttons in this chat")

    async def photo(self, data: bytes, media_group_id: str | None = None) -> None:
        """Send a photo without waiting (albums send several)."""
        await self.user.send_photo(data, media_group_id=media_group_id)


async def register(chat: Chat, name: str = "Nguyễn Thị Hoa") -> None:
    """Walk registration: name, unit found without accents (the only match, so taken at
    once), phone shared as a contact."""
    await chat.send("/start")
    await chat.send(name)
    text = await chat.send("thcs le quy don")
    assert "Đã chọn đơn vị Trường THCS Lê Quý Đôn" in text, text
    await chat.user.send_contact("+84 912 345 678")
    # Two messages: the saved profile, then the offer of news (a slow machine may pause
    # between them longer than the quiet that ends an answer).
    text = text_of(await chat.replies(min_count=2))
    assert "Đã lưu thông tin" in text, text


TITLE = "Cô giáo của những buổi chiều thứ Bảy"


async def answer_until_story(chat: Chat, title: str = TITLE) -> str:
    """At step 1 of a story: the exemplar, the address, the focus area and the title; returns
    the story prompt."""
    await chat.send("Nguyễn Thị Lan")
    await chat.send("Trường Tiểu học Kim Giang, quận Thanh Xuân, Hà Nội")
    await chat.press("An toàn trường học")
    return await chat.send(title)


async def fill_until_story(chat: Chat) -> str:
    """From /new to the story step; returns the story prompt."""
    text = await chat.send("/new")
    assert "Bước 1" in text, text
    return await answer_until_story(chat)


async def submit_story(chat: Chat, title: str = TITLE) -> str:
    """A registered person sends a short complete story; returns its code."""
    await chat.send("/new")
    await answer_until_story(chat, title)
    await chat.send("Cô Lan mở lớp học miễn phí vào chiều thứ Bảy cho học sinh khó khăn.")
    await chat.press("Xong phần bài viết")
    await chat.photo(jpeg(len(title)))
    await chat.replies()
    await chat.press("Xong phần ảnh")
    text = await chat.press("Gửi bài")
    code = next(word for word in text.split() if word.startswith("GS-"))
    return code


async def invite_code(
    app: object,
    role: str,
    unit_name: str | None = None,
    levels: str | None = None,
    organisation: str | None = None,
) -> str:
    """A fresh invite made the way /invite and the CLI make them (`organisation` as
    `guongsang invite --organisation NAME` gives it)."""
    from sqlalchemy import select

    from handlers import invites
    from storage import units
    from storage.models import Unit

    async with app.db.transaction() as session:  # type: ignore[attr-defined]
        unit_id = None
        if unit_name:
            unit_id = await session.scalar(select(Unit.id).where(Unit.name == unit_name))
        organisation_id = None
        if organisation:
            organisation_id = (await units.organisation(session, organisation)).id
        invite = await invites.create(
            session,
            app.services,  # type: ignore[attr-defined]
            role,
            unit_id=unit_id,
            organisation_id=organisation_id,
            levels=levels,
        )
        return invite.code


async def join(chat: Chat, code: str, via_start: bool = True) -> str:
    """Redeem an invite with the deep link's /start CODE or with /join CODE."""
    return await chat.send(f"/start {code}" if via_start else f"/join {code}")


class Sends(Protocol):
    """A chat driver of any channel: sends text and returns the bot's answer."""

    async def send(self, text: str) -> str: ...


async def introduce(chat: Sends, full_name: str, title: str) -> str:
    """Answer what accepting an invitation asks next: the full name, then the title (typed,
    which on Zalo also matches the numbered option of the same words)."""
    await chat.send(full_name)
    return await chat.send(title)


_console_keys = itertools.count(1)
# Registration, then the story form up to its story step, as typed in the console.
TO_STORY_STEP = (
    "/start", "Nguyễn Thị Hoa", "thcs le quy don", "0912345678", "/new",
    "Nguyễn Thị Lan", "Trường Tiểu học Kim Giang", "An toàn trường học", "Cô giáo Lan",
)  # fmt: skip


def typed(chat: str, text: str) -> Event:
    """A line typed in the console channel (no buttons), with a fresh update key."""
    command, _, args = text[1:].partition(" ") if text.startswith("/") else ("", "", "")
    return Event(
        channel="console", chat_id=chat, user_id=chat, user_name=chat,
        kind="command" if command else "text", command=command, args=args, text=text,
        update_key=f"c{next(_console_keys)}", has_buttons=False, sends_files=False,
    )  # fmt: skip


def typed_photo(chat: str, data: bytes) -> Event:
    """A photo sent in the console channel."""

    async def fetch() -> bytes:
        return data

    event = typed(chat, "")
    event.kind, event.text = "photo", ""
    event.files = [IncomingFile(kind="photo", file_id=f"p{event.update_key}", fetch=fetch)]
    return event


async def to_story_step(app: GuongSang, chat: str) -> None:
    """Register `chat` and fill the story form up to the story text, through `app.handle`."""
    for text in TO_STORY_STEP:
        await app.handle(typed(chat, text))
