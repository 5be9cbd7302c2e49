"""Torch engine options: the traced (jit) graph computes what the eager module computes, for any object count."""
import numpy as np
import pytest

from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.core.pipeline import Pipeline
from cleanpose_ros.core.engine import dummy_inputs
from cleanpose_ros.engines.config import EngineConfig
from cleanpose_ros.verification.parity import compare_pipelines, parity_frames
from cleanpose_ros.engines.torch_engine import TorchEngine
from test.engines.conftest import parity_frame_source


@pytest.fixture(scope="module")
def eager_and_traced(lite_artefacts):
    eager = TorchEngine.from_checkpoint(lite_artefacts.checkpoint, EngineConfig(num_threads=1))
    traced = TorchEngine.from_checkpoint(lite_artefacts.checkpoint, EngineConfig(num_threads=1, jit=True))
    return eager, traced


def test_traced_engine_matches_eager_on_fixture_frames(eager_and_traced):
    eager, traced = eager_and_traced
    report = compare_pipelines(Pipeline(eager), Pipeline(traced), parity_frames(parity_frame_source(), 3))
    assert len(report.differences) >= 8 and report.passed
    assert report.worst()["translation_mm"] < 0.01


@pytest.mark.parametrize("b", [1, 4, 9])
def test_traced_engine_keeps_the_object_count_dynamic(eager_and_traced, b):
    eager, traced = eager_and_traced
    inputs = dummy_inputs(traced.info, b, seed=b)
    ours, ref = traced.run(inputs), eager.run(inputs)
    assert ours["rotation"].shape == (b, 3, 3)
    for name in ref:
        np.testing.assert_allclose(ours[name], ref[name], atol=1e-5)


def test_jit_is_a_torch_option():
    with pytest.raises(ConfigError, match="jit is a torch-engine option"):
        EngineConfig(kind="onnx", jit=True)
