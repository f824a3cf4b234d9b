"""The per-event context handlers work with: who, where, the conversation and the response."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.services import Services
from handlers.types import Choice, Event, Reply, Response
from storage.conversations import ChatStep
from storage.models import Conversation, Person
from storage.people import PersonRecord


class Ctx:
    """One event being handled inside one database transaction."""

    def __init__(
        self,
        services: Services,
        session: AsyncSession,
        event: Event,
        conv: Conversation | ChatStep,
        person: Person | PersonRecord | None,
    ) -> None:
        self.services = services
        self.session = session
        self.event = event
        # An ORM row outside updates (the web editor), plain values on the per-update path:
        # both have step, data and prompt_seq.
        self.conv = conv
        # Plain values on the per-update path (`PersonRecord`), enough to know who writes;
        # `person_row` gives the ORM row to change the person or show their unit.
        self.person: Person | PersonRecord | None = person
        self.response = Response()

    async def person_row(self) -> Person | None:
        """The person writing as an ORM row (loaded once, then kept as `person`)."""
        if isinstance(self.person, PersonRecord):
            self.person = await self.session.get(Person, self.person.id)
        return self.person

    @property
    def data(self) -> dict[str, Any]:
        """The conversation's working data (read-only view; change it with `update`)."""
        return self.conv.data

    def text(self, name: str, /, **values: Any) -> str:
        """A rendered text from templates/chat, fitted to the capabilities of this channel."""
        return self.services.texts.render(name, ambient={"caps": self.event.caps}, **values)

    def say(
        self,
        name: str,
        /,
        *,
        choices: list[Choice] | None = None,
        columns: int = 1,
        menu: list[list[str]] | None = None,
        ask_contact: str = "",
        photos: list[Any] | None = None,
        **values: Any,
    ) -> Reply:
        """Render `name` and queue it as a reply to this chat."""
        reply = Reply(
            text=self.text(name, **values),
            choices=choices or [],
            columns=columns,
            menu=menu,
            ask_contact=ask_contact,
            photos=photos or [],
        )
        self.response.replies.append(reply)
        return reply

    def notice(self, name: str, /, **values: Any) -> None:
        """A short answer shown where a button was pressed."""
        self.response.notice = self.text(name, **values)

    def button(self, name: str, payload: str, /, **values: Any) -> Choice:
        """A choice whose label comes from templates/chat/buttons.j2."""
        return Choice(self.text(f"buttons.{name}", **values), payload)

    def goto(self, step: str, /, **data: Any) -> None:
        """Move the conversation to `step` with fresh working data."""
        self.conv.step = step
        self.conv.data = data

    def update(self, **data: Any) -> None:
        """Change some working data (reassigned so the JSON column is written)."""
        self.conv.data = {**self.conv.data, **data}

    @property
    def is_admin(self) -> bool:
        """Whether the sender is named in GUONGSANG_ADMINS."""
        return (self.event.channel, self.event.user_id) in self.services.admins
