"""`guongsang webhook set|delete|info`: where a chat platform sends updates."""

from __future__ import annotations

import argparse
import sys

from bot.settings import Settings
from bot.web.webhooks import TELEGRAM_PATH, ZALO_PATH
from templates import Texts


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `webhook` subcommand on the CLI's subparsers."""
    webhook = sub.add_parser("webhook", help="register the web app as the platform's webhook")
    webhook.add_argument("action", choices=("set", "delete", "info"))
    webhook.add_argument(
        "--channel",
        choices=("telegram", "zalo"),
        help="default: telegram if its token is set, else zalo",
    )
    webhook.set_defaults(func=_webhook)


async def _webhook(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    channel = args.channel or ("telegram" if settings.telegram_token else "zalo")
    token = settings.telegram_token if channel == "telegram" else settings.zalo_token
    secret = (
        settings.telegram_webhook_secret if channel == "telegram" else settings.zalo_webhook_secret
    )
    if not token:
        print(texts.render("messages.no_token", channel=channel), file=sys.stderr)
        return 2
    if args.action == "set" and not secret:
        print(texts.render("messages.no_webhook_secret", channel=channel), file=sys.stderr)
        return 2
    platform = _telegram if channel == "telegram" else _zalo
    try:
        url = await platform(args.action, settings, token, secret or "")
    except Exception as exc:  # the platform's refusal or the network, said plainly
        print(texts.render("messages.webhook_failed", message=str(exc)), file=sys.stderr)
        return 1
    if args.action == "set":
        print(texts.render("messages.webhook_set", url=url))
    elif args.action == "delete":
        print(texts.render("messages.webhook_deleted"))
    else:
        print(texts.render("messages.webhook_info", url=url))
    return 0


async def _zalo(action: str, settings: Settings, token: str, secret: str) -> str:
    from bot.channels.zalo.client import ZaloClient

    client = ZaloClient(token, settings.zalo_api_url)
    try:
        if action == "set":
            url = settings.public_url + ZALO_PATH
            await client.set_webhook(url, secret)
            return url
        if action == "delete":
            await client.delete_webhook()
            return ""
        return str((await client.get_webhook_info()).get("url") or "")
    finally:
        await client.close()


async def _telegram(action: str, settings: Settings, token: str, secret: str) -> str:
    from telegram import Bot, Update

    async with Bot(
        token,
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
    ) as bot:
        if action == "set":
            url = settings.public_url + TELEGRAM_PATH
            await bot.set_webhook(url, secret_token=secret, allowed_updates=Update.ALL_TYPES)
            return url
        if action == "delete":
            await bot.delete_webhook()
            return ""
        return (await bot.get_webhook_info()).url or ""
