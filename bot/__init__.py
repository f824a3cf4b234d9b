"""Gương Sáng: the bot's entry point, settings, wiring and channels."""
