"""`guongsang webhook set|delete|info`: where the chat platform sends updates."""

from __future__ import annotations

import argparse
import sys

import httpx

from bot.settings import Settings
from templates import Texts

ZALO_PATH = "/webhook/zalo"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `webhook` subcommand on the CLI's subparsers."""
    webhook = sub.add_parser("webhook", help="register the web app as the platform's webhook")
    webhook.add_argument("action", choices=("set", "delete", "info"))
    webhook.add_argument("--channel", choices=("zalo",), default="zalo")
    webhook.set_defaults(func=_webhook)


async def _webhook(args: argparse.Namespace, settings: Settings, texts: Texts) -> int:
    from bot.channels.zalo.client import ZaloClient, ZaloError

    if not settings.zalo_token:
        print(texts.render("messages.no_token", channel="zalo"), file=sys.stderr)
        return 2
    client = ZaloClient(settings.zalo_token, settings.zalo_api_url)
    try:
        if args.action == "set":
            if not settings.zalo_webhook_secret:
                print(texts.render("messages.no_webhook_secret", channel="zalo"), file=sys.stderr)
                return 2
            url = settings.public_url + ZALO_PATH
            await client.set_webhook(url, settings.zalo_webhook_secret)
            print(texts.render("messages.webhook_set", url=url))
        elif args.action == "delete":
            await client.delete_webhook()
            print(texts.render("messages.webhook_deleted"))
        else:
            info = await client.get_webhook_info()
            print(texts.render("messages.webhook_info", url=info.get("url") or ""))
    except (ZaloError, httpx.HTTPError) as exc:
        print(texts.render("messages.webhook_failed", message=str(exc)), file=sys.stderr)
        return 1
    finally:
        await client.close()
    return 0
