"""The Zalo channel: Bot API client, update conversion, plain-text rendering, webhook."""
