"""ONNX Runtime engine: runs a network exported by `cleanpose-export` (tools/export.py).

The exported file carries its ModelInfo (sizes, categories, name, confounder seed) as ONNX
metadata under METADATA_KEY, so an .onnx file is self-describing like a checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.errors import ConfigError, WeightsError
from ..core.engine import INPUT_NAMES, KEYPOINT_OUTPUT_NAMES, OUTPUT_NAMES, ModelInfo, ProviderUnavailableError, check_inputs, check_outputs
from .config import EngineConfig
from .providers import resolve_ort_providers

logger = logging.getLogger(__name__)

#: ONNX metadata_props key holding json(ModelInfo).
METADATA_KEY = "cleanpose.model_info"
#: TensorRT optimisation profile: objects per frame it is tuned for, and the most it accepts
#: (PipelineConfig.max_objects must not exceed it with the TensorRT provider).
TRT_OPT_OBJECTS = 5
TRT_MAX_OBJECTS = 32


def model_info_to_metadata(info: ModelInfo) -> dict[str, str]:
    return {METADATA_KEY: json.dumps(dataclasses.asdict(info))}


def model_info_from_metadata(metadata: Mapping[str, str], source: str) -> ModelInfo:
    if METADATA_KEY not in metadata:
        raise WeightsError(f"{source}: no {METADATA_KEY!r} metadata; export the network with cleanpose-export")
    try:
        raw = json.loads(metadata[METADATA_KEY])
        raw["categories"] = tuple(raw["categories"])
        return ModelInfo(**raw)
    except (ValueError, TypeError, KeyError) as e:
        raise WeightsError(f"{source}: unreadable {METADATA_KEY!r} metadata: {e}") from None


class OnnxEngine:
    """Engine over an onnxruntime InferenceSession. `active_provider` names the provider in use."""

    kind = "onnx"

    def __init__(self, path: str | Path, config: EngineConfig | None = None) -> None:
        import onnxruntime as ort

        config = config or EngineConfig(kind="onnx")
        path = Path(path)
        if not path.is_file():
            raise WeightsError(f"ONNX file not found: {path}")
        providers, self.fallback_note = resolve_ort_providers(
            config.provider_preference(), ort.get_available_providers(), config.fallback)
        options = ort.SessionOptions()
        self._parts = config.parallel_batches
        self._executor: ThreadPoolExecutor | None = None
        threads = config.num_threads or (1 if self._parts > 1 else 0)  # with parts: one thread per part by default
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spin_wait else "0")
        options.log_severity_level = 3  # ORT's own warnings are noise here; we log what matters
        provider_args: list[Any] = [self._provider_arg(p, path, config) for p in providers]
        try:
            self._session = ort.InferenceSession(str(path), options, providers=provider_args)
        except Exception as e:  # onnxruntime raises its own pybind exception types (InvalidProtobuf, Fail, ...)
            raise WeightsError(f"{path}: not a loadable ONNX network ({type(e).__name__}: {e})") from None
        self.active_provider: str = self._session.get_providers()[0]
        if self.active_provider != providers[0]:
            # onnxruntime-gpu without its CUDA libraries silently runs on the CPU: apply our policy.
            note = (f"onnxruntime did not start {providers[0]} (running on {self.active_provider}; "
                    "the provider's libraries are probably missing)")
            if not config.fallback:
                raise ProviderUnavailableError(note + "; set fallback: true to accept this")
            logger.warning("%s; continuing (fallback: true)", note)
            self.fallback_note = note
        names_in = tuple(i.name for i in self._session.get_inputs())
        names_out = tuple(o.name for o in self._session.get_outputs())
        if set(names_in) != set(INPUT_NAMES) or not set(OUTPUT_NAMES) <= set(names_out):
            raise WeightsError(f"{path}: network has inputs {names_in} / outputs {names_out}, "
                               f"expected {INPUT_NAMES} / {OUTPUT_NAMES}")
        # graphs exported before the keypoint outputs existed still run (direct poses only)
        self.output_names = OUTPUT_NAMES + tuple(n for n in KEYPOINT_OUTPUT_NAMES if n in names_out)
        self.info = model_info_from_metadata(self._session.get_modelmeta().custom_metadata_map, str(path))
        if config.inference_seed is not None and config.inference_seed != self.info.seed:
            # The samples are constants of the graph: a different seed cannot be honoured, only refused.
            raise ConfigError(f"{path}: confounder samples were baked in with seed {self.info.seed}, "
                              f"inference_seed {config.inference_seed} was requested; re-export with --seed "
                              f"{config.inference_seed} or leave inference_seed unset")
        self.path = path
        logger.info("onnx engine: %s on %s (model %s, %d points, %dpx crops)", path.name, self.active_provider,
                    self.info.name, self.info.num_points, self.info.crop_size)

    @staticmethod
    def _provider_arg(provider: str, path: Path, config: EngineConfig) -> Any:
        if provider == "CPUExecutionProvider":
            return provider
        options: dict[str, Any] = {"device_id": config.device_index}
        if provider == "TensorrtExecutionProvider":
            # TensorRT builds an engine per input shape; one optimisation profile over 1..MAX objects
            # avoids a rebuild (tens of seconds) whenever a frame has a new object count, and the
            # engine cache avoids rebuilding at every start.
            import onnx

            from .factory import onnx_cache_dir

            info = model_info_from_metadata(
                {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}, str(path))
            n, s = info.num_points, info.crop_size

            def shapes(b: int) -> str:
                return f"rgb:{b}x3x{s}x{s},points:{b}x{n}x3,choose:{b}x{n},category:{b}"

            options.update({"trt_engine_cache_enable": True, "trt_engine_cache_path": str(onnx_cache_dir() / "trt"),
                            "trt_profile_min_shapes": shapes(1), "trt_profile_opt_shapes": shapes(TRT_OPT_OBJECTS),
                            "trt_profile_max_shapes": shapes(TRT_MAX_OBJECTS)})
        return provider, options

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch_size = check_inputs(inputs, self.info)
        names = list(self.output_names)
        parts = min(self._parts, batch_size)
        if parts <= 1:
            values = self._session.run(names, {n: inputs[n] for n in INPUT_NAMES})
        else:
            # the session is thread-safe and releases the GIL: the parts run on parts cores at once
            bounds = np.linspace(0, batch_size, parts + 1).round().astype(int)
            feeds = [{n: inputs[n][a:b] for n in INPUT_NAMES} for a, b in zip(bounds[:-1], bounds[1:])]
            results = list(self._pool().map(lambda feed: self._session.run(names, feed), feeds))
            values = [np.concatenate([r[i] for r in results]) for i in range(len(names))]
        return check_outputs(dict(zip(self.output_names, values)), batch_size)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._parts, thread_name_prefix="cleanpose_onnx")
        return self._executor
