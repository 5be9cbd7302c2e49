"""The exported network served by a real Triton Inference Server, through PyTriton (`cleanpose-triton-serve`).

PyTriton (nvidia-pytriton 0.7.0) ships the Triton server 2.51 binary in its wheel and runs Python inference
callables as a Triton model. Here the callable is an onnxruntime session of the exported network (the same
OnnxEngine as in the node), bound with dynamic batching over the object axis: every tensor's first axis is the
batch of objects, the dynamic batcher joins the requests of several clients (cameras, nodes) into one call of
up to `max_batch_size` objects, waiting at most `max_queue_delay_us` for more. Tensor names, data types and dims
are those of the model repository writer (engines/triton_repository.py): a client of this server also works with
NVIDIA's container serving a `cleanpose-triton-repo` repository, and the other way round.

Needs only numpy, onnxruntime and pytriton: it runs in `.venv-triton` (scripts/setup_triton.sh), whose numpy < 2
(PyTriton's pin) the main venv cannot have. Triton's standard statistics (`get_inference_statistics`) stay open
to clients, to read the batch sizes the server formed; the other protected endpoints of PyTriton (model
repository, shared memory, trace, logging) keep its generated access token.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..core.errors import ConfigError
from ..core.proc_table import descendants, process_stat
from .config import EngineConfig
from .triton_repository import TensorEntry, tensor_entries, triton_dims

logger = logging.getLogger(__name__)

_NUMPY = {"TYPE_FP32": np.float32, "TYPE_INT64": np.int64, "TYPE_FP16": np.float16, "TYPE_INT32": np.int32,
          "TYPE_UINT8": np.uint8, "TYPE_BOOL": np.bool_}
#: set in the environment of the re-executed server process (see ensure_libpython_on_library_path)
_REEXEC_MARK = "CLEANPOSE_TRITON_LIBPATH_SET"
#: how long Triton may take to unload the models at a stop. Normally ~5 s; on a saturated machine (8 cameras and
#: their nodes on 2 cores) 5 s was too short: Triton then exits at once and leaves a model's stub process behind.
EXIT_TIMEOUT_S = 30


@dataclass(frozen=True)
class ServeOptions:
    onnx: Path
    model_name: str = "cleanpose_lite"
    grpc_port: int = 8001
    http_port: int = 8000
    metrics_port: int = 8002
    address: str = "127.0.0.1"
    max_batch_size: int = 64
    max_queue_delay_us: int = 2000
    threads: int = 1  # onnxruntime intra-op threads per model instance
    instances: int = 1  # model instances (each a thread calling the one session)

    def __post_init__(self) -> None:
        for name in ("grpc_port", "http_port", "metrics_port"):
            port = getattr(self, name)
            if not 0 < port < 65536:
                raise ConfigError(f"{name} must be in 1..65535, got {port}")
        if len({self.grpc_port, self.http_port, self.metrics_port}) != 3:
            raise ConfigError(f"grpc, http and metrics ports must differ, got {self.grpc_port}, {self.http_port}, "
                              f"{self.metrics_port}")
        if self.max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_queue_delay_us < 0:
            raise ConfigError(f"max_queue_delay_us must be >= 0, got {self.max_queue_delay_us}")
        if self.threads < 1 or self.instances < 1:
            raise ConfigError(f"threads and instances must be >= 1, got {self.threads}, {self.instances}")


def ensure_libpython_on_library_path(argv: Sequence[str], module: str) -> None:
    """Re-execute this process with the interpreter's LIBDIR first on LD_LIBRARY_PATH, once.

    Triton's Python backend stub is a separate binary that finds libpython through the dynamic linker. With an
    interpreter built outside the system (pyenv: 3.11.7 here) the linker would find the system's libpython
    3.11.x first, and the model fails to load. Nothing to do when the variable already starts with LIBDIR or the
    interpreter has no shared libpython there.
    """
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    library = sysconfig.get_config_var("LDLIBRARY") or ""
    current = os.environ.get("LD_LIBRARY_PATH", "")
    if (not libdir or not (Path(libdir) / library).is_file() or current.split(os.pathsep)[0] == libdir
            or os.environ.get(_REEXEC_MARK)):
        return
    env = dict(os.environ, LD_LIBRARY_PATH=libdir + (os.pathsep + current if current else ""), **{_REEXEC_MARK: "1"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)


def check_ports_free(options: ServeOptions) -> None:
    """ConfigError naming a port something already listens on (PyTriton would wait two minutes for a server
    that exited at once)."""
    for name in ("grpc_port", "http_port", "metrics_port"):
        port = getattr(options, name)
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free to serve on
            try:
                s.bind((options.address, port))
            except OSError as e:
                raise ConfigError(f"--{name.replace('_', '-')} {port}: {options.address}:{port} is in use ({e.strerror})") from None


def pytriton_tensors(entries: Sequence[TensorEntry]) -> list[Any]:
    from pytriton.model_config import Tensor

    return [Tensor(name=e.name, dtype=_NUMPY[e.data_type], shape=triton_dims(e)) for e in entries]


def network_infer_function(engine: Any) -> Callable[..., dict[str, np.ndarray]]:
    """A PyTriton inference callable over `engine` (OnnxEngine): batched requests in, named outputs out."""
    from pytriton.decorators import batch

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        feed = dict(inputs)
        feed["category"] = feed["category"].reshape(-1)  # Triton dims [1] -> one int64 per object
        return engine.run(feed)

    return infer


class CleanPoseTritonServer:
    """A running PyTriton server with the network bound (and any `extra` models: name -> infer callable with the
    network's tensors, for tests). `start()`, then `wait(stop_event)` or `stop()`."""

    def __init__(self, options: ServeOptions, extra: Mapping[str, Callable[..., Any]] | None = None) -> None:
        from .onnx_engine import OnnxEngine

        self.options = options
        self.engine = OnnxEngine(options.onnx, EngineConfig(kind="onnx", num_threads=options.threads))
        self.inputs, self.outputs = tensor_entries(options.onnx, self.engine)
        self._extra = dict(extra or {})
        self._triton: Any = None

    def start(self) -> None:
        from pytriton.model_config import DynamicBatcher, ModelConfig
        from pytriton.triton import DEFAULT_PROTECTED_ENDPOINTS, Triton, TritonConfig, TritonSecurityConfig

        o = self.options
        config = TritonConfig(grpc_address=o.address, grpc_port=o.grpc_port, http_address=o.address,
                              http_port=o.http_port, metrics_address=o.address, metrics_port=o.metrics_port,
                              log_verbose=0, exit_timeout_secs=EXIT_TIMEOUT_S)
        security = TritonSecurityConfig(restricted_endpoints=[e for e in DEFAULT_PROTECTED_ENDPOINTS if e != "statistics"])
        triton = Triton(config=config, security_config=security)
        models = {o.model_name: network_infer_function(self.engine), **self._extra}
        for name, infer in models.items():
            triton.bind(model_name=name, infer_func=[infer] * o.instances, inputs=pytriton_tensors(self.inputs),
                        outputs=pytriton_tensors(self.outputs), strict=False,
                        config=ModelConfig(max_batch_size=o.max_batch_size,
                                           batcher=DynamicBatcher(max_queue_delay_microseconds=o.max_queue_delay_us)))
        triton.run()  # starts the server and waits for the models
        self._triton = triton

    def alive(self) -> bool:
        return self._triton is not None and self._triton.is_alive()

    def wait(self, stop: threading.Event, poll_s: float = 0.5) -> str:
        """Serve until `stop` is set or the server dies; returns which."""
        while not stop.wait(poll_s):
            if not self.alive():
                return "the Triton server or a model's proxy exited"
        return "stop requested"

    def stop(self) -> None:
        if self._triton is not None:
            self._triton.stop()
            self._triton = None


def kill_leftovers(pids: Sequence[int], grace_s: float = 3.0) -> list[int]:
    """SIGKILL those of `pids` still alive after `grace_s` (processes a stopped server should have ended);
    the ones killed."""
    def alive(pid: int) -> bool:
        stat = process_stat(pid)
        return stat is not None and stat.alive  # a zombie has ended; its parent only has not reaped it

    deadline = time.monotonic() + grace_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    killed = []
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    return killed


def serve(options: ServeOptions, extra: Mapping[str, Callable[..., Any]] | None = None,
          log: Callable[[str], None] = print) -> int:
    """Start, log `ready: ...`, serve until SIGTERM / SIGINT, stop cleanly; exit status 0 (1 if the server died)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log(f"{signal.Signals(signum).name} received: stopping")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    start = time.monotonic()
    check_ports_free(options)
    server = CleanPoseTritonServer(options, extra)
    try:
        try:
            server.start()
        except Exception as e:  # PyTriton's own errors (a model that fails to load, a port in use, ...)
            log(f"could not start the server: {type(e).__name__}: {e} (the Triton log above says more)")
            return 1
        o = options
        log(f"ready: model {o.model_name!r} ({server.engine.path.name}, {server.engine.info.name}) on grpc "
            f"{o.address}:{o.grpc_port}, http {o.address}:{o.http_port}, metrics {o.address}:{o.metrics_port}; "
            f"max_batch_size {o.max_batch_size} objects, max_queue_delay {o.max_queue_delay_us} us, "
            f"{o.instances} instance(s) x {o.threads} thread(s)" + (f"; also {sorted(extra)}" if extra else "")
            + f" (started in {time.monotonic() - start:.1f} s)")
        why = server.wait(stop)
    finally:
        # tritonserver and the models' stub processes, recorded before the stop: a forced Triton exit (exit
        # timeout) leaves stubs orphaned, which would hold memory and CPU after this command ended
        spawned = descendants(os.getpid())
        server.stop()
        killed = kill_leftovers(spawned)
        if killed:
            log(f"killed {len(killed)} process(es) the server left behind: {killed}")
    log(f"stopped: {why}")
    return 0 if why == "stop requested" else 1
