"""Several worker processes serving one port, each listening on a socket of its own.

uvicorn's `--workers` shares one listening socket among the processes, and asyncio accepts
every connection waiting at once: whichever worker wakes first takes a whole burst of new
connections (Telegram opens up to forty together) and keeps them while they are kept alive.
bench.scale saw 39 % of a core used by one worker against 25 % by the other, each allowed 40.
With SO_REUSEPORT each process has its own socket on the same port, and the kernel hands each
new connection to one of them by its addresses, evenly from the first connection on.

This supervisor starts the workers, starts again one that dies, and stops them all on SIGINT
or SIGTERM. Where SO_REUSEPORT does not exist, `serve` keeps uvicorn's own supervisor.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger(__name__)

AVAILABLE = hasattr(socket, "SO_REUSEPORT")
# How long stopping workers may take (each closes its app: the outbox hands back its claims)
# before they are killed.
STOP_WAIT = 30.0
# A worker that dies is started again, but not more often than this: one that dies at once
# each time (a bug meeting every update) must not take the machine with it.
RESTART_PAUSE = 1.0
# How often a worker checks that its supervisor is still there, in seconds.
ORPHAN_CHECK = 1.0
FACTORY = "bot.web.served:from_environment"


def listening_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A socket listening on host:port that other processes may listen on too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def _stop_when_orphaned(supervisor: int) -> None:
    # A supervisor killed outright (kill -9) cannot stop its workers. Left running, they would
    # keep the port with the old code beside the workers of the next `serve`.
    while os.getppid() == supervisor:
        time.sleep(ORPHAN_CHECK)
    os.kill(os.getpid(), signal.SIGTERM)


def _worker(options: dict[str, Any]) -> None:
    # Its own process group: a Ctrl-C in the terminal reaches the supervisor alone, which
    # passes one SIGTERM on. Two signals would make uvicorn skip the app's shutdown.
    os.setpgid(0, 0)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    config = uvicorn.Config(FACTORY, factory=True, **options)
    try:
        sock = listening_socket(config.host, config.port, config.backlog)
    except OSError as exc:
        logging.basicConfig()
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    # uvicorn exits with STARTUP_FAILURE too when the app fails to start.
    uvicorn.Server(config).run(sockets=[sock])


def run(workers: int, options: dict[str, Any]) -> int:
    """Serve with `workers` processes until SIGINT or SIGTERM; returns the exit status."""
    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}

    def start() -> tuple[BaseProcess, float]:
        process = spawn.Process(target=_worker, args=(options,), name="guongsang-worker")
        process.start()
        return process, time.monotonic()

    running = [start() for _ in range(workers)]
    log.info("started %d worker processes on port %s", workers, options["port"])
    status = 0
    try:
        while not stopping:
            wait([p.sentinel for p, _ in running], timeout=0.5)
            for n, (process, started) in enumerate(running):
                if process.is_alive() or stopping:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    # Another would fail the same way: the port is taken, the app cannot start.
                    log.error("worker %s failed to start: stopping", process.pid)
                    stopping, status = True, 1
                    break
                log.warning(
                    "worker %s died (exit %s): starting another", process.pid, process.exitcode
                )
                time.sleep(max(0.0, started + RESTART_PAUSE - time.monotonic()))
                running[n] = start()
    finally:
        for process, _ in running:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        for process, _ in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker %s did not stop in %.0f s: killing it", process.pid, STOP_WAIT)
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
