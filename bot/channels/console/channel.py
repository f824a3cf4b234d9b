"""Runs the bot in a terminal: choices as numbered lines, /photo PATH and /doc PATH for files."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import sys
from pathlib import Path
from typing import TextIO

from bot.app import GuongSang
from bot.channels.parts import Part
from handlers.types import Event, IncomingFile, Reply, Response
from templates import chat_texts, to_plain

CHANNEL = "console"
log = logging.getLogger(__name__)


class ConsoleChannel:
    """One person talking to the bot through standard input and output."""

    def __init__(
        self, app: GuongSang, user: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
    ) -> None:
        self.app = app
        self.user = user
        self.stdin = stdin
        self.stdout = stdout

    async def run(self) -> None:
        """Read lines until end of input or /quit, answering each."""
        self._print(to_plain(chat_texts().render("console.banner", user=self.user)))
        self.app.delivery.register(CHANNEL, ConsoleSender(self))
        self.app.start_workers()
        loop = asyncio.get_running_loop()
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = await loop.run_in_executor(None, self.stdin.readline)
            if not line:
                break
            line = line.rstrip("\n")
            if line.strip() in ("/quit", "/exit"):
                break
            if not line.strip():
                continue
            event = self.to_event(line)
            if event is None:
                continue
            try:
                response = await self.app.handle(event)
            except Exception:
                # Rolled back: the draft is as it was; say so rather than end the session.
                log.exception("handling console input failed")
                response = Response(replies=[Reply(chat_texts().render("common.internal_error"))])
            self.render(response)

    def to_event(self, line: str) -> Event | None:
        """Turn one typed line into an Event (None, after saying why, for a missing file)."""
        base = {
            "channel": CHANNEL,
            "chat_id": self.user,
            "user_id": self.user,
            "user_name": self.user,
            "has_buttons": False,
        }
        stripped = line.strip()
        if stripped.startswith(("/photo ", "/doc ")):
            command, _, raw_path = stripped.partition(" ")
            path = Path(raw_path.strip()).expanduser()
            if not path.is_file():
                self._print(to_plain(chat_texts().render("console.no_file", path=str(path))))
                return None
            return Event(
                kind="photo" if command == "/photo" else "document",
                files=[_local_file(path, command)],
                **base,
            )
        if stripped.startswith("/") and len(stripped) > 1:
            command, _, args = stripped[1:].partition(" ")
            return Event(
                kind="command", command=command.lower(), args=args.strip(), text=stripped, **base
            )
        return Event(kind="text", text=line, **base)

    def render(self, response: Response) -> None:
        """Print the replies as plain text with numbered choices."""
        if response.notice:
            self._print(f"» {to_plain(response.notice)}")
        for reply in response.replies:
            self._print(self._format(reply))

    def _format(self, reply: Reply) -> str:
        lines = [f"[ảnh: {path}]" for path in reply.photos]
        lines.append(to_plain(reply.text))
        lines += [f"  {i}. {to_plain(c.label)}" for i, c in enumerate(reply.choices, 1)]
        if reply.typed_hint:
            lines.append(to_plain(reply.typed_hint))
        if reply.link:
            lines.append(f"{to_plain(reply.link.label)}: {reply.link.url}")
        if reply.ask_contact:
            lines.append(to_plain(chat_texts().render("console.type_phone")))
        if reply.menu:
            labels = " | ".join(label for row in reply.menu for label in row)
            lines.append(f"[Menu: {labels}]")
        return "\n".join(lines)

    def _print(self, text: str) -> None:
        self.stdout.write(text + "\n\n")
        self.stdout.flush()


class ConsoleSender:
    """Prints outbox messages (notifications, edits) addressed to console users."""

    has_buttons = False
    can_edit = True

    def __init__(self, console: ConsoleChannel) -> None:
        self.console = console
        self.counter = 0

    def parts(self, chat_id: str, reply: Reply) -> list[Part]:
        """One part: print the message, marked with whom it is for."""

        async def show() -> str | None:
            self.counter += 1
            header = to_plain(chat_texts().render("console.outbound", chat=chat_id, n=self.counter))
            self.console._print(f"{header}\n{self.console._format(reply)}")
            return str(self.counter)

        return [show]

    def is_group(self, chat_id: str) -> bool:
        """The console has no groups."""
        return False

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Print the new text of an earlier message."""
        header = to_plain(chat_texts().render("console.edited", chat=chat_id, n=message_id))
        self.console._print(f"{header}\n{self.console._format(reply)}")


def _local_file(path: Path, command: str) -> IncomingFile:
    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    size = path.stat().st_size
    mime, _ = mimetypes.guess_type(path.name)
    return IncomingFile(
        kind="photo" if command == "/photo" else "document",
        file_id=str(path),
        fetch=fetch,
        size=size,
        file_name=path.name,
        mime_type=mime,
    )
