"""Drive a person's Zalo chat with the real bot through the fake Zalo server."""

from __future__ import annotations

import re

from tests.fakes.zalo_server import ZaloSent, ZaloUser

_NUMBERED = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)


def text_of(messages: list[ZaloSent]) -> str:
    """All the text of some messages (captions included), joined."""
    return "\n".join(m.text or "" for m in messages)


class ZaloChat:
    """A person in a private Zalo chat: each action waits for the bot's answers."""

    def __init__(self, user: ZaloUser) -> None:
        self.user = user
        self.last: list[ZaloSent] = []

    async def replies(self, min_count: int = 1) -> list[ZaloSent]:
        """The bot's answer: new messages until the bot has settled (or, without the app in
        this process, until it falls quiet)."""
        self.last = await self.user.messages_until_idle(idle=0.3, timeout=15, min_count=min_count)
        return self.last

    async def send(self, text: str) -> str:
        """Send text (or a /command) and return the answer's text."""
        await self.user.send_text(text)
        return text_of(await self.replies())

    def number_of(self, label: str) -> int:
        """The number of the newest numbered line containing `label`."""
        for message in reversed(self.user.messages()):
            for number, line in reversed(_NUMBERED.findall(message.text or "")):
                if label in line:
                    return int(number)
        raise AssertionError(f"no numbered line with {label!r} in this chat")

    async def choose(self, label: str) -> str:
        """Answer the newest numbered list with the number of `label`, as people do."""
        return await self.send(str(self.number_of(label)))

    async def photo(self, url: str) -> str:
        """Send a photo (Zalo hands the bot its URL) and return the answer's text."""
        await self.user.send_photo(url)
        return text_of(await self.replies())


async def register_on_zalo(chat: ZaloChat, name: str = "Nguyễn Thị Hoa") -> None:
    """Registration as a Zalo user does it: name, unit by search (the only match, taken at
    once), phone typed."""
    assert "Gương Sáng" in await chat.send("/start")
    await chat.send(name)
    text = await chat.send("thcs le quy don")
    assert "Đã chọn đơn vị Trường THCS Lê Quý Đôn" in text, text
    assert "0912 345 678" in text, "Zalo has no share-contact button: the phone is typed"
    text = await chat.send("0912 345 678")
    assert "Đã lưu thông tin" in text, text
