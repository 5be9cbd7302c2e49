"""Shared fixtures of the data tests: one tiny generated tree per test session (clean and noisy)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cleanpose_ros.data.generator import GeneratorConfig, generate_dataset


@pytest.fixture(scope="session")
def generated_tree(tmp_path_factory) -> tuple[Path, GeneratorConfig]:
    """4 frames (2 layouts x 2 views) with sensor noise, REAL275-like tree, segmentation pickles."""
    out = tmp_path_factory.mktemp("gen")
    cfg = GeneratorConfig(out=out, frames=4, seed=5, split="test", views_per_scene=2, models_per_category=3,
                          write_segmentation=True)
    generate_dataset(cfg, workers=1, progress=False)
    return out, cfg
