"""Provider / device selection: a missing accelerator is an error or a logged fallback, never silent."""
import logging

import pytest

from cleanpose_ros.core.config import from_dict
from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.core.engine import ProviderUnavailableError
from cleanpose_ros.engines.config import EngineConfig
from cleanpose_ros.engines.providers import resolve_ort_providers, resolve_torch_device

CPU_ONLY = ["AzureExecutionProvider", "CPUExecutionProvider"]
WITH_CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_available_primary_provider_is_used_without_note():
    chosen, note = resolve_ort_providers(("cuda", "cpu"), WITH_CUDA, fallback=False)
    assert chosen == ["CUDAExecutionProvider", "CPUExecutionProvider"] and note is None
    chosen, note = resolve_ort_providers(("tensorrt", "cuda", "cpu"), WITH_CUDA, fallback=True)
    # TensorRT missing: with fallback the next preferred provider, CUDA, is taken
    assert chosen == ["CUDAExecutionProvider", "CPUExecutionProvider"] and "TensorrtExecutionProvider" in note


def test_missing_provider_without_fallback_raises_with_the_available_list():
    with pytest.raises(ProviderUnavailableError, match=r"CUDAExecutionProvider.*not available.*CPUExecutionProvider"):
        resolve_ort_providers(("cuda",), CPU_ONLY, fallback=False)


def test_missing_provider_with_fallback_logs_and_runs_on_cpu(caplog):
    with caplog.at_level(logging.WARNING):
        chosen, note = resolve_ort_providers(("cuda",), CPU_ONLY, fallback=True)
    assert chosen == ["CPUExecutionProvider"]
    assert "falling back to CPUExecutionProvider" in note
    assert any("falling back" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_torch_device_policy(caplog):
    assert resolve_torch_device("cpu", cuda_available=False, fallback=False) == ("cpu", None)
    assert resolve_torch_device("cuda:1", cuda_available=True, fallback=False) == ("cuda:1", None)
    with pytest.raises(ProviderUnavailableError, match="CUDA is not available"):
        resolve_torch_device("cuda", cuda_available=False, fallback=False)
    with caplog.at_level(logging.WARNING):
        device, note = resolve_torch_device("cuda", cuda_available=False, fallback=True)
    assert device == "cpu" and "falling back to cpu" in note and caplog.records


def test_engine_config_validation_and_yaml_form():
    cfg = from_dict(EngineConfig, {"kind": "onnx", "device": "cuda:1", "providers": ["tensorrt", "cuda"],
                                   "fallback": True})
    assert cfg.device_index == 1 and cfg.provider_preference() == ("tensorrt", "cuda")
    assert EngineConfig(kind="onnx", device="cuda").provider_preference() == ("cuda", "cpu")
    assert EngineConfig(kind="onnx").provider_preference() == ("cpu",)
    with pytest.raises(ConfigError, match="unknown providers"):
        EngineConfig(kind="onnx", providers=("rocm",))
    with pytest.raises(ConfigError, match="device must be"):
        EngineConfig(device="gpu")
    with pytest.raises(ConfigError, match="fp16 is a torch-engine option"):
        EngineConfig(kind="onnx", precision="fp16")
    with pytest.raises(ConfigError, match="kind must be"):
        EngineConfig(kind="tensorflow")  # type: ignore[arg-type]
