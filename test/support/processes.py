"""Starting ROS participants in child processes from tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a child Python of this venv.

    The ROS wheels' bootstrap re-executes the interpreter once with its own LD_LIBRARY_PATH and
    marks that with _ROS_WHEELS_BOOTSTRAP_COMPLETE; a child must redo that itself
    (environment.md), so both are removed. ROS_DOMAIN_ID etc. come from test/conftest.py.
    """
    env = dict(os.environ)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    env.pop("LD_LIBRARY_PATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def start_python(code_or_args: list[str] | str, **extra: str) -> subprocess.Popen:
    """Start `python -c code` (str) or `python args...` (list) of this venv with the test env."""
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
    return subprocess.Popen([sys.executable, *args], env=child_env(**extra), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    """Interrupt a child (SIGINT, like Ctrl-C), wait, and return its output."""
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out = proc.stdout.read() if proc.stdout else ""
    return out
