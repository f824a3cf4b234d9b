"""With several worker processes, keep moving kept-alive connections toward idle workers.

A connection belongs to the worker process that accepted it for as long as it is kept alive.
Each worker listening on its own socket (`bot.web.workers`) spreads new connections evenly,
but the split drifts: a worker started again after a crash gets only connections opened
after it, and where SO_REUSEPORT is missing all workers share one socket, where asyncio
accepts every connection waiting at once and one worker took 39 of 39 in a test. Answering
now and then with `Connection: close` makes the client reconnect, and the new connection
goes where the kernel (or the first worker free to accept) sends it. Chosen at random, one
response in `every`: no per-connection state, and behind a proxy (where the client's address
is not the connection's) it works the same.
"""

from __future__ import annotations

import random

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One reconnect per this many requests on average: often enough to even out a burst of new
# connections within a minute at a few updates a second, rare enough that the handshake
# (TCP, and TLS where the bot terminates it) stays a small part of the work.
EVERY = 25


class SpreadConnections:
    """ASGI middleware: close the connection after one HTTP response in `every`, at random."""

    def __init__(self, app: ASGIApp, every: int = EVERY, rng: random.Random | None = None) -> None:
        self.app = app
        self.every = every
        self.rng = rng or random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rng.randrange(self.every) != 0:
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_closing)
