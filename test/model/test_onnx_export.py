"""The inference graph exports to ONNX with a dynamic batch and matches torch in onnxruntime."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from cleanpose_ros.model.config import ModelConfig
from cleanpose_ros.model.network import CleanPose, example_inputs
from cleanpose_ros.model.onnx_io import INPUT_NAMES, KEYPOINT_OUTPUT_NAMES, OUTPUT_NAMES, export_onnx
from cleanpose_ros.model.rotation import rotation_angle_deg


def _fill_queue(model: CleanPose) -> None:
    assert model.queue is not None
    g = torch.Generator().manual_seed(0)
    n = model.config.causal.queue_size
    model.queue.push(torch.arange(model.config.num_categories).repeat_interleave(n),
                     torch.randn(n * model.config.num_categories, model.config.feature_dim, generator=g))


def _check_parity(model: CleanPose, path: Path, batches: tuple[int, ...]) -> None:
    graph = onnx.load(str(path))
    assert graph.opset_import[0].version >= 17
    assert [i.name for i in graph.graph.input] == list(INPUT_NAMES)
    assert [o.name for o in graph.graph.output] == list(OUTPUT_NAMES + KEYPOINT_OUTPUT_NAMES)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    module = model.inference_module(keypoints=True)
    for b in batches:
        x = example_inputs(model.config, b, seed=10 + b)
        with torch.no_grad():
            rotation, translation, size, kpt_nocs, kpt_cam = module(**x)
        r, t, s, kn, kc = session.run(list(OUTPUT_NAMES + KEYPOINT_OUTPUT_NAMES), {k: v.numpy() for k, v in x.items()})
        k = model.config.keypoints.num_keypoints
        assert kn.shape == (b, k, 3) and kc.shape == (b, k, 3)
        assert float(np.abs(kn - kpt_nocs.numpy()).max()) < 1e-4 and float(np.abs(kc - kpt_cam.numpy()).max()) < 1e-4
        assert r.shape == (b, 3, 3) and t.shape == (b, 3) and s.shape == (b, 3)
        angle = rotation_angle_deg(torch.from_numpy(r).double(), rotation.double())
        assert float(angle.max()) < 0.1, f"B={b}: rotation differs by {float(angle.max())} deg"
        assert float(np.abs(t - translation.numpy()).max()) < 1e-4, f"B={b}: translation differs"
        assert float(np.abs(s - size.numpy()).max()) < 1e-4, f"B={b}: size differs"


def test_lite_exports_with_dynamic_batch_and_matches_torch(lite_model: CleanPose, tmp_path: Path) -> None:
    _fill_queue(lite_model)
    path = export_onnx(lite_model, tmp_path / "lite.onnx", opset=17, batch_example=2)
    _check_parity(lite_model, path, (1, 3))


def test_in_graph_farthest_point_sampling_exports(lite_config: ModelConfig, tmp_path: Path) -> None:
    # The paper config samples centres with FPS inside the graph; a small FPS config keeps this test quick.
    cfg = replace(lite_config, num_points=128, point_encoder=replace(
        lite_config.point_encoder, sampling="fps", npoints=(48, 24, 12, 6)))
    torch.manual_seed(0)
    model = CleanPose(cfg)
    _fill_queue(model)
    path = export_onnx(model, tmp_path / "fps.onnx", batch_example=2)
    _check_parity(model, path, (1, 3))


@pytest.mark.parametrize("opset", [18])
def test_newer_opset_exports(lite_model: CleanPose, tmp_path: Path, opset: int) -> None:
    path = export_onnx(lite_model, tmp_path / "lite18.onnx", opset=opset)
    assert onnx.load(str(path)).opset_import[0].version == opset
