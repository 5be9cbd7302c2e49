"""The evaluation path (evaluation/runner.py) gives the same metrics through either engine."""
import math

import pytest

from cleanpose_ros.core.pipeline import Pipeline
from cleanpose_ros.data.nocs_reader import NocsReader
from cleanpose_ros.engines.config import EngineConfig
from cleanpose_ros.verification.fixture_frames import source_splits
from cleanpose_ros.engines.onnx_engine import OnnxEngine
from cleanpose_ros.engines.torch_engine import TorchEngine
from cleanpose_ros.evaluation.runner import evaluate_dataset, nocs_samples
from test.engines.conftest import EXPORT_SEED


def _leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{prefix}{k}.")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _leaves(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), tree


def test_metrics_are_the_same_with_torch_and_onnxruntime(lite_artefacts, nocs_tree, tmp_path):
    pipelines = {
        "torch": Pipeline(TorchEngine.from_checkpoint(lite_artefacts.checkpoint,
                                                      EngineConfig(inference_seed=EXPORT_SEED, num_threads=1))),
        "onnx": Pipeline(OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", num_threads=1))),
    }
    frames = predictions = 0
    for source, split in source_splits(nocs_tree):  # e.g. real/test and camera/val: different intrinsics
        metrics = {name: dict(_leaves(evaluate_dataset(p, nocs_samples(NocsReader(nocs_tree, source, split)),
                                                       tmp_path / f"{source}_{split}_{name}", plots=False,
                                                       resume=False)))
                   for name, p in pipelines.items()}
        a, b = metrics["torch"], metrics["onnx"]
        assert a.keys() == b.keys()
        numeric = [k for k, v in a.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        frames += a["num_frames"]
        predictions += sum(a[k] for k in numeric if k.startswith("num_pred."))
        different = [(k, a[k], b[k]) for k in numeric if not (math.isnan(a[k]) and math.isnan(b[k]))
                     and a[k] != pytest.approx(b[k], rel=1e-4, abs=1e-3)]
        assert different == [], f"{source}/{split}"
        assert {k: v for k, v in a.items() if k not in numeric} == {k: v for k, v in b.items() if k not in numeric}
    assert frames >= 3 and predictions >= 8
