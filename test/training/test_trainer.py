"""Training loop: schedule, cyclic learning rate, checkpoints and EXACT resume on generated frames."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from cleanpose_ros.core.config import from_dict
from cleanpose_ros.training.config import TrainConfig
from cleanpose_ros.training.sampling import MixedSchedule
from cleanpose_ros.training.trainer import Trainer, cyclic_lr, latest_checkpoint

pytestmark = pytest.mark.slow


def test_cyclic_lr_triangle():
    assert cyclic_lr(0, 1e-5, 1e-3, 100) == pytest.approx(1e-5)
    assert cyclic_lr(50, 1e-5, 1e-3, 100) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert cyclic_lr(100, 1e-5, 1e-3, 100) == pytest.approx(1e-3)
    assert cyclic_lr(150, 1e-5, 1e-3, 100) == pytest.approx(cyclic_lr(50, 1e-5, 1e-3, 100))
    assert cyclic_lr(200, 1e-5, 1e-3, 100) == pytest.approx(1e-5)


def test_mixed_schedule_is_a_function_of_step_and_respects_weights():
    s = MixedSchedule((100, 100), (3.0, 1.0), batch_size=10, seed=7)
    assert s.batch(5) == MixedSchedule((100, 100), (3.0, 1.0), 10, 7).batch(5)
    assert s.batch(5) != s.batch(6)
    drawn = [i for step in range(200) for i, _ in s.batch(step)]
    share0 = np.mean([s.locate(i)[0] == 0 for i in drawn])
    assert 0.70 < share0 < 0.80  # 3:1 mix
    single = MixedSchedule((30,), (1.0,), batch_size=10, seed=1)
    epoch = sorted(i for step in range(3) for i, _ in single.batch(step))
    assert epoch == list(range(30))  # one source: every sample exactly once per epoch


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    from cleanpose_ros.data.generator import GeneratorConfig, generate_dataset

    out = tmp_path_factory.mktemp("gen")
    generate_dataset(GeneratorConfig(out=out, frames=3, seed=5, views_per_scene=3), workers=1, progress=False)
    return out


def _cfg(root: Path, steps: int) -> TrainConfig:
    return from_dict(TrainConfig, {
        "model": "lite", "data": [{"path": str(root), "split": "train"}], "steps": steps, "batch_size": 4,
        "num_workers": 0, "checkpoint_every": 2, "log_every": 1, "seed": 3,
        "optim": {"lr_min": 1e-4, "lr_max": 1e-3, "half_cycle_steps": 4},
    })


def _trainer(root: Path, out: Path, steps: int) -> Trainer:
    from cleanpose_ros.tools.train import build_datasets
    from cleanpose_ros.model.config import load_model_config

    cfg = _cfg(root, steps)
    mc = load_model_config(cfg.model)
    return Trainer(cfg, out, build_datasets(cfg, mc), model_config=mc)


def test_resume_gives_identical_weights(tiny_dataset, tmp_path):
    torch.set_num_threads(1)  # float reductions must run in the same order in both runs
    straight = _trainer(tiny_dataset, tmp_path / "a", 4)
    straight.run(progress=False)

    first = _trainer(tiny_dataset, tmp_path / "b", 4)
    first.run(progress=False, stop_at=2)
    assert latest_checkpoint(tmp_path / "b").name == "step_00000002.pt"
    second = _trainer(tiny_dataset, tmp_path / "b", 4)  # a fresh process would do exactly this
    second.resume(latest_checkpoint(tmp_path / "b"))
    assert second.step == 2
    second.run(progress=False)

    a, b = straight.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys()
    diffs = {k: float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel()}
    assert max(diffs.values()) == 0.0, {k: v for k, v in diffs.items() if v}
    # the training actually moved the weights
    init = _trainer(tiny_dataset, tmp_path / "c", 4).model.state_dict()
    assert any(float((init[k].double() - a[k].double()).abs().max()) > 0 for k in a if a[k].is_floating_point())

    rows = list(csv.DictReader((tmp_path / "b" / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert float(rows[0]["lr"]) == pytest.approx(1e-4)


def test_checkpoint_carries_config_and_queue(tiny_dataset, tmp_path):
    from cleanpose_ros.model.checkpoint import load_checkpoint

    t = _trainer(tiny_dataset, tmp_path, 2)
    path = t.run(progress=False)
    loaded = load_checkpoint(path)
    assert loaded.step == 2
    assert loaded.extra["train_config"]["batch_size"] == 4
    assert loaded.model.queue is not None
    q0 = t.model.queue.state_dict()
    for k, v in loaded.model.queue.state_dict().items():
        assert torch.equal(v, q0[k])


def test_exported_weights_drop_optimiser_state_and_predict_identically(tiny_dataset, tmp_path):
    from cleanpose_ros.model.checkpoint import load_checkpoint
    from cleanpose_ros.model.network import example_inputs
    from cleanpose_ros.tools.train import export_weights

    t = _trainer(tiny_dataset, tmp_path / "run", 2)
    ckpt = t.run(progress=False)
    lean = export_weights(ckpt, tmp_path / "weights" / "lite.pt")
    full, small = load_checkpoint(ckpt), load_checkpoint(lean)
    assert full.optimizer_state is not None and small.optimizer_state is None
    assert small.step == 2 and small.extra["train_config"] == full.extra["train_config"]
    assert lean.stat().st_size < 0.5 * ckpt.stat().st_size
    x = example_inputs(full.config, 3)
    args = [x[k] for k in ("rgb", "points", "choose", "category")]
    with torch.no_grad():
        for a, b in zip(full.model.eval().predict(*args), small.model.eval().predict(*args)):
            assert torch.equal(a, b)


def test_compact_training_state_resumes(tiny_dataset, tmp_path) -> None:
    """The committed training state (bf16 Adam moments) resumes a run in a fresh folder at its step,
    with the optimiser moments within bf16 rounding of the checkpoint's."""
    from cleanpose_ros.model.checkpoint import load_checkpoint
    from cleanpose_ros.tools.train import export_training_state

    trainer = _trainer(tiny_dataset, tmp_path / "a", steps=3)
    ckpt = trainer.run(progress=False)
    state_file = export_training_state(ckpt, tmp_path / "state.pt")
    assert state_file.stat().st_size < 0.8 * ckpt.stat().st_size
    resumed = _trainer(tiny_dataset, tmp_path / "b", steps=5)
    resumed.resume(state_file)
    assert resumed.step == 3
    full = load_checkpoint(ckpt).optimizer_state["optimizer"]["state"]
    for k, per_param in resumed.optimizer.state_dict()["state"].items():
        assert per_param["exp_avg"].dtype == torch.float32
        torch.testing.assert_close(per_param["exp_avg"], full[k]["exp_avg"], rtol=1e-2, atol=1e-6)
    resumed.run(progress=False)
    assert resumed.step == 5


