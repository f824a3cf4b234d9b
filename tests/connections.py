"""The worker processes of `serve --workers`, and which holds each TCP connection to a port,
read from Linux's /proc."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

ESTABLISHED = "01"


def _children(pid: int) -> list[int]:
    found = []
    for tasks in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(child) for child in tasks.read_text().split())
    return found


def worker_pids(server_pid: int) -> list[int]:
    """The worker processes the supervisor started (not multiprocessing's helpers)."""
    return [
        pid
        for pid in _children(server_pid)
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def still_running(pids: list[int]) -> list[int]:
    """Those of `pids` that are still processes."""
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def connections_by_worker(server_pid: int, port: int) -> Counter[int]:
    """How many established connections to `port` each child process of `server_pid` holds."""
    owner = {inode: pid for pid in _children(server_pid) for inode in _socket_inodes(pid)}
    counts: Counter[int] = Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == ESTABLISHED and fields[9] in owner:
                counts[owner[fields[9]]] += 1
    return counts
