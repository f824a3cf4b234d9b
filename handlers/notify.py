"""Messages to people other than the one who acted: queued in the outbox, sent after commit."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.services import Services
from handlers.types import Reply, reply_to_payload
from storage import outbox, people, roles
from storage.models import Person


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
        person: Person,
        reply: Reply,
        *,
        submission_id: int | None = None,
        stage: str | None = None,
        version: int | None = None,
    ) -> int:
        """Queue a reply for every chat the person uses; returns how many chats."""
        reached = 0
        for identity in await roles.identities(self.session, person.id):
            assert identity.chat_id is not None
            await self.to_chat(
                identity.channel,
                identity.chat_id,
                reply,
                submission_id=submission_id,
                stage=stage,
                version=version,
            )
            reached += 1
        return reached

    async def admins(self) -> list[tuple[str, str, Person | None]]:
        """(channel, chat id, person) of every admin: named in settings or granted the role."""
        found: dict[tuple[str, str], Person | None] = {}
        for channel, external_id in sorted(self.services.admins):
            person = await people.by_identity(self.session, channel, external_id)
            found[(channel, external_id)] = person
        for _grant, person in await roles.holders(self.session, roles.ADMIN):
            for identity in await roles.identities(self.session, person.id):
                assert identity.chat_id is not None
                found.setdefault((identity.channel, identity.chat_id), person)
        return [(channel, chat, person) for (channel, chat), person in found.items()]

    async def to_admins(
        self,
        reply: Reply,
        *,
        submission_id: int | None = None,
        stage: str | None = None,
        version: int | None = None,
    ) -> int:
        """Queue a reply for every admin; returns how many chats."""
        targets = await self.admins()
        for channel, chat_id, _person in targets:
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
