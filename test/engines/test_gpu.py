"""GPU engines (skipped without CUDA): torch CUDA fp32 / fp16 against torch CPU, ONNX Runtime CUDA when present."""
import numpy as np
import pytest
import torch

from cleanpose_ros.core.pipeline import Pipeline
from cleanpose_ros.engines.config import EngineConfig
from cleanpose_ros.engines.onnx_engine import OnnxEngine
from cleanpose_ros.verification.parity import compare_pipelines, parity_frames
from cleanpose_ros.engines.torch_engine import TorchEngine
from test.engines.conftest import EXPORT_SEED, parity_frame_source

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _pipe(checkpoint, **cfg):
    return Pipeline(TorchEngine.from_checkpoint(checkpoint, EngineConfig(inference_seed=EXPORT_SEED, **cfg)))


def test_torch_cuda_fp32_matches_cpu(lite_artefacts):
    report = compare_pipelines(_pipe(lite_artefacts.checkpoint), _pipe(lite_artefacts.checkpoint, device="cuda"),
                               parity_frames(parity_frame_source(), 3))
    print(report.table())
    assert report.passed and report.candidate == "torch:cuda"


def test_torch_cuda_fp16_stays_close_to_fp32(lite_artefacts):
    """fp16 autocast: looser bounds (1 deg, 1 mm), documented in docs/runtime.md."""
    report = compare_pipelines(_pipe(lite_artefacts.checkpoint, device="cuda"),
                               _pipe(lite_artefacts.checkpoint, device="cuda", precision="fp16"),
                               parity_frames(parity_frame_source(), 3),
                               tolerances={"rotation_deg": 1.0, "translation_mm": 1.0, "size_mm": 1.0})
    print(report.table())
    assert report.passed


def test_onnxruntime_cuda_matches_torch(lite_artefacts):
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider")
    onnx_pipe = Pipeline(OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", device="cuda")))
    assert onnx_pipe.engine.active_provider == "CUDAExecutionProvider"
    report = compare_pipelines(_pipe(lite_artefacts.checkpoint), onnx_pipe, parity_frames(parity_frame_source(), 3))
    assert report.passed
    np.testing.assert_array_less(0, len(report.differences))
