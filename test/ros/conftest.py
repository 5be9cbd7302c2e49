"""Weights for the ROS tests: the shipped lite weights when present, else a random-init lite
checkpoint (plumbing only: poses are meaningless, so accuracy checks skip without trained weights).
$CLEANPOSE_ROS_TEST_WEIGHTS points the tests, accuracy checks included, at another checkpoint."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = ROOT / "weights" / "cleanpose_lite.pt"


def make_random_lite_checkpoint(path: Path, seed: int = 0) -> Path:
    import torch

    from cleanpose_ros.model.checkpoint import save_checkpoint
    from cleanpose_ros.model.config import load_model_config
    from cleanpose_ros.model.network import CleanPose

    torch.manual_seed(seed)
    config = load_model_config(ROOT / "config" / "model" / "lite.yaml")
    model = CleanPose(config).eval()
    # Random sizes are negative half the time and the pipeline rightly refuses those; a constant
    # 10 cm box from the size head keeps every object posed, so outputs can be checked.
    last = model.pose_head.size[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(0.1)
    save_checkpoint(path, model, config)
    return path


def trained_weights() -> Path | None:
    """Weights whose poses mean something: $CLEANPOSE_ROS_TEST_WEIGHTS (to check a candidate
    checkpoint) or the shipped file; None while neither exists."""
    override = os.environ.get("CLEANPOSE_ROS_TEST_WEIGHTS")
    if override:
        return Path(override)
    return SHIPPED_WEIGHTS if SHIPPED_WEIGHTS.is_file() else None


@pytest.fixture(scope="session")
def node_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    trained = trained_weights()
    if trained is not None:
        return trained
    try:
        return make_random_lite_checkpoint(tmp_path_factory.mktemp("weights") / "random_lite.pt")
    except ImportError as e:  # the model package is not there yet
        pytest.skip(f"no weights and cannot build a random checkpoint: {e}")
