"""Engine over a Triton Inference Server (`cleanpose-triton-serve`, or NVIDIA's container with a
`cleanpose-triton-repo` repository), through tritonclient's gRPC client.

The network is the local ONNX file's: its ModelInfo (sizes, categories) and output names come from the
file's metadata as in OnnxEngine, and at every connect the served model must match it: the same input and
output names, Triton data types and dims (batch axis dynamic, category one int64 per object as dims [1]),
and the same answer to one probe object as the local file gives (so a server left on other weights is
refused, not silently used). Requests carry every object of a call on the batch axis; the server's
dynamic batcher joins requests of several clients. A call with more objects than the server's
max_batch_size is sent in parts.

Failures never come back as poses: each raises EngineError with a reason the callers count
(core/errors.py): `engine_unavailable` (cannot connect, not ready), `engine_timeout` (no answer within
triton_timeout_s), `engine_bad_output` (missing outputs, wrong dtype or shape), `engine_error` (the server
answered with an error, or a reconnected server serves another model). Once the server is unreachable the
engine makes no requests until a readiness check succeeds: checks are spaced by a backoff of 0.5 s doubling
to 5 s, each call in between is refused at once; the first check that succeeds reconnects (a new gRPC
channel, the model checked again) and calls go through again. Non-finite values are not a transport
problem: they reach the postprocessing, which refuses those objects (`non_finite_output`) as with the
local engines.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.engine import INPUT_NAMES, SchemaError, check_inputs, check_outputs, dummy_inputs
from ..core.errors import ConfigError, EngineError
from .config import EngineConfig
from .triton_repository import TensorEntry, entries_of_run, triton_dims

logger = logging.getLogger(__name__)

#: readiness checks while the server is down: first after BACKOFF_MIN_S, doubling up to BACKOFF_MAX_S
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 5.0
#: deadline of one readiness check (and of the model checks after it)
CHECK_TIMEOUT_S = 1.0
#: the probe object's outputs from the server and from the local file must agree this closely (same network:
#: identical with the same onnxruntime, ~1e-5 on another build or a GPU; other weights: differences of ~0.1-1)
PROBE_ATOL = 1e-2
#: TensorEntry data types (config.pbtxt TYPE_*) as the model metadata names them
_METADATA_TYPES = {"TYPE_FP32": "FP32", "TYPE_INT64": "INT64", "TYPE_FP16": "FP16", "TYPE_INT32": "INT32",
                   "TYPE_UINT8": "UINT8", "TYPE_BOOL": "BOOL"}
_NUMPY_TYPES = {"FP32": np.float32, "INT64": np.int64}


def _grpc():  # lazy: the client is an optional dependency (requirements/runtime.txt, extra "triton")
    try:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException
    except ImportError as e:
        raise ConfigError(f"the triton engine needs tritonclient's gRPC client: pip install 'tritonclient[grpc]==2.73.0' "
                          f"({e})") from None
    return grpcclient, InferenceServerException


def batch_executions(stats: Any) -> dict[int, int]:
    """{batch size: executions} from a tritonclient.grpc ModelStatisticsResponse (cumulative since the server
    started: a load test takes the difference of two reads, `executions_between`)."""
    counts: dict[int, int] = {}
    for model in stats.model_stats:
        for b in model.batch_stats:
            counts[int(b.batch_size)] = counts.get(int(b.batch_size), 0) + int(b.compute_infer.count)
    return counts


def executions_between(before: Mapping[int, int], after: Mapping[int, int]) -> dict[int, int]:
    """The executions per batch size that happened between two `batch_executions` reads (sizes without any
    left out)."""
    between = {size: count - before.get(size, 0) for size, count in after.items()}
    if any(v < 0 for v in between.values()):
        raise ValueError("the second read has fewer executions than the first (a restarted server?)")
    return {size: count for size, count in sorted(between.items()) if count > 0}


def model_mismatch(metadata: Any, max_batch_size: int, inputs: list[TensorEntry], outputs: list[TensorEntry]
                   ) -> list[str]:
    """What differs between a served model (tritonclient.grpc ModelMetadataResponse and its config's
    max_batch_size) and the tensors the local network has; [] when it can serve it."""
    problems = []
    if max_batch_size < 1:
        problems.append(f"max_batch_size is {max_batch_size}: the model has no batch axis (objects go on it)")
    for kind, want, served in (("input", inputs, metadata.inputs), ("output", outputs, metadata.outputs)):
        have = {t.name: t for t in served}
        names = [e.name for e in want]
        if kind == "input" and set(have) != set(names):
            problems.append(f"inputs are {sorted(have)}, the network's are {sorted(names)}")
            continue
        missing = [n for n in names if n not in have]
        if missing:
            problems.append(f"outputs {missing} are not served (served: {sorted(have)})")
        for entry in want:
            t = have.get(entry.name)
            if t is None:
                continue
            datatype, shape = t.datatype, tuple(int(d) for d in t.shape)
            if datatype != _METADATA_TYPES[entry.data_type]:
                problems.append(f"{kind} {entry.name} is {datatype}, the network's is {_METADATA_TYPES[entry.data_type]}")
            dims = triton_dims(entry)
            # -1 = any size: the server does not say, every answer's shape is checked instead
            if len(shape) != len(dims) + 1 or shape[0] != -1 or any(s not in (d, -1) for s, d in zip(shape[1:], dims)):
                problems.append(f"{kind} {entry.name} has shape {list(shape)}, the network's is {[-1, *dims]} "
                                "(-1: the object axis)")
    return problems


class TritonEngine:
    """Engine whose network runs on a Triton server; `onnx_path` is the same network, for its metadata."""

    kind = "triton"

    def __init__(self, onnx_path: str | Path, config: EngineConfig) -> None:
        from .onnx_engine import OnnxEngine

        self._grpc, self._server_exception = _grpc()
        self._config = config
        self.url, self.model = config.triton_address, config.triton_model
        # The local file: ModelInfo, output names, and the tensors + probe answer the served model must match.
        local = OnnxEngine(onnx_path, EngineConfig(kind="onnx", inference_seed=config.inference_seed, num_threads=1))
        self.info, self.output_names, self.path = local.info, local.output_names, local.path
        self._probe_inputs = dummy_inputs(self.info, 1)
        self._probe_outputs = local.run(self._probe_inputs)
        self._inputs, self._outputs = entries_of_run(self._probe_inputs, self._probe_outputs, self.output_names, str(onnx_path))
        del local  # the session is not needed any more: the server runs the network
        self.active_provider = f"triton {self.model} at {self.url}"
        self.fallback_note: str | None = None
        self._lock = threading.RLock()  # _connect under it may mark a failed client down
        self._client: Any = None
        self._max_batch = 0
        self._down_since: float | None = None
        self._down_reason = ""
        self._next_check = 0.0
        self._backoff = BACKOFF_MIN_S
        self.reconnects = 0  # successful connects after the first (for tests and logs)
        self._connect_at_start()

    # ------------------------------------------------------------------ connecting

    def _connect_at_start(self) -> None:
        deadline = time.monotonic() + self._config.triton_connect_timeout_s
        while True:
            try:
                self._connect(min(CHECK_TIMEOUT_S, self._config.triton_connect_timeout_s))
                break
            except EngineError as e:
                if e.reason != "engine_unavailable":  # the server answered: it serves something else
                    raise ConfigError(f"triton engine: {e}") from None
                if time.monotonic() >= deadline:
                    raise EngineError("engine_unavailable", f"no Triton server ready at {self.url} with model "
                                      f"{self.model!r} within triton_connect_timeout_s = "
                                      f"{self._config.triton_connect_timeout_s} s ({e}); start it first "
                                      "(cleanpose-triton-serve) or raise the timeout") from None
                time.sleep(0.2)
        logger.info("triton engine: model %r at %s (max_batch_size %d), network %s (model %s, %d points, %dpx crops)",
                    self.model, self.url, self._max_batch, self.path.name, self.info.name, self.info.num_points,
                    self.info.crop_size)

    def _connect(self, timeout_s: float) -> None:
        """A fresh client (a new gRPC channel: an old one may sit in gRPC's own reconnect backoff for up to
        minutes after the server went away), readiness, the model's tensors and the probe object."""
        grpc, error_type = self._grpc, self._server_exception
        client = grpc.InferenceServerClient(self.url)
        try:
            try:
                if not client.is_server_ready(client_timeout=timeout_s):
                    raise EngineError("engine_unavailable", f"server at {self.url} is not ready")
                if not client.is_model_ready(self.model, client_timeout=timeout_s):
                    raise EngineError("engine_unavailable", f"server at {self.url} has no ready model {self.model!r}")
                metadata = client.get_model_metadata(self.model, client_timeout=timeout_s)
                max_batch = int(client.get_model_config(self.model, client_timeout=timeout_s).config.max_batch_size)
            except error_type as e:
                raise EngineError("engine_unavailable", f"server at {self.url}: {e.message() or e.status()}") from None
            problems = model_mismatch(metadata, max_batch, self._inputs, self._outputs)
            if problems:
                raise EngineError("engine_error", f"model {self.model!r} at {self.url} is not the network of "
                                  f"{self.path.name}: " + "; ".join(problems))
            got = self._infer(client, self._probe_inputs, max(timeout_s, self._config.triton_timeout_s))
            got = self._checked(got, 1)
            worst = max(float(np.max(np.abs(got[n] - self._probe_outputs[n]))) for n in self.output_names)
            if not worst <= PROBE_ATOL:
                raise EngineError("engine_error", f"model {self.model!r} at {self.url} answers a probe object "
                                  f"differently from {self.path.name} (largest difference {worst:.3g} > {PROBE_ATOL}): "
                                  "the server runs other weights")
        except BaseException:
            client.close()
            raise
        old, self._client, self._max_batch = self._client, client, max_batch
        if old is not None:
            old.close()

    def _client_or_refuse(self) -> tuple[Any, int]:
        """The connected client; while the server is down, a readiness check when the backoff allows one,
        else EngineError at once."""
        with self._lock:
            if self._client is not None:
                return self._client, self._max_batch
            now = time.monotonic()
            down_for = now - (self._down_since or now)
            if now < self._next_check:
                raise EngineError("engine_unavailable", f"server at {self.url} down for {down_for:.1f} s "
                                  f"({self._down_reason}); next readiness check in {self._next_check - now:.1f} s")
            try:
                self._connect(min(CHECK_TIMEOUT_S, self._config.triton_connect_timeout_s))
            except EngineError as e:
                self._down_reason = str(e)
                self._next_check = time.monotonic() + self._backoff
                self._backoff = min(2 * self._backoff, BACKOFF_MAX_S)
                raise EngineError(e.reason, f"{e} (down for {down_for:.1f} s; next readiness check in "
                                  f"{self._next_check - time.monotonic():.1f} s)") from None
            self.reconnects += 1
            self._down_since, self._backoff = None, BACKOFF_MIN_S
            logger.warning("triton engine: reconnected to %s after %.1f s", self.url, down_for)
            return self._client, self._max_batch

    def _mark_down(self, client: Any, why: str) -> None:
        with self._lock:
            if self._client is client:  # not already replaced by another thread's reconnect
                self._client = None
                self._down_since, self._down_reason = time.monotonic(), why
                self._next_check, self._backoff = time.monotonic() + BACKOFF_MIN_S, 2 * BACKOFF_MIN_S
                logger.warning("triton engine: server at %s unreachable (%s); readiness checks with backoff", self.url, why)
                client.close()

    # ------------------------------------------------------------------ inference

    def _infer(self, client: Any, inputs: Mapping[str, np.ndarray], timeout_s: float) -> dict[str, np.ndarray]:
        grpc = self._grpc
        request = []
        for name in INPUT_NAMES:
            array = inputs[name]
            if name == "category":
                array = array.reshape(-1, 1)  # one int64 per object: Triton dims [1]
            tensor = grpc.InferInput(name, list(array.shape), "FP32" if array.dtype == np.float32 else "INT64")
            tensor.set_data_from_numpy(np.ascontiguousarray(array))
            request.append(tensor)
        wanted = [grpc.InferRequestedOutput(n) for n in self.output_names]
        try:
            result = client.infer(self.model, request, outputs=wanted, client_timeout=timeout_s)
        except self._server_exception as e:
            status = str(e.status() or "")
            if "DEADLINE_EXCEEDED" in status:
                raise EngineError("engine_timeout", f"no answer from {self.url} within {timeout_s} s "
                                  "(triton_timeout_s)") from None
            if any(s in status for s in ("UNAVAILABLE", "CANCELLED", "UNKNOWN")) or not status:
                self._mark_down(client, e.message() or status)
                raise EngineError("engine_unavailable", f"server at {self.url}: {e.message() or status}") from None
            raise EngineError("engine_error", f"server at {self.url} refused the request ({status}): "
                              f"{e.message()}") from None
        outputs = {}
        for name in self.output_names:
            try:
                array = result.as_numpy(name)
            except Exception as e:  # tritonclient cannot decode what the server sent
                raise EngineError("engine_bad_output", f"{name} from {self.url} is not readable: {e}") from None
            if array is None:
                raise EngineError("engine_bad_output", f"the answer from {self.url} has no {name}")
            outputs[name] = array
        return outputs

    def _checked(self, outputs: dict[str, np.ndarray], batch_size: int) -> dict[str, np.ndarray]:
        for name, array in outputs.items():
            if array.dtype != np.float32:
                raise EngineError("engine_bad_output", f"{name} from {self.url} is {array.dtype}, expected float32")
        try:
            return check_outputs(outputs, batch_size)
        except SchemaError as e:
            raise EngineError("engine_bad_output", f"answer from {self.url}: {e}") from None

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch_size = check_inputs(inputs, self.info)
        client, max_batch = self._client_or_refuse()
        parts = []
        for start in range(0, batch_size, max_batch):  # the server takes at most max_batch objects per request
            part = inputs if batch_size <= max_batch else {n: inputs[n][start:start + max_batch] for n in INPUT_NAMES}
            parts.append(self._checked(self._infer(client, part, self._config.triton_timeout_s),
                                       min(max_batch, batch_size - start)))
        if len(parts) == 1:
            return parts[0]
        return {n: np.concatenate([p[n] for p in parts]) for n in self.output_names}

    def inference_statistics(self) -> dict[int, int]:
        """{batch size the server formed: executions} of the served model, from Triton's standard statistics
        (the dynamic batcher's work: a size above one request's objects means requests were joined)."""
        client, _ = self._client_or_refuse()
        try:
            stats = client.get_inference_statistics(self.model, client_timeout=CHECK_TIMEOUT_S)
        except self._server_exception as e:
            raise EngineError("engine_error", f"statistics of {self.model!r} at {self.url}: {e.message()}") from None
        return batch_executions(stats)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
