"""The offline console channel: the same handlers, in a terminal."""
