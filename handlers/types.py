"""The one Event type channels hand to the core, and the Reply types the core hands back."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# Half of a character that needs two UTF-16 units (an emoji, a rare Hán character). JSON can
# carry one alone, as a client that cut a message in the middle of an emoji sends it; UTF-8
# cannot, so one kept would break every later send, export or page that holds the text.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def whole_characters(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, the mark for a lost character."""
    # Vietnamese stays below the surrogates: most text is looked at once, in C, and kept.
    if not text or max(text) < "\ud800":
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


EventKind = Literal["text", "command", "button", "photo", "document", "contact", "unsupported"]


@dataclass(frozen=True)
class DocumentText:
    """What a story file (.docx, .txt) holds, read before its update's transaction.

    `problem` is "" when `text` was read, "too_big" when the file holds far more than a story
    (refused before it was unpacked or decoded), "unreadable" when it is broken or not one.
    """

    text: str = ""
    problem: str = ""


@dataclass(frozen=True)
class ImageCheck:
    """What a photo is, checked before its update's transaction: its file extension, or
    `problem` "not_image" or "too_big" (over `pixels`, a possible decompression bomb)."""

    extension: str = ""
    problem: str = ""
    pixels: int = 0


@dataclass(frozen=True)
class StoredFile:
    """A file written to the media folder under its checksum."""

    path: Path
    sha256: str
    size: int
    mime_type: str


@dataclass
class IncomingFile:
    """A photo or document someone sent; `fetch` downloads its bytes from the platform."""

    kind: Literal["photo", "document"]
    file_id: str
    fetch: Callable[[], Awaitable[bytes]]
    size: int | None = None
    file_name: str | None = None
    mime_type: str | None = None
    # Set once the bytes are fetched, for story files: read off the event loop and outside the
    # transaction, so a heavy file never holds up other people's messages (handlers.files).
    document_text: DocumentText | None = None
    image_check: ImageCheck | None = None
    # Where a photo the form attached was stored (its channel may send it again by its id).
    stored: StoredFile | None = None

    def __post_init__(self) -> None:
        if self.file_name is not None:
            self.file_name = whole_characters(self.file_name)


@dataclass
class Event:
    """Something a person did in a chat, in platform-neutral terms."""

    channel: str
    chat_id: str
    user_id: str
    kind: EventKind
    user_name: str = ""
    update_key: str | None = None
    text: str = ""
    command: str = ""
    args: str = ""
    button: str = ""
    files: list[IncomingFile] = field(default_factory=list)
    contact_phone: str = ""
    contact_is_own: bool = True
    # What an unsupported message was: "sticker", "voice", "location", "video", …
    unsupported: str = ""
    # Channels without buttons (console, Zalo) show choices as numbered lines.
    has_buttons: bool = True
    # Whether the channel shows a persistent menu of commands (Telegram's keyboard, the
    # console's menu line); Zalo shows none.
    has_menu: bool = True
    # Whether people can send files (.docx, .txt) there; Zalo's Bot API takes none.
    takes_documents: bool = True
    # Whether a share-my-phone button can be shown where there are buttons (not on the web).
    takes_contact: bool = True
    # The most characters one incoming message holds where that is short enough for a long
    # story to need several (Zalo: 2,000); 0 where a paste is split for the person.
    message_chars: int = 0
    # A group chat rather than a private one.
    in_group: bool = False
    # Whether the bot can send a file into this chat (Telegram); elsewhere an export or an
    # evidence document goes as a signed, expiring download link instead.
    sends_files: bool = True

    def __setattr__(self, name: str, value: object) -> None:
        # Every channel's input passes here, given at construction or set after it (the
        # converters fill the text in later), so nothing after it meets a lone surrogate.
        if type(value) is str and not value.isascii():
            value = whole_characters(value)
        object.__setattr__(self, name, value)

    @property
    def caps(self) -> Capabilities:
        """What the channel the event came from can show and take, for the texts."""
        return Capabilities(
            buttons=self.has_buttons,
            menu=self.has_menu,
            documents=self.takes_documents,
            # A share-my-phone button exists where buttons do (Telegram's keyboard).
            contact=self.has_buttons and self.takes_contact,
            message_chars=self.message_chars,
            files=self.sends_files,
        )


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show or take, so each text speaks of what the person has there.

    Templates whose macro takes a `caps` argument receive it without every caller passing it
    (see `templates.Texts.render`); the default is Telegram's, the richest channel.
    """

    buttons: bool = True
    menu: bool = True
    documents: bool = True
    contact: bool = True
    message_chars: int = 0
    # Whether the bot can send a file here (else a download link stands for it).
    files: bool = True


@dataclass(frozen=True)
class Choice:
    """One option offered to a person: a button, or a numbered line where buttons do not exist."""

    label: str
    payload: str


@dataclass(frozen=True)
class WebLink:
    """A page to open: a Mini App button on Telegram, a plain URL line where there are no
    buttons of that kind (Zalo, the console)."""

    label: str
    url: str


@dataclass(frozen=True)
class OutgoingFile:
    """A file the bot sends (an export, an evidence document): `path` is where it lies, under
    the data folder; `name` is what the person sees; `caption` is HTML like a reply's text."""

    name: str
    path: Path
    caption: str = ""


