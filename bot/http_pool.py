"""HTTP clients whose connection pools stay cheap with many connections open.

Before every request and after every response, httpcore's pool (1.0.9, the newest release)
goes over all its connections, and two things made that expensive:

- Its clean-up pass counts the idle connections afresh for every idle connection, so each
  pass costs the square of them: 7,000 calls at sixty idle connections, twice per request.
  The fix upstream (encode/httpcore#1035) is unreleased. `LinearPool` counts once.
- It checks each idle connection for having been closed by the server by asking the network
  stream "is_readable"; anyio answers by building a fresh table of the socket's attributes,
  with a getpeername() system call, and only then polls the socket (encode/httpcore#928,
  open). The streams of `KeptSocketBackend` remember their socket, so the check is one poll.

A busy bot keeps sixty connections to the Bot API and more: together these were a quarter of
a webhook worker's time (py-spy during bench.scale).
"""

# The `timeout` parameters are httpcore's interface, implemented here as it defines them.
# ruff: noqa: ASYNC109

from __future__ import annotations

import functools
import math
import select
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

# What python-telegram-bot uses for an application's requests: room for a whole burst of
# concurrent sends; connections are only opened as they are needed.
DEFAULT_CONNECTIONS = 256


class _KeptSocketStream(httpcore.AsyncNetworkStream):
    """A network stream that knows its socket, so readability costs one poll."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._socket: socket.socket | None = stream.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _KeptSocketStream(
            await self._stream.start_tls(ssl_context, server_hostname, timeout)
        )

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return is_readable(self._socket)
        return self._stream.get_extra_info(info)


class KeptSocketBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend (the one it uses under asyncio), with streams that remember
    their socket."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _KeptSocketStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return _KeptSocketStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def is_readable(sock: socket.socket) -> bool:
    """Whether a read would return at once: data, or the end a closed connection gives."""
    fd = sock.fileno()
    if fd < 0:
        return True  # closed here: as good as closed by the server
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class LinearPool(httpcore.AsyncConnectionPool):
    """httpcore's connection pool, its bookkeeping pass linear in the connections, with one
    readability poll per request instead of one per idle connection.

    The same pass as httpcore 1.0.9's `_assign_requests_to_connections`, with two changes:

    - The idle connections are counted once (and counted as idle connections, where 1.0.9
      counted all of them, closing idle ones whenever the pool held more than the
      keep-alive limit).
    - Whether an idle connection has expired (its keep-alive time is up, or the server
      closed it) is asked of the connection about to be reused, and of all of them only
      once per `SWEEP_SECONDS`. httpcore asks every idle connection before every request
      and after every response, each time a poll() system call: at sixty connections,
      120 polls for each request.
    """

    SWEEP_SECONDS = 1.0
    _swept_at = -math.inf

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        closing: list[httpcore.AsyncConnectionInterface] = []
        now = time.monotonic()
        sweep = now - self._swept_at >= self.SWEEP_SECONDS
        if sweep:
            self._swept_at = now
        idle = sum(1 for connection in self._connections if connection.is_idle())
        # Closed connections go, then idle ones beyond the keep-alive limit, and on a sweep
        # the expired ones. A connection that is not idle cannot have expired.
        for connection in list(self._connections):
            if connection.is_closed():
                self._connections.remove(connection)
            elif connection.is_idle() and (
                idle > self._max_keepalive_connections or (sweep and connection.has_expired())
            ):
                idle -= 1
                self._connections.remove(connection)
                closing.append(connection)

        # Queued requests get an available connection, a new one, or one made by closing an
        # idle connection to another origin, as in httpcore.
        for pool_request in [request for request in self._requests if request.is_queued()]:
            origin = pool_request.request.url.origin
            available = self._reusable(origin, closing)
            if available is not None:
                pool_request.assign_to_connection(available)
                continue
            if len(self._connections) < self._max_connections:
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
                continue
            idle_one = next((c for c in self._connections if c.is_idle()), None)
            if idle_one is not None:
                self._connections.remove(idle_one)
                closing.append(idle_one)
                connection = self.create_connection(origin)
                self._connections.append(connection)
                pool_request.assign_to_connection(connection)
        return closing

    def _reusable(
        self, origin: httpcore.Origin, closing: list[httpcore.AsyncConnectionInterface]
    ) -> httpcore.AsyncConnectionInterface | None:
        """The first available connection to `origin` that has not expired; expired ones
        met on the way are moved to `closing`."""
        while True:
            found = next(
                (
                    connection
                    for connection in self._connections
                    if connection.can_handle_request(origin) and connection.is_available()
                ),
                None,
            )
            if found is None or not (found.is_idle() and found.has_expired()):
                return found
            self._connections.remove(found)
            closing.append(found)


@functools.cache
def system_ssl_context() -> ssl.SSLContext:
    """The system's certificates as an SSL context, loaded once per process: loading them
    takes tens of milliseconds, and every client (each channel has two) wanted its own."""
    return httpx.create_ssl_context()


def ssl_context(verify: ssl.SSLContext | bool = True) -> ssl.SSLContext:
    """httpx's `verify` as a context: the shared system one for True."""
    return system_ssl_context() if verify is True else httpx.create_ssl_context(verify=verify)


class Transport(httpx.AsyncHTTPTransport):
    """httpx's transport on a `LinearPool` with `KeptSocketBackend` (no proxy: none is
    configured; httpx still honours the proxy environment variables, on its own transport).

    `verify` is httpx's: True for the system's certificates, or an `ssl.SSLContext`.
    """

    def __init__(
        self, limits: httpx.Limits, verify: ssl.SSLContext | bool = True, retries: int = 0
    ) -> None:
        context = ssl_context(verify)
        super().__init__(verify=context, limits=limits, retries=retries)
        # httpx offers no way to choose the network backend; the pool is its one attribute
        # that does the work, built here with the same settings httpx would use.
        self._pool = LinearPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=retries,
            network_backend=KeptSocketBackend(),
        )


def limits(connections: int = DEFAULT_CONNECTIONS, keepalive: int | None = None) -> httpx.Limits:
    """At most `connections` at once, `keepalive` of them (all by default) kept when idle."""
    return httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections if keepalive is None else keepalive,
    )


def client(
    connections: int = DEFAULT_CONNECTIONS,
    keepalive: int | None = None,
    verify: ssl.SSLContext | bool = True,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An httpx client on a `Transport` (other arguments as httpx.AsyncClient takes them)."""
    transport = Transport(limits(connections, keepalive), verify=verify)
    return httpx.AsyncClient(transport=transport, **kwargs)
