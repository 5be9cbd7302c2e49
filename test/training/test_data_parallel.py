"""cleanpose-train under torchrun (2 CPU processes, gloo) computes what one process computes with the same global
batch, and resumes exactly, also with another number of processes (training/distributed.py).

Real processes: torchrun starts two ranks of the unchanged command line tool. The runs are in float64
(TrainConfig.float64): in float32, runs that differ only in summation order (thread count or ranks) already
differ by ~2 % in the point encoder's gradients after one step, so float32 cannot tell a data-parallel bug from
rounding; in float64 one step of 2 ranks matches one process to ~1e-12 (relative gradient difference).
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cleanpose_ros.model.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

STEPS = 4


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    from cleanpose_ros.data.generator import GeneratorConfig, generate_dataset

    root = tmp_path_factory.mktemp("ddp")
    generate_dataset(GeneratorConfig(out=root / "gen", frames=3, seed=5, views_per_scene=3), workers=1, progress=False)
    path = root / "train.yaml"
    path.write_text(
        "model: lite\n"
        f"data: [{{path: {root / 'gen'}, split: train}}]\n"
        f"steps: {STEPS}\nbatch_size: 4\nnum_workers: 0\ncheckpoint_every: 2\nlog_every: 1\nseed: 3\n"
        "optim: {lr_min: 1.0e-4, lr_max: 1.0e-3, half_cycle_steps: 4}\n"
        "float64: true\n")
    return path


def _train(config: Path, out: Path, processes: int, steps: int = STEPS) -> str:
    """cleanpose-train as a user runs it: alone, or under torchrun with `processes` ranks."""
    tool = ["-m", "cleanpose_ros.tools.train", "--config", str(config), "--out", str(out), "--steps", str(steps),
            "--no-progress"]
    launcher = [] if processes == 1 else ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                                          str(processes)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # what torchrun gives each rank; the same for one process
    result = subprocess.run([sys.executable, *launcher, *tool], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def _state(out: Path, step: int) -> dict[str, torch.Tensor]:
    return load_checkpoint(out / "checkpoints" / f"step_{step:08d}.pt").model.state_dict()


def _losses(out: Path) -> list[float]:
    return [float(r["loss"]) for r in csv.DictReader((out / "metrics.csv").open())]


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[float, str]:
    assert a.keys() == b.keys()
    return max((float((a[k].double() - b[k].double()).abs().max()), k) for k in a
               if a[k].numel() and a[k].is_floating_point())


def test_two_processes_equal_one_and_resume_with_any_world_size(config: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    _train(config, one, processes=1)
    two = tmp_path / "two"
    log = _train(config, two, processes=2)
    assert "data-parallel rank 0 of 2 (gloo)" in log
    assert "batch norm over the whole batch on 2 ranks" in log

    reference, parallel = _state(one, STEPS), _state(two, STEPS)
    moved, _ = _max_difference(reference, _state(one, 2))
    assert moved > 1e-4, "the training must move the weights for the comparison to mean anything"
    diff, where = _max_difference(reference, parallel)
    assert diff < 1e-7, f"2 processes differ from 1 by {diff:.3g} in {where} (weights moved {moved:.3g} in 2 steps)"
    # the confounder queue: same fill counts, same entries (it was filled and pushed by the gathered batch)
    assert torch.equal(reference["queue.count"], parallel["queue.count"])
    assert bool((reference["queue.count"] > 0).any())
    assert _losses(two) == pytest.approx(_losses(one), rel=1e-9)  # the logged loss is the whole batch's mean

    # 2 processes for 2 steps, then resumed by 2 processes: the uninterrupted 2-process run, bit for bit
    resumed_same = tmp_path / "resumed_same"
    _train(config, resumed_same, processes=2, steps=2)
    _train(config, resumed_same, processes=2)
    diff, where = _max_difference(parallel, _state(resumed_same, STEPS))
    assert diff == 0.0, f"resumed 2-process run differs by {diff:.3g} in {where}"

    # 2 processes for 2 steps, then resumed by 1 process: the 1-process run within float tolerance
    resumed_other = tmp_path / "resumed_other"
    _train(config, resumed_other, processes=2, steps=2)
    _train(config, resumed_other, processes=1)
    diff, where = _max_difference(reference, _state(resumed_other, STEPS))
    assert diff < 1e-7, f"2 -> 1 process resume differs by {diff:.3g} in {where}"
    assert [int(float(r["step"])) for r in csv.DictReader((resumed_other / "metrics.csv").open())] == [1, 2, 3, 4]


def test_batch_must_split_evenly_over_processes() -> None:
    from cleanpose_ros.core.errors import ConfigError
    from cleanpose_ros.training.distributed import DataParallel

    parallel = DataParallel(rank=1, world_size=3)
    assert parallel.rows(6) == slice(2, 4)
    assert DataParallel().shard(6) is None  # one process: the network sees the whole batch
    with pytest.raises(ConfigError, match="must divide"):
        parallel.rows(8)