@dataclass
class Reply:
    """One message to the chat the event came from.

    `text` is in the HTML subset of templates/ (user input already escaped).
    `menu` replaces the persistent keyboard under the input field; `ask_contact` offers
    a share-my-phone button there instead.
    """

    text: str
    choices: list[Choice] = field(default_factory=list)
    columns: int = 1
    menu: list[list[str]] | None = None
    ask_contact: str = ""
    photos: list[Path] = field(default_factory=list)
    # Shown only where there are no buttons (Zalo, the console): how to act by typing instead.
    typed_hint: str = ""
    link: WebLink | None = None
    # Sent after the text, where the channel sends files (see Capabilities.files).
    file: OutgoingFile | None = None


@dataclass
class Response:
    """All the core says back to one event."""

    replies: list[Reply] = field(default_factory=list)
    # A short answer shown where the pressed button was (a toast on Telegram).
    notice: str = ""
    # False when a pressed button was stale or refused: its message keeps its buttons.
    press_accepted: bool = True
    # The pressed message keeps its buttons though the press was taken: one of several
    # alike (open this document, then that one) rather than a step's answer.
    keep_buttons: bool = False
    # Messages to other chats (notifications, broadcasts) were queued in the outbox.
    queued: bool = False


def reply_to_payload(reply: Reply, media_dir: Path) -> dict[str, object]:
    """A reply as JSON for the outbox (photo paths relative to the media folder)."""
    return {
        "text": reply.text,
        "choices": [[c.label, c.payload] for c in reply.choices],
        "columns": reply.columns,
        "photos": [str(p.relative_to(media_dir)) for p in reply.photos],
        "typed_hint": reply.typed_hint,
        "link": [reply.link.label, reply.link.url] if reply.link else None,
        # Relative to the data folder (the media folder's parent), as photos are to theirs.
        "file": (
            [
                reply.file.name,
                str(reply.file.path.relative_to(media_dir.parent)),
                reply.file.caption,
            ]
            if reply.file
            else None
        ),
    }


def payload_to_reply(payload: dict[str, object], media_dir: Path) -> Reply:
    """The reply an outbox row holds."""
    choices = payload.get("choices") or []
    photos = payload.get("photos") or []
    link = payload.get("link")
    sent = payload.get("file")
    return Reply(
        text=str(payload.get("text", "")),
        choices=[Choice(str(label), str(data)) for label, data in choices],  # type: ignore[attr-defined]
        columns=int(payload.get("columns", 1)),  # type: ignore[arg-type]
        photos=[media_dir / str(p) for p in photos],  # type: ignore[attr-defined]
        typed_hint=str(payload.get("typed_hint") or ""),
        link=WebLink(str(link[0]), str(link[1])) if isinstance(link, list) else None,
        file=(
            OutgoingFile(str(sent[0]), media_dir.parent / str(sent[1]), str(sent[2]))
            if isinstance(sent, list)
            else None
        ),
    )
