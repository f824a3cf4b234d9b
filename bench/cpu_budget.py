"""A fixed share of a core for each of some processes, through Linux control groups.

`bench.scale` uses it to ask whether a second worker process adds throughput when each
worker has processor time of its own, as on a machine with a core per worker. On the
two-core machine the benchmarks run on, the simulated teachers, the fake Bot API and
PostgreSQL share the cores with the workers, so without a budget two workers compete with
them and with each other, and what is measured is the machine filling up.

Each process gets a group of its own (cgroup v1's `cpu` controller, or v2's `cpu.max`)
under the group this process is in, with a quota of `cores` × the period. Needs root, or
a delegated group; `CpuBudgetUnavailable` says why otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

PERIOD_US = 100_000
CGROUP_ROOT = Path("/sys/fs/cgroup")


class CpuBudgetUnavailable(RuntimeError):
    """This machine or user cannot give processes a CPU quota."""


class CpuBudgets:
    """Groups made by `limit`, removed by `close` (processes still in them move back out)."""

    def __init__(self, cores: float) -> None:
        if cores <= 0:
            raise ValueError("a CPU budget must be more than no core")
        self.cores = cores
        self.parent, self.version = _own_group()
        self._groups: list[Path] = []

    def limit(self, pid: int) -> None:
        """Give process `pid` (all its threads) `cores` of processor time at most."""
        group = self.parent / f"guongsang-bench-{os.getpid()}-{len(self._groups)}"
        quota = max(1_000, round(self.cores * PERIOD_US))
        try:
            group.mkdir()
            self._groups.append(group)
            if self.version == 2 and not self._groups[:-1]:
                # v2 hands the cpu controller down only where the parent says so.
                (self.parent / "cgroup.subtree_control").write_text("+cpu")
            if self.version == 1:
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            (group / "cgroup.procs").write_text(str(pid))
        except OSError as exc:
            raise CpuBudgetUnavailable(f"cannot limit process {pid} in {group}: {exc}") from exc

    def close(self) -> None:
        """Move any process left in the groups back to the parent group, and remove them."""
        for group in self._groups:
            try:
                for pid in (group / "cgroup.procs").read_text().split():
                    (self.parent / "cgroup.procs").write_text(pid)
                group.rmdir()
            except OSError:
                continue  # gone already, or a process exiting right now: harmless
        self._groups.clear()


def _own_group() -> tuple[Path, int]:
    """The directory of this process's CPU control group, and the cgroup version."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError as exc:
        raise CpuBudgetUnavailable("no /proc/self/cgroup: not Linux") from exc
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(",") and (CGROUP_ROOT / "cpu").is_dir():
            return CGROUP_ROOT / "cpu" / path.lstrip("/"), 1
    unified = CGROUP_ROOT / "cgroup.controllers"
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and unified.exists() and "cpu" in unified.read_text().split():
            return CGROUP_ROOT / path.lstrip("/"), 2
    raise CpuBudgetUnavailable("no cgroup cpu controller is mounted here")
