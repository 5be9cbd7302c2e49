"""Shared inputs of the rosbag tests: a few generated NOCS frames, a lite checkpoint whose every
object gets a pose (test/engines/models.py lite_test_model: random weights, positive sizes), and
a bag made from the frames. Parity between two paths holds for any weights."""
from __future__ import annotations

from pathlib import Path

import pytest

FRAMES = 4
SEED = 11


@pytest.fixture(scope="session")
def nocs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cleanpose_ros.data.generator import GeneratorConfig, generate_dataset

    root = tmp_path_factory.mktemp("nocs")
    generate_dataset(GeneratorConfig(out=root, frames=FRAMES, seed=SEED, split="test"), progress=False)
    return root


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from cleanpose_ros.model.checkpoint import save_checkpoint
    from test.engines.models import lite_test_model

    torch.set_num_threads(1)
    model = lite_test_model(seed=3)
    return save_checkpoint(tmp_path_factory.mktemp("weights") / "lite_test.pt", model, model.config)


@pytest.fixture(scope="session")
def bag(nocs_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from cleanpose_ros.bags.make_bag import make_bag
    from cleanpose_ros.data.nocs_reader import NocsReader
    from cleanpose_ros.evaluation.runner import nocs_samples

    out = tmp_path_factory.mktemp("bags") / "gen_test"
    make_bag(nocs_samples(NocsReader(nocs_root, "real", "test")), out)
    return out
