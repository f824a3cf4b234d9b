"""The public web side: honoured exemplars' pages, their Atom feed, signed photo URLs, health."""

from bot.web.app import create_web_app
from bot.web.media import media_url

__all__ = ["create_web_app", "media_url"]
