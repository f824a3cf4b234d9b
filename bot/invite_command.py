"""`guongsang invite`: make a one-time role invitation (or revoke one) from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from zoneinfo import ZoneInfo

import httpx

from bot.app import running
from bot.settings import Settings
from handlers import invites
from handlers.campaigns import LEVELS
from storage import invites as invites_repo
from storage import units
from templates import Texts, chat_texts, to_plain


async def make_or_revoke(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    """Run the command; returns the exit status."""
    if not args.revoke and not args.role:
        print(texts.render("invites.no_role"), file=sys.stderr)
        return 2
    levels = _levels(args.levels)
    if args.levels and levels is None:
        print(texts.render("invites.bad_levels", levels=args.levels), file=sys.stderr)
        return 2
    if args.role == "unit_head" and not args.unit:
        print(texts.render("invites.needs_unit"), file=sys.stderr)
        return 2
    async with running(settings) as app:
        async with app.db.transaction() as session:
            if args.revoke:
                return _revoked(
                    await invites_repo.revoke(session, args.revoke, app.services.now()),
                    args.revoke,
                    texts,
                )
            unit = None
            if args.unit:
                unit, matches = await units.find_one(session, args.unit)
                if unit is None:
                    print(
                        texts.render("invites.unit_problem", name=args.unit, matches=matches),
                        file=sys.stderr,
                    )
                    return 2
            organisation_id = None
            if args.organisation:
                organisation_id = (await units.organisation(session, args.organisation)).id
            invite = await invites.create(
                session,
                app.services,
                args.role,
                unit_id=unit.id if unit else None,
                organisation_id=organisation_id,
                levels=levels,
                days=args.days,
            )
            invite.unit = unit
        username = settings.telegram_bot_username or await _bot_username(settings)
        if username:
            app.services.bot_usernames["telegram"] = username
        link = invites.link_for(app.services, invite)
    if args.json:
        print(
            json.dumps(
                {
                    "code": invite.code,
                    "link": link,
                    "role": invite.role,
                    "unit": unit.name if unit else None,
                    "levels": invite.levels,
                    "expires_at": invite.expires_at.isoformat(),
                },
                ensure_ascii=False,
            )
        )
    else:
        role_label = to_plain(chat_texts().render("buttons.role", role=invite.role))
        print(
            texts.render(
                "invites.made",
                invite=invite,
                link=link,
                role_label=role_label,
                days=args.days,
                tz=ZoneInfo(settings.timezone),
            )
        )
    return 0


def _levels(raw: str | None) -> str | None:
    if not raw:
        return None
    wanted = [part.strip() for part in raw.split(",") if part.strip()]
    if not wanted or any(level not in LEVELS for level in wanted):
        return None
    return ",".join(level for level in LEVELS if level in wanted)


async def _bot_username(settings: Settings) -> str | None:
    """Ask Telegram's getMe for the bot's username; None when there is no token or no answer."""
    if not settings.telegram_token:
        return None
    url = f"{settings.telegram_api_url}/bot{settings.telegram_token}/getMe"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = (await client.post(url)).json()
    except (httpx.HTTPError, ValueError):
        return None
    return (answer.get("result") or {}).get("username") if answer.get("ok") else None


def _revoked(invite: object, code: str, texts: Texts) -> int:
    if invite is None:
        print(texts.render("invites.not_revocable", code=code), file=sys.stderr)
        return 2
    print(texts.render("invites.revoked", code=invites_repo.normalise_code(code)))
    return 0
