"""What the bot does, independent of any chat platform."""
