"""Messages to people other than the one who acted: queued in the outbox, sent after commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.services import Services
from handlers.types import Reply, reply_to_payload
from storage import outbox, roles
from storage.models import Person
from storage.people import PersonRecord


class Notifier:
    """Queues replies for people, chats, admins; edits the cards of a decided stage."""

    def __init__(self, session: AsyncSession, services: Services) -> None:
        self.session = session
        self.services = services

    async def to_chat(
        self,
        channel: str,
        chat_id: str,
        reply: Reply,
        *,
        submission_id: int | None = None,
        stage: str | None = None,
        version: int | None = None,
    ) -> None:
        """Queue a reply for one chat."""
        await outbox.enqueue(
            self.session,
            channel,
            chat_id,
            reply_to_payload(reply, self.services.media_dir),
            submission_id=submission_id,
            stage=stage,
            version=version,
            now=self.services.now(),
        )

    async def to_person(
        self,
        person: Person | PersonRecord,
        reply: Reply,
        *,
        submission_id: int | None = None,
        stage: str | None = None,
        version: int | None = None,
    ) -> int:
        """Queue a reply for every chat the person uses; returns how many chats."""
        chats = await roles.chats_of(self.session, person.id)
        for channel, chat_id in chats:
            await self.to_chat(
                channel, chat_id, reply, submission_id=submission_id, stage=stage, version=version
            )
        return len(chats)

    async def admin_chats(self) -> list[tuple[str, str]]:
        """(channel, chat id) of every admin: named in settings (whose chat with the bot has
        their account's id) or granted the role, each chat once."""
        found = dict.fromkeys(sorted(self.services.admins))
        found.update(dict.fromkeys(await roles.admin_chats(self.session)))
        return list(found)

    async def to_admins(
        self,
        reply: Reply,
        *,
        submission_id: int | None = None,
        stage: str | None = None,
        version: int | None = None,
    ) -> int:
        """Queue a reply for every admin; returns how many chats."""
        targets = await self.admin_chats()
        for channel, chat_id in targets:
            await self.to_chat(
                channel, chat_id, reply, submission_id=submission_id, stage=stage, version=version
            )
        return len(targets)

    async def edit_cards(self, submission_id: int, stage: str, reply: Reply) -> int:
        """Replace every sent card of a stage with `reply` (buttons gone); drop unsent ones;
        those being sent (or left half-sent by a crash) become `reply`, so whatever goes out
        after the decision is the outcome, and a card sent meanwhile is edited to it."""
        await outbox.cancel_pending(self.session, submission_id, stage)
        await outbox.supersede_in_flight(
            self.session, submission_id, stage, reply_to_payload(reply, self.services.media_dir)
        )
        edited = 0
        for card in await outbox.cards(self.session, submission_id, stage):
            message_id = card.message_ids.get("main")
            if card.status != outbox.SENT or not message_id:
                continue
            await outbox.enqueue(
                self.session,
                card.channel,
                card.chat_id,
                reply_to_payload(reply, self.services.media_dir),
                kind="edit",
                target_message_id=str(message_id),
                submission_id=submission_id,
                now=self.services.now(),
            )
            edited += 1
        return edited
