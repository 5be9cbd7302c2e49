#!/usr/bin/env python3
"""A fleet of cameras on one Triton server against the same cameras each running the local engine.

Per camera count (default 1, 4 and 8) these setups run one after the other on this machine:
- `triton`, once per `--servers` shape (default `1x2` and `2x1`: model instances x onnxruntime threads):
  one `cleanpose-triton-serve` (a real Triton server from .venv-triton, the shipped ONNX file, dynamic
  batching) and one `cleanpose_node` per camera with `inference.engine: triton`;
- `local`: one `cleanpose_node` per camera with the local onnxruntime engine (`--threads` split between
  the nodes, as on a machine without a server).
Each camera is a `demo_camera` process in its own namespace (/cam<k>, with its node) publishing 640x480
frames with exactly `--objects` labelled objects at `--rate`. This process subscribes to every camera's
`pose_estimation/detections` and measures, over `--seconds` once every camera has its first output:
aggregate poses/s and arrays/s, the share of input frames that got an output, the end-to-end latency
(input stamp -> array received here) p50 / p95 over all cameras and the worst camera's p95, the frames
the nodes refused (their /diagnostics `rejected_*`), and for `triton` the batches the server formed (the
difference of two reads of Triton's inference statistics: objects per network call, mean and range,
and the mean time a request waited in the server's queue).

Loopback only (a private ROS domain, localhost discovery, the server on 127.0.0.1); stops by itself (every
child is stopped at the end of its setup, a setup whose cameras do not all start within `--start-timeout`
is reported as such). Children's logs go to `--logs` (default a new temporary folder).

  .venv/bin/python bench/bench_triton_fleet.py [--cameras 1 4 8] [--servers 1x2 2x1] [--rate 15] [--objects 5]
      [--seconds 30] [--threads 2] [--max-queue-delay-us 2000] [--json out.json] [--plot docs/img/triton_fleet.png]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRITON_PYTHON = ROOT / ".venv-triton" / "bin" / "python"
MODEL_NAME = "cleanpose_lite"


@dataclass
class SetupResult:
    cameras: int
    setup: str  # "triton" or "local"
    threads: str  # inference threads: the server's, or each node's
    started: bool = True
    arrays_per_s: float = 0.0
    poses_per_s: float = 0.0
    processed: float = 0.0  # output arrays / input frames
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    worst_camera_p95_ms: float = float("nan")
    refused_frames: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    executions: dict[int, int] = field(default_factory=dict)  # server: {objects per network call: executions}
    requests: int = 0  # server: requests answered in the window
    queue_ms: float = float("nan")  # server: mean wait of a request in the queue
    cpu_cores: dict[str, float] = field(default_factory=dict)  # cores busy in the window: cameras, nodes, server


def session_cpu_seconds() -> dict[int, float]:
    """{session id: CPU seconds of its live processes}: a child started in a session of its own is counted with
    everything it started (the server's tritonserver)."""
    from cleanpose_ros.core.proc_table import process_table

    totals: dict[int, float] = {}
    for p in process_table().values():
        totals[p.session] = totals.get(p.session, 0.0) + p.cpu_seconds
    return totals


class Children:
    """Child processes of one setup, each logging to its own file; `stop_all` interrupts them (SIGINT, like
    Ctrl-C; SIGKILL after a grace period) so nothing outlives the bench."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], python: Path | str = sys.executable) -> subprocess.Popen:
        from test.support.processes import child_env

        log = (self.log_dir / f"{name}.log").open("w")
        # own session: a child's own children (tritonserver) are stopped with it
        proc = subprocess.Popen([str(python), *args], cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs.append((name, proc))
        return proc

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds so far per kind of child (the part of the name before '_': camera, node, triton)."""
        sessions = session_cpu_seconds()
        kinds: dict[str, float] = {}
        for name, proc in self.procs:
            kind = name.split("_")[0]
            kinds[kind] = kinds.get(kind, 0.0) + sessions.get(proc.pid, 0.0)
        return kinds

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def stop_all(self, grace_s: float = 15.0) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            try:  # anything the child left in its session (it is the group leader): nothing outlives the bench
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs.clear()


def start_server(children: Children, args: argparse.Namespace, instances: int, threads: int) -> str:
    """`cleanpose-triton-serve` on free loopback ports; its gRPC URL once it logged `ready:`."""
    from test.support.triton import free_ports

    grpc, http, metrics = free_ports(3)
    proc = children.start("triton_server", ["-m", "cleanpose_ros.tools.triton_serve", "--onnx", str(args.onnx),
                                            "--model-name", MODEL_NAME, "--grpc-port", str(grpc), "--http-port",
                                            str(http), "--metrics-port", str(metrics), "--threads", str(threads),
                                            "--max-batch-size", str(args.max_batch_size),
                                            "--max-queue-delay-us", str(args.max_queue_delay_us),
                                            "--instances", str(instances)],
                          python=TRITON_PYTHON)
    deadline = time.monotonic() + 120.0
    while "ready: " not in children.log("triton_server"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Triton server did not start:\n{children.log('triton_server')[-3000:]}")
        time.sleep(0.2)
    return f"127.0.0.1:{grpc}"


def server_statistics(url: str) -> tuple[dict[int, int], int, int]:
    """({objects per execution: executions}, requests answered, total queue ns) so far (cumulative)."""
    import tritonclient.grpc as grpcclient

    from cleanpose_ros.engines.triton_engine import batch_executions

    client = grpcclient.InferenceServerClient(url)
    try:
        stats = client.get_inference_statistics(MODEL_NAME, client_timeout=5.0)
    finally:
        client.close()
    inference = stats.model_stats[0].inference_stats
    return batch_executions(stats), int(inference.success.count), int(inference.queue.ns)


def run_setup(n: int, server: tuple[int, int] | str | None, args: argparse.Namespace, log_dir: Path) -> SetupResult:
    """`n` cameras with a node each; `server` (instances, threads): the nodes use one Triton server of that
    shape, started here; a str: the URL of a server started elsewhere (`--triton-url`); None: each node runs
    the local onnxruntime engine with its share of `--threads`."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection3DArray

    from cleanpose_ros.engines.triton_engine import executions_between
    from cleanpose_ros.interop.converters import stamp_to_ns

    names = [f"cam{k}" for k in range(n)]
    setup = "local" if server is None else "triton"
    node_threads = max(1, args.threads // n) if server is None else 1  # a triton node's network runs on the server
    shape = "" if server is None else "external" if isinstance(server, str) else f"{server[0]} x {server[1]}"
    result = SetupResult(cameras=n, setup=setup, threads=f"{node_threads} per node" if server is None else f"server: {shape}")
    children = Children(log_dir / (f"{n}_{setup}" + ("" if server is None else "_" + shape.replace(" ", ""))))
    children.log_dir.mkdir(parents=True, exist_ok=True)
    rclpy.init()
    probe = Node("bench_triton_fleet_probe")
    latencies: dict[str, list[float]] = {f"{c}_optical_frame": [] for c in names}
    poses, truth_frames, measuring = [0], [0], [False]
    diagnostics: dict[str, dict[str, str]] = {}  # node name -> its latest /diagnostics values
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    first_output: set[str] = set()

    def on_poses(msg: Detection3DArray) -> None:
        first_output.add(msg.header.frame_id)
        if measuring[0]:
            latencies[msg.header.frame_id].append((time.time_ns() - stamp_to_ns(msg.header.stamp)) / 1e6)
            poses[0] += len(msg.detections)

    def on_truth(_msg: Detection3DArray) -> None:
        if measuring[0]:
            truth_frames[0] += 1

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "cleanpose_node" in status.name:
                diagnostics[status.name] = {kv.key: kv.value for kv in status.values}

    def refusals() -> dict[str, int]:
        total: dict[str, int] = {}
        for values in diagnostics.values():
            for key, value in values.items():
                if key.startswith("rejected_"):
                    total[key[len("rejected_"):]] = total.get(key[len("rejected_"):], 0) + int(value)
        return total

    for name in names:
        probe.create_subscription(Detection3DArray, f"/{name}/pose_estimation/detections", on_poses, reliable)
        probe.create_subscription(Detection3DArray, f"/{name}/ground_truth/detections", on_truth, reliable)
    probe.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)
    try:
        url = ("" if server is None else server if isinstance(server, str)
               else start_server(children, args, *server))
        engine = (["-p", "inference.engine:=triton", "-p", f"inference.triton.url:={url}",
                   "-p", f"inference.triton.model:={MODEL_NAME}", "-p", "inference.triton.connect_timeout_s:=120.0"]
                  if setup == "triton" else ["-p", "inference.engine:=onnx"])
        for name in names:
            children.start(f"node_{name}", ["-m", "cleanpose_ros.ros.node", "--ros-args", "-r", f"__ns:=/{name}",
                                            "-p", f"inference.weights:={args.weights}", *engine,
                                            "-p", f"inference.num_threads:={node_threads}",
                                            "-p", "health.log_period_s:=0.0", "-p", "health.diagnostics_period_s:=1.0"])
        for k, name in enumerate(names):
            children.start(f"camera_{name}", ["-m", "cleanpose_ros.ros.demo_camera", "--ros-args", "-r",
                                              f"__ns:=/{name}", "-p", f"scenes:={args.scenes}", "-p", f"seed:={20 + k}",
                                              "-p", f"rate_hz:={args.rate}", "-p", f"objects_per_frame:={args.objects}",
                                              "-p", f"frame_id:={name}_optical_frame"])
        deadline = time.monotonic() + args.start_timeout
        while len(first_output) < n and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.1)
            dead = [name for name, proc in children.procs if proc.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead} exited during start:\n{children.log(dead[0])[-3000:]}")
        if len(first_output) < n:
            result.started = False
            print(f"{n} {setup}: only {sorted(first_output)} had an output within {args.start_timeout:.0f} s",
                  file=sys.stderr)
            return result
        spin_until = time.monotonic() + 2.5  # every node's diagnostics (1 s period) before the window opens
        while time.monotonic() < spin_until:
            rclpy.spin_once(probe, timeout_sec=0.05)
        refused_before = refusals()
        server_before = server_statistics(url) if url else None
        cpu_before = children.cpu_seconds()
        measuring[0] = True
        end_at = time.monotonic() + args.seconds
        while time.monotonic() < end_at:
            rclpy.spin_once(probe, timeout_sec=0.05)
        measuring[0] = False
        cpu_after = children.cpu_seconds()
        server_after = server_statistics(url) if url else None
        result.cpu_cores = {kind: (cpu_after[kind] - cpu_before.get(kind, 0.0)) / args.seconds for kind in cpu_after}
        spin_until = time.monotonic() + 1.5  # diagnostics covering the window's end
        while time.monotonic() < spin_until:
            rclpy.spin_once(probe, timeout_sec=0.05)
        refused_after = refusals()
    finally:
        children.stop_all()
        probe.destroy_node()
        rclpy.shutdown()
    arrays = sum(len(v) for v in latencies.values())
    pooled = np.concatenate([np.asarray(v) for v in latencies.values()]) if arrays else np.full(1, np.nan)
    result.arrays_per_s = arrays / args.seconds
    result.poses_per_s = poses[0] / args.seconds
    result.processed = arrays / max(truth_frames[0], 1)
    result.p50_ms, result.p95_ms = (float(v) for v in np.percentile(pooled, [50, 95]))
    result.worst_camera_p95_ms = max(float(np.percentile(v, 95)) if v else float("inf") for v in latencies.values())
    result.refusals = {k: v - refused_before.get(k, 0) for k, v in refused_after.items()
                       if v - refused_before.get(k, 0) > 0}
    result.refused_frames = sum(result.refusals.values())
    if server_before is not None and server_after is not None:
        result.executions = executions_between(server_before[0], server_after[0])
        result.requests = server_after[1] - server_before[1]
        result.queue_ms = (server_after[2] - server_before[2]) / 1e6 / max(result.requests, 1)
    return result


def batches_cell(r: SetupResult) -> str:
    """'mean (min-max)' objects per network call: the server's executions, or one frame's objects (local)."""
    if r.setup == "local":
        return "1 frame per call"
    if not r.executions:
        return "-"
    sizes = np.array(list(r.executions), float)
    counts = np.array(list(r.executions.values()), float)
    mean = float(np.sum(sizes * counts) / np.sum(counts))
    return f"{mean:.1f} ({int(sizes.min())}-{int(sizes.max())}), {int(counts.sum())} calls"


def table(rows: list[SetupResult]) -> str:
    lines = ["| cameras | engine | inference threads | poses/s | arrays/s | frames processed | end-to-end p50 / p95 ms |"
             " worst camera p95 ms | objects per network call | server queue ms | frames refused | cores busy: cameras / nodes / server |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if not r.started:
            lines.append(f"| {r.cameras} | {r.setup} | {r.threads} | not all cameras started | | | | | | | | |")
            continue
        refused = f"{r.refused_frames}" + (f" ({', '.join(f'{k} {v}' for k, v in r.refusals.items())})"
                                           if r.refusals else "")
        queue = f"{r.queue_ms:.1f}" if r.setup == "triton" else "-"
        cores = " / ".join(f"{r.cpu_cores[k]:.2f}" if k in r.cpu_cores else "-" for k in ("camera", "node", "triton"))
        lines.append(f"| {r.cameras} | {r.setup} | {r.threads} | {r.poses_per_s:.1f} | {r.arrays_per_s:.1f} |"
                     f" {100 * r.processed:.0f} % | {r.p50_ms:.0f} / {r.p95_ms:.0f} | {r.worst_camera_p95_ms:.0f} |"
                     f" {batches_cell(r)} | {queue} | {refused} | {cores} |")
    return "\n".join(lines)


def plot(rows: list[SetupResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    def series(r: SetupResult) -> str:  # one line per server shape; the local nodes' threads vary with n
        return f"triton ({r.threads})" if r.setup == "triton" else "local engine in every node"

    for label, color in zip(dict.fromkeys(series(r) for r in rows), plt.cm.tab10.colors):
        mine = [r for r in rows if series(r) == label and r.started]
        cams = [r.cameras for r in mine]
        axes[0].plot(cams, [r.poses_per_s for r in mine], marker="o", color=color, label=label)
        axes[1].plot(cams, [r.p50_ms for r in mine], marker="o", color=color, label=f"{label} p50")
        axes[1].plot(cams, [r.p95_ms for r in mine], marker="v", color=color, linestyle="--", label=f"{label} p95")
    axes[0].set(xlabel="cameras", ylabel="poses/s (all cameras)", title="throughput")
    axes[1].set(xlabel="cameras", ylabel="ms", title="end-to-end latency", yscale="log")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--servers", nargs="*", default=["1x2", "2x1"], metavar="INSTANCESxTHREADS",
                   help="Triton setups: model instances x onnxruntime threads each (none: only local)")
    p.add_argument("--no-local", action="store_true", help="leave out the local-engine setups")
    p.add_argument("--triton-url", default="", metavar="HOST:PORT",
                   help="instead of --servers: a server started elsewhere (e.g. on a GPU host) serving the same ONNX "
                        "file as model cleanpose_lite; the only setup that leaves loopback")
    p.add_argument("--rate", type=float, default=15.0, help="frames per second of each camera")
    p.add_argument("--objects", type=int, default=5, help="labelled objects in every frame")
    p.add_argument("--scenes", type=int, default=3, help="scenes each camera renders and cycles")
    p.add_argument("--seconds", type=float, default=30.0, help="measurement window per setup")
    p.add_argument("--start-timeout", type=float, default=240.0, help="seconds for every camera's first output")
    p.add_argument("--threads", type=int, default=2, help="local setups: inference threads, split between the nodes")
    p.add_argument("--max-batch-size", type=int, default=64, help="the server's objects per network call at most")
    p.add_argument("--max-queue-delay-us", type=int, default=2000, help="the server's dynamic batcher delay")
    p.add_argument("--weights", default=str(ROOT / "weights" / "cleanpose_lite.pt"))
    p.add_argument("--onnx", default=str(ROOT / "weights" / "cleanpose_lite.onnx"))
    p.add_argument("--logs", type=Path, default=None, help="children's logs (default: a new temporary folder)")
    p.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    p.add_argument("--plot", type=Path, default=None, help="also draw poses/s and latency against cameras (PNG)")
    p.add_argument("--replot", type=Path, default=None, metavar="JSON",
                   help="run nothing: print the table of an earlier --json file (and --plot it)")
    args = p.parse_args(argv)
    if args.replot:
        rows = [SetupResult(**{**r, "executions": {int(k): v for k, v in r["executions"].items()}})
                for r in json.loads(args.replot.read_text())]
        print(table(rows))
        if args.plot:
            plot(rows, args.plot)
        return 0
    try:
        servers: list[tuple[int, int] | str] = [tuple(int(v) for v in spec.lower().split("x")) for spec in args.servers]
        if any(len(sv) != 2 or min(sv) < 1 for sv in servers):  # type: ignore[arg-type]
            raise ValueError
    except ValueError:
        p.error(f"--servers: INSTANCESxTHREADS with both >= 1, e.g. 1x2 2x1 (got {args.servers})")
    if args.triton_url:
        servers = [args.triton_url]
    elif servers and not TRITON_PYTHON.is_file():
        print("bench_triton_fleet: .venv-triton is absent: bash scripts/setup_triton.sh", file=sys.stderr)
        return 2
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="cleanpose-bench-roslog-"))
    from cleanpose_ros.resources import ensure_fastdds_profile

    ensure_fastdds_profile()
    log_dir = args.logs or Path(tempfile.mkdtemp(prefix="cleanpose-bench-fleet-"))
    print(f"children's logs: {log_dir}", file=sys.stderr)
    rows = []
    t0 = time.monotonic()
    for n in args.cameras:
        for server in servers + ([] if args.no_local else [None]):
            rows.append(run_setup(n, server, args, log_dir))
            print(f"done: {n} camera(s), {rows[-1].setup} {rows[-1].threads} ({time.monotonic() - t0:.0f} s)",
                  file=sys.stderr)
    print(f"- machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end; each camera {args.rate:g} Hz 640x480 with {args.objects} objects; "
          f"{args.seconds:.0f} s per setup; server: max batch {args.max_batch_size} objects, queue delay "
          f"{args.max_queue_delay_us} us; `server: I x T`: I model instances with T onnxruntime threads each\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    if args.plot:
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
