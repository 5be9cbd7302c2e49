"""cleanpose-triton-serve's stop leaves no process behind: the processes below the server (tritonserver, the
models' stubs and their helpers) are found from /proc, and those still alive after the grace time are killed."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from cleanpose_ros.core.proc_table import descendants, process_table
from cleanpose_ros.engines.triton_server import kill_leftovers


def test_descendants_are_found_to_the_grandchildren_and_leftovers_are_killed() -> None:
    # a child that starts a grandchild, like tritonserver starting a model stub
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                               "time.sleep(60)"])
    try:
        deadline = time.monotonic() + 20.0
        while not descendants(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        found = descendants(parent.pid)
        assert len(found) == 1, found
        grandchild = found[0]
        assert {parent.pid, grandchild} <= set(descendants(os.getpid()))
        killed = kill_leftovers([parent.pid, grandchild], grace_s=0.5)
        assert sorted(killed) == sorted([parent.pid, grandchild])
        assert parent.wait(timeout=10) == -9
        deadline = time.monotonic() + 10.0  # the orphaned grandchild is reaped by init
        while grandchild in _live_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert grandchild not in _live_pids()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_processes_that_end_within_the_grace_time_are_not_killed() -> None:
    quick = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    assert kill_leftovers([quick.pid], grace_s=10.0) == []
    assert quick.wait(timeout=10) == 0  # ended by itself, status 0 (a SIGKILL would give -9)


def _live_pids() -> set[int]:
    return {p.pid for p in process_table().values() if p.alive}
