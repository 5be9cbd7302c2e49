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


def stop_all(procs: list[subprocess.Popen], timeout: float = 10.0) -> list[str]:
    """Stop every child (in order) and return their outputs. Check the outputs only after this: an assertion
    between two stops would leave the rest running, publishing into the next tests' ROS domain."""
    return [stop(p, timeout) for p in procs]


def start_node_and_camera(weights: str | Path, rate_hz: float, threads: int = 1, engine: str = "torch",
                          scenes: int = 4, parallel_batches: int = 1) -> tuple[subprocess.Popen, subprocess.Popen]:
    """cleanpose_node (status log off) and demo_camera as child processes, like a deployment."""
    node = start_python(["-m", "cleanpose_ros.ros.node", "--ros-args", "-p", f"inference.weights:={weights}",
                         "-p", f"inference.engine:={engine}", "-p", f"inference.num_threads:={threads}",
                         "-p", f"inference.parallel_batches:={parallel_batches}", "-p", "health.log_period_s:=0.0"])
    camera = start_python(["-m", "cleanpose_ros.ros.demo_camera", "--ros-args", "-p", f"scenes:={scenes}",
                           "-p", f"rate_hz:={rate_hz}"])
    return node, camera


def node_diagnostics(probe) -> dict[str, str]:
    """A dict that always holds the key/values of the node's latest /diagnostics status (subscribed on `probe`)."""
    from diagnostic_msgs.msg import DiagnosticArray

    latest: dict[str, str] = {}

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "cleanpose_node" in status.name:
                latest.clear()
                latest.update({kv.key: kv.value for kv in status.values})

    probe.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    return latest