def test_weights_only_file_resumes_at_its_step_with_fresh_optimiser(tiny_dataset, tmp_path) -> None:
    """How phase 4 went on past 40,000 (config/train/lite_orient.yaml): --resume-from a deployable weights file
    (no optimiser) takes its step, weights and confounder queue; Adam starts empty and the run continues."""
    from cleanpose_ros.tools.train import export_weights

    trainer = _trainer(tiny_dataset, tmp_path / "a", steps=3)
    weights_file = export_weights(trainer.run(progress=False), tmp_path / "weights.pt")
    resumed = _trainer(tiny_dataset, tmp_path / "b", steps=5)
    resumed.resume(weights_file)
    assert resumed.step == 3 and resumed.optimizer.state_dict()["state"] == {}
    for (name, a), b in zip(trainer.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name  # weights and buffers (the queue among them)
    assert any("queue" in name for name in resumed.model.state_dict())
    before = {k: v.clone() for k, v in resumed.model.state_dict().items()}
    resumed.run(progress=False)
    assert resumed.step == 5 and resumed.optimizer.state_dict()["state"]
    assert any(not torch.equal(before[k], v) for k, v in resumed.model.state_dict().items())


def test_time_budget_stops_with_a_checkpoint_and_cached_source_trains(tiny_dataset, tmp_path) -> None:
    """--minutes: the run stops once the budget is spent, with a checkpoint at the step reached; a
    `cache: true` source builds its sample cache and trains from it."""
    from cleanpose_ros.model.config import load_model_config
    from cleanpose_ros.tools.train import build_datasets

    cfg = from_dict(TrainConfig, {**{"model": "lite", "steps": 1000, "batch_size": 4, "num_workers": 0,
                                      "checkpoint_every": 500, "log_every": 50, "seed": 3},
                                   "data": [{"path": str(tiny_dataset), "split": "train", "cache": True,
                                             "cache_pool_points": 512}]})
    mc = load_model_config(cfg.model)
    datasets = build_datasets(cfg, mc)
    assert type(datasets[0]).__name__ == "CachedPoseDataset"
    trainer = Trainer(cfg, tmp_path / "run", datasets, model_config=mc)
    last = trainer.run(progress=False, time_budget_s=3.0)
    assert 1 <= trainer.step < 1000 and last.name == f"step_{trainer.step:08d}.pt"
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert int(rows[-1]["step"]) == trainer.step and float(rows[-1]["object_samples_per_sec"]) > 0
    assert "health/fit_rot_deg/oriented" in rows[-1] or "health/fit_rot_deg/bottle" in rows[-1]


@pytest.mark.slow
def test_compiled_network_computes_what_the_eager_one_does_and_trains(tiny_dataset, tmp_path):
    """TrainConfig.compile: with the same weights the compiled parts give the eager outputs (to float
    rounding: inductor reorders arithmetic); a compiled run trains and writes checkpoints an uncompiled
    model loads. (Whole runs are not compared: Adam's first steps turn rounding-level gradient
    differences into lr-sized weight differences.)"""
    import copy
    import dataclasses

    from cleanpose_ros.model.checkpoint import load_checkpoint
    from cleanpose_ros.model.config import load_model_config
    from cleanpose_ros.model.network import example_inputs
    from cleanpose_ros.tools.train import build_datasets
    from cleanpose_ros.training.trainer import compile_parts

    torch.set_num_threads(1)
    eager = _trainer(tiny_dataset, tmp_path / "eager", 2)
    eager.run(progress=False)
    model = eager.model.eval()
    compiled = copy.deepcopy(model)
    compile_parts(compiled)
    inputs = example_inputs(model.config, batch=3, seed=1)
    with torch.no_grad():
        want, got = model(**inputs), compiled(**inputs)
    for key in ("rotation", "translation", "size", "kpt_nocs"):
        assert float((getattr(want, key) - getattr(got, key)).abs().max()) < 1e-4, key
    cfg = dataclasses.replace(_cfg(tiny_dataset, 2), compile=True)
    mc = load_model_config(cfg.model)
    run = Trainer(cfg, tmp_path / "compiled", build_datasets(cfg, mc), model_config=mc)
    run.run(progress=False)
    rows = list(csv.DictReader((tmp_path / "compiled" / "metrics.csv").open()))
    assert len(rows) == 2 and all(np.isfinite(float(r["loss"])) for r in rows)
    loaded = load_checkpoint(latest_checkpoint(tmp_path / "compiled"))
    assert loaded.model.state_dict().keys() == eager.model.state_dict().keys()
