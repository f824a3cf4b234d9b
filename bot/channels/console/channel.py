"""Runs the bot in a terminal: choices as numbered lines, /photo PATH and /doc PATH for files."""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.app import GuongSang
from bot.channels.parts import Part
from handlers.types import Event, IncomingFile, Reply, Response
from templates import chat_texts, to_plain

CHANNEL = "console"
PROMPT = "> "
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
        # Only this person's messages: another console on the same database shows its own.
        self.app.delivery.register(CHANNEL, ConsoleSender(self), only_chat=self.user)
        self.app.start_workers()
        loop = asyncio.get_running_loop()
        read_line = self._line_reader()
        while True:
            line = await loop.run_in_executor(None, read_line)
            if not line:
                break
            line = line.removesuffix("\n")
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

    def _line_reader(self) -> Callable[[], str]:
        """What reads one line after the prompt ("" at the end of input).

        A terminal in its usual (canonical) mode keeps at most 4,095 bytes of a line and drops
        the rest, so a story pasted as one long line would arrive cut. On a terminal the line
        is read through GNU readline instead, which reads key by key with no such limit (and
        lets the line be edited); a pipe or file is read as it is.
        """
        if not (self.stdin is sys.stdin and self.stdout is sys.stdout and _is_terminal()):
            return self._read_plain
        try:
            import readline
        except ImportError:
            return self._read_plain
        # A tab pasted with a story is text, not a request to complete a file name.
        readline.parse_and_bind("tab: tab-insert")

        def read() -> str:
            try:
                return input(PROMPT) + "\n"
            except EOFError:
                return ""

        return read

    def _read_plain(self) -> str:
        self.stdout.write(PROMPT)
        self.stdout.flush()
        return self.stdin.readline()

    def to_event(self, line: str) -> Event | None:
        """Turn one typed line into an Event (None, after saying why, for a missing file)."""
        base = {
            "channel": CHANNEL,
            "chat_id": self.user,
            "user_id": self.user,
            "user_name": self.user,
            "has_buttons": False,
            # Files go as download links, as on Zalo: the same words on every channel that
            # cannot send one.
            "sends_files": False,
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
        if response.notice and not response.replies:
            # Where a button was pressed the notice is a toast; here a reply saying the same
            # follows, and printing both echoed every decision twice.
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
        if reply.file:
            lines.append(f"[tệp: {reply.file.path}]")
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
        # Message ids are "<session>-<n>": an edit of a message printed by an earlier run of
        # the console is known as one, and printed in full.
        self.session = uuid.uuid4().hex[:8]
        self.printed: dict[str, str] = {}

    def parts(self, chat_id: str, reply: Reply) -> list[Part]:
        """One part: print the message, marked with whom it is for."""

        async def show() -> str | None:
            self.counter += 1
            header = to_plain(chat_texts().render("console.outbound", chat=chat_id, n=self.counter))
            text = self.console._format(reply)
            self.console._print(f"{header}\n{text}")
            message_id = f"{self.session}-{self.counter}"
            self.printed[message_id] = text
            return message_id

        return [show]

    def is_group(self, chat_id: str) -> bool:
        """The console has no groups."""
        return False

    async def edit(self, chat_id: str, message_id: str, reply: Reply) -> None:
        """Print what an earlier message now says.

        A terminal cannot change what it printed, and the whole message again (a decided
        card) would repeat the decision just acknowledged: of a message printed by this run,
        only the lines that are new are printed.
        """
        number = message_id.rpartition("-")[2]
        header = to_plain(chat_texts().render("console.edited", chat=chat_id, n=number))
        text = self.console._format(reply)
        before = self.printed.get(message_id)
        self.printed[message_id] = text
        if before is not None:
            kept = set(before.splitlines())
            new = [line for line in text.splitlines() if line.strip() and line not in kept]
            text = "\n".join(new)
        self.console._print(f"{header}\n{text}".rstrip())


def _is_terminal() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


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
