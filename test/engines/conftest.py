"""Shared artefacts of the engine tests: one random-initialised lite checkpoint and its ONNX export."""
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from test.engines.models import lite_test_model

ROOT = Path(__file__).resolve().parents[2]
#: NOCS-format fixture frames of the data engineer; generated frames are used while it is absent.
NOCS_MINI = ROOT / "test" / "fixtures" / "nocs_mini"
EXPORT_SEED = 7


@dataclass(frozen=True)
class Artefacts:
    checkpoint: Path
    onnx: Path  # exported with confounder samples re-drawn from EXPORT_SEED


@pytest.fixture(scope="session")
def lite_artefacts(tmp_path_factory) -> Artefacts:
    from cleanpose_ros.engines.export import export_checkpoint
    from cleanpose_ros.model.checkpoint import save_checkpoint

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("lite")
    model = lite_test_model()
    checkpoint = save_checkpoint(folder / "lite.pt", model, model.config)
    onnx_path = export_checkpoint(checkpoint, folder / "lite.onnx", seed=EXPORT_SEED)
    return Artefacts(checkpoint, onnx_path)


def parity_frame_source() -> Path | None:
    return NOCS_MINI if NOCS_MINI.is_dir() else None


@pytest.fixture(scope="session")
def nocs_tree(tmp_path_factory) -> Path:
    """A NOCS-format tree with ground truth: the committed fixture, or 3 frames of the project's generator."""
    if NOCS_MINI.is_dir():
        return NOCS_MINI
    from cleanpose_ros.data.generator import GeneratorConfig, generate_dataset

    root = tmp_path_factory.mktemp("generated_nocs")
    generate_dataset(GeneratorConfig(out=root, frames=3, seed=424242, split="test"), workers=1, progress=False)
    return root
