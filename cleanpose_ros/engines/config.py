"""Engine selection as one validated, YAML-loadable dataclass (core/config.py from_dict rules)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..core.errors import ConfigError

#: ONNX Runtime execution providers by their short config names, fastest first.
ORT_PROVIDER_NAMES: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
#: a Triton server's gRPC endpoint: host:port, optionally written grpc://host:port
_GRPC_URL = re.compile(r"^(grpc://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
ENGINE_KINDS = ("torch", "onnx", "triton")


@dataclass(frozen=True)
class EngineConfig:
    """Which backend runs the network, where, and what to do when that place is unavailable."""

    kind: Literal["torch", "onnx", "triton"] = "torch"
    device: str = "cpu"  # "cpu", "cuda" or "cuda:<index>"
    precision: Literal["fp32", "fp16"] = "fp32"  # torch only; fp16 (autocast) needs CUDA
    #: torch only: trace, freeze and (CPU) optimise the inference graph at load time, a few
    #: seconds; 0-25 % faster per call on CPU for lite in our runs (docs/benchmarks.md)
    jit: bool = False
    #: onnx only: execution providers in order of preference; empty = derived from `device`
    #: (cpu -> [cpu]; cuda -> [cuda, cpu]). The first one is the one asked for.
    providers: tuple[str, ...] = ()
    #: requested device/provider missing: true = log a warning and run on the next available one
    #: (down to the CPU), false = raise ProviderUnavailableError.
    fallback: bool = False
    num_threads: int = 0  # CPU threads for the engine; 0 = the library's default
    #: onnx on CPU: let idle worker threads spin-wait. Slightly lower latency on a dedicated CPU,
    #: several times HIGHER on a shared one (measured: 5 lite objects, 2 threads, loaded 2-core
    #: machine, 79 ms spinning vs 28 ms not). torch: set OMP_WAIT_POLICY instead (engines/__init__.py).
    spin_wait: bool = False
    #: onnx on CPU: split a frame's objects into this many parts run concurrently, one thread each
    #: (num_threads is then per part). The lite graph is thousands of small nodes that a second intra-op
    #: thread barely speeds up; two parts on two idle cores did: 5 objects 40.3 -> 33.7 ms, 10 objects
    #: 80.4 -> 64.7 ms, outputs bit-identical (docs/benchmarks.md). 1 = one call.
    parallel_batches: int = 1
    #: confounder-queue samples of the torch engine: None = the ones stored with the weights,
    #: an int = draw them again from this seed (an ONNX file has its own baked in)
    inference_seed: int | None = None
    #: triton: the server's gRPC endpoint (engines/triton_engine.py; cleanpose-triton-serve listens on 8001)
    triton_url: str = "127.0.0.1:8001"
    #: triton: the model's name on the server
    triton_model: str = "cleanpose_lite"
    #: triton: deadline of one inference request; a later answer is refused as engine_timeout
    triton_timeout_s: float = 2.0
    #: triton: how long the engine waits for the server at start before refusing to start (PyTriton needs a few
    #: seconds to come up); while the server is down later, each readiness check waits at most min(this, 1 s)
    triton_connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in ENGINE_KINDS:
            raise ConfigError(f"engine kind must be one of {list(ENGINE_KINDS)}, got {self.kind!r}")
        if self.precision not in ("fp32", "fp16"):
            raise ConfigError(f"precision must be 'fp32' or 'fp16', got {self.precision!r}")
        if not _DEVICE.match(self.device):
            raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:<index>', got {self.device!r}")
        unknown = [p for p in self.providers if p not in ORT_PROVIDER_NAMES]
        if unknown:
            raise ConfigError(f"unknown providers {unknown}; allowed: {list(ORT_PROVIDER_NAMES)}")
        if len(set(self.providers)) != len(self.providers):
            raise ConfigError(f"providers listed twice: {list(self.providers)}")
        if self.jit and self.kind != "torch":
            raise ConfigError("jit is a torch-engine option (an ONNX file is already a compiled graph)")
        if self.precision == "fp16" and self.kind != "torch":
            raise ConfigError("precision fp16 is a torch-engine option; export an fp16 ONNX file instead")
        if self.num_threads < 0:
            raise ConfigError(f"num_threads must be >= 0, got {self.num_threads}")
        if self.parallel_batches < 1:
            raise ConfigError(f"parallel_batches must be >= 1, got {self.parallel_batches}")
        if self.parallel_batches > 1 and self.kind != "onnx":
            raise ConfigError("parallel_batches is an onnx-engine option (torch parallelises inside its operators)")
        if self.kind == "triton" and self.providers:
            raise ConfigError("providers are an onnx-engine option; with triton the server decides where the network runs")
        if not _GRPC_URL.match(self.triton_url) or not 0 < int(_GRPC_URL.match(self.triton_url).group(3)) < 65536:
            raise ConfigError(f"triton_url must be host:port of the server's gRPC endpoint (e.g. 127.0.0.1:8001), "
                              f"got {self.triton_url!r}")
        if not re.match(r"^[A-Za-z0-9._-]+$", self.triton_model):
            raise ConfigError(f"triton_model must be a Triton model name (letters, digits, . _ -), got {self.triton_model!r}")
        if not self.triton_timeout_s > 0:
            raise ConfigError(f"triton_timeout_s must be > 0, got {self.triton_timeout_s}")
        if not self.triton_connect_timeout_s > 0:
            raise ConfigError(f"triton_connect_timeout_s must be > 0, got {self.triton_connect_timeout_s}")

    @property
    def device_index(self) -> int:
        return int(self.device.split(":")[1]) if ":" in self.device else 0

    @property
    def triton_address(self) -> str:
        """triton_url as tritonclient.grpc wants it: host:port."""
        return self.triton_url.removeprefix("grpc://")

    def provider_preference(self) -> tuple[str, ...]:
        """Short provider names in order of preference (onnx engine)."""
        if self.providers:
            return self.providers
        return ("cuda", "cpu") if self.device.startswith("cuda") else ("cpu",)
