"""The CPU budget `bench.scale --core-per-worker` gives each bot process (`bench.cpu_budget`).

A process that would use a whole core is held to its share; the groups are gone afterwards.
The bounds are wide: the point is a quota at all, not its precision on a shared machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.cpu_budget import CpuBudgets

SPIN = "while True: pass"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_spinning_process_is_held_to_its_share_of_a_core() -> None:
    budgets = CpuBudgets(0.2)
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        budgets.limit(spinner.pid)
        group = budgets._groups[0]
        assert str(spinner.pid) in (group / "cgroup.procs").read_text().split()
        before, started = cpu_seconds(spinner.pid), time.monotonic()
        time.sleep(1.5)
        used = (cpu_seconds(spinner.pid) - before) / (time.monotonic() - started)
        assert used < 0.45  # unlimited, it takes a whole core (0.2 asked)
    finally:
        spinner.kill()
        spinner.wait()
        budgets.close()
    assert not group.exists()


def test_processes_still_running_are_moved_out_when_the_groups_go() -> None:
    budgets = CpuBudgets(0.5)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        budgets.limit(sleeper.pid)
        group = budgets._groups[0]
        budgets.close()
        assert not group.exists()
        assert str(sleeper.pid) in (budgets.parent / "cgroup.procs").read_text().split()
    finally:
        sleeper.kill()
        sleeper.wait()
