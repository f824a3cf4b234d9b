"""The Telegram channel, through python-telegram-bot."""
