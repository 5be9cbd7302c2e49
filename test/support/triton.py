"""A real Triton server (PyTriton, from .venv-triton) as a child process of a test, on free loopback ports."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from test.support.processes import ROOT, child_env

TRITON_PYTHON = ROOT / ".venv-triton" / "bin" / "python"
SKIP_REASON = (".venv-triton is absent: bash scripts/setup_triton.sh makes it (scripts/test.sh runs it, so CI has it)")
SHIPPED_ONNX = ROOT / "weights" / "cleanpose_lite.onnx"


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now (all held open together, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class TritonTestServer:
    """test/support/triton_test_server.py in .venv-triton: the network as `cleanpose_lite` (plus the
    `test_only_broken` model with broken=True). `start()` waits for its `ready:` line; `stop()` sends SIGTERM
    and waits; the ports stay, so a restart serves the same URL."""

    def __init__(self, log_dir: Path, onnx: Path = SHIPPED_ONNX, broken: bool = False,
                 max_queue_delay_us: int = 20000) -> None:
        self.grpc_port, self.http_port, self.metrics_port = free_ports(3)
        self.onnx, self.broken, self.delay = onnx, broken, max_queue_delay_us
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.start_s: list[float] = []

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"triton_server.{self.starts}.log"

    def start(self, timeout_s: float = 120.0) -> None:
        self.starts += 1
        args = [str(TRITON_PYTHON), "-m", "test.support.triton_test_server", "--onnx", str(self.onnx),
                "--grpc-port", str(self.grpc_port), "--http-port", str(self.http_port),
                "--metrics-port", str(self.metrics_port), "--max-queue-delay-us", str(self.delay)]
        if self.broken:
            args.append("--broken")
        t0 = time.monotonic()
        log = self.log_path.open("w")
        # child_env drops the ROS venv's LD_LIBRARY_PATH; the server puts its interpreter's libdir there itself
        # own session: a stuck server is killed with its tritonserver child (os.killpg below)
        self.proc = subprocess.Popen(args, cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        while "ready: " not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Triton test server exited ({self.proc.returncode}):\n{self.log()[-4000:]}")
            if time.monotonic() - t0 > timeout_s:
                self.stop()
                raise RuntimeError(f"the Triton test server was not ready in {timeout_s} s:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        self.start_s.append(time.monotonic() - t0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait (the server unloads its models and exits); its exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode
