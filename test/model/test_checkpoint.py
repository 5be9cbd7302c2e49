"""Checkpoints: exact round trip, queue travels with the weights, unsafe or broken files refused."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cleanpose_ros.core.config import to_dict
from cleanpose_ros.core.errors import WeightsError
from cleanpose_ros.model.checkpoint import FORMAT, VERSION, load_checkpoint, save_checkpoint
from cleanpose_ros.model.network import CleanPose, example_inputs


def test_round_trip_gives_identical_outputs(lite_model: CleanPose, tmp_path: Path) -> None:
    assert lite_model.queue is not None
    lite_model.queue.push(torch.arange(6).repeat(80), torch.randn(480, lite_model.config.feature_dim))
    lite_model.set_inference_seed(11)
    path = save_checkpoint(tmp_path / "m.pt", lite_model, lite_model.config, step=42, extra={"teacher": "none"},
                           optimizer_state={"lr": 0.001})
    loaded = load_checkpoint(path)
    assert loaded.step == 42 and loaded.extra == {"teacher": "none"} and loaded.optimizer_state == {"lr": 0.001}
    assert loaded.config == lite_model.config
    x = example_inputs(lite_model.config, 4)
    with torch.no_grad():
        a = lite_model.inference_module()(**x)
        b = loaded.model.inference_module()(**x)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert torch.equal(loaded.model.queue.entries, lite_model.queue.entries)


class _Payload:
    """Unpickling this would create a marker file: proves whether the loader executes pickled code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (self.marker,))


def test_pickled_object_is_refused_not_executed(lite_model: CleanPose, tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    payload = {"format": FORMAT, "version": VERSION, "config": to_dict(lite_model.config), "step": 0, "extra": {},
               "state_dict": lite_model.state_dict(), "optimizer_state": None, "evil": _Payload(marker)}
    path = tmp_path / "evil.pt"
    torch.save(payload, path)
    with pytest.raises(WeightsError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(WeightsError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_truncated_and_garbage_files_raise_weights_error(lite_model: CleanPose, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", lite_model, lite_model.config)
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(WeightsError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_errors_name_the_actual_problem_and_never_advise_unsafe_loading(lite_model: CleanPose,
                                                                                  tmp_path: Path) -> None:
    import argparse

    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match=r"empty file \(0 bytes\)"):
        load_checkpoint(tmp_path / "empty.pt")  # was an IndexError from inside torch
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(WeightsError, match="not a checkpoint .*not a torch zip archive"):
        load_checkpoint(tmp_path / "random.pt")  # was reported as an unsafe pickle
    torch.save({"format": FORMAT, "args": argparse.Namespace(lr=1.0)}, tmp_path / "pickled.pt")
    with pytest.raises(WeightsError, match="unsafe content.*argparse.Namespace") as e:
        load_checkpoint(tmp_path / "pickled.pt")
    assert "weights_only" not in str(e.value) and "safe_globals" not in str(e.value) and "trust" not in str(e.value)


def test_checkpoint_without_queue_is_refused(lite_model: CleanPose, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", lite_model, lite_model.config)
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["queue.entries"]
    torch.save(payload, tmp_path / "noqueue.pt")
    with pytest.raises(WeightsError, match="confounder queue"):
        load_checkpoint(tmp_path / "noqueue.pt")


def test_weights_not_matching_config_are_refused(lite_model: CleanPose, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", lite_model, lite_model.config)
    payload = torch.load(path, weights_only=True)
    payload["config"]["feature_dim"] = 160
    payload["config"]["point_encoder"]["out_channels"] = 96
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(WeightsError, match="do not match"):
        load_checkpoint(tmp_path / "mismatch.pt")
