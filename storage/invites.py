"""One-time invitation codes."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Invite

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


def new_code() -> str:
    """A random code such as K7Q2M9XD."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(raw: str) -> str:
    """What people type ("k7q2-m9xd ") as stored ("K7Q2M9XD")."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


async def create(session: AsyncSession, invite: Invite) -> Invite:
    """Store an invite under a fresh code."""
    while True:
        invite.code = new_code()
        if await session.scalar(select(Invite.id).where(Invite.code == invite.code)) is None:
            break
    session.add(invite)
    await session.flush()
    return invite


async def get(session: AsyncSession, code: str) -> Invite | None:
    """An invite by code, in any state."""
    return await session.scalar(select(Invite).where(Invite.code == normalise_code(code)))


async def redeem(session: AsyncSession, code: str, person_id: int, now: datetime) -> bool:
    """Mark the invite used by `person_id`; False if it was used, revoked or expired meanwhile."""
    result = await session.execute(
        update(Invite)
        .where(
            Invite.code == normalise_code(code),
            Invite.redeemed_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .values(redeemed_by_id=person_id, redeemed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def revoke(session: AsyncSession, code: str, now: datetime) -> Invite | None:
    """Revoke an unused invite; returns it, or None when there is no such live code."""
    invite = await get(session, code)
    if invite is None or invite.redeemed_at is not None or invite.revoked_at is not None:
        return None
    invite.revoked_at = now
    await session.flush()
    return invite
