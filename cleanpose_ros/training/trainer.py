"""The resumable training loop.

Everything a step sees is a function of (seed, step) (training/sampling.py) plus the torch RNG
state, which the checkpoint stores; so `train 0..N` and `train 0..k, resume, k..N` give the same
weights. Checkpoints are written with model.checkpoint.save_checkpoint (weights-only safe).

Under torchrun the same loop runs data parallel (training/distributed.py): each rank takes its shard of
every step's batch, gradients are averaged, the confounder queue is updated with the whole batch on every
rank, and rank 0 alone writes checkpoints, metrics and the progress bar.
"""
from __future__ import annotations

import csv
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from ..core.config import to_dict
from ..core.types import YAW_OBSERVABLE_CATEGORIES
from .config import TrainConfig, resolve_model_config
from .distributed import SINGLE_PROCESS, DataParallel, convert_batch_norms
from .health import HealthWindow
from .timing import StepTimer
from .sampling import MixedSchedule, StepBatchSampler

log = logging.getLogger(__name__)

CKPT_PATTERN = "step_{:08d}.pt"


class _KeyedDataset(Dataset):
    """Looks a global index up in the mixed sources, drawing that sample's randomness from its step.

    Each source dataset derives point sampling and augmentation from (its seed, epoch, index);
    we pass the step as the "epoch", so a sample's content depends only on (seed, step, index),
    not on which DataLoader worker handles it: resume is exact with num_workers > 0.
    """

    def __init__(self, sources: Sequence[Dataset], schedule: MixedSchedule) -> None:
        self.sources, self.schedule = list(sources), schedule

    def __len__(self) -> int:
        return self.schedule.total

    def __getitem__(self, key: tuple[int, tuple[int, int, int]]) -> dict:
        index, (_seed, step, _pos) = key
        src, local = self.schedule.locate(index)
        dataset = self.sources[src]
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(step)
        return dataset[local]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA GPU")
    return torch.device(name)


def cyclic_lr(step: int, lr_min: float, lr_max: float, half_cycle: int) -> float:
    """Triangular cyclic learning rate: lr_min -> lr_max in `half_cycle` steps and back."""
    cycle_pos = step % (2 * half_cycle)
    frac = cycle_pos / half_cycle if cycle_pos < half_cycle else 2.0 - cycle_pos / half_cycle
    return lr_min + (lr_max - lr_min) * frac


def latest_checkpoint(out_dir: Path) -> Path | None:
    ckpts = sorted((out_dir / "checkpoints").glob("step_*.pt"))
    return ckpts[-1] if ckpts else None


class MetricsLog:
    """CSV (always) + TensorBoard (when installed) scalar log; appends on resume."""

    def __init__(self, out_dir: Path, start_step: int) -> None:
        self.path = out_dir / "metrics.csv"
        self._rows: list[dict[str, float]] = []
        if self.path.exists() and start_step > 0:
            # drop rows past the checkpoint we resume from, so the log matches the weights
            with self.path.open() as f:
                rows = [r for r in csv.DictReader(f) if int(float(r["step"])) <= start_step]
            self._rows = [{k: float(v) for k, v in r.items() if v != ""} for r in rows]
        self._flush()
        try:
            from torch.utils.tensorboard import SummaryWriter
            self._tb = SummaryWriter(str(out_dir / "tensorboard"), purge_step=start_step or None)
        except Exception:  # tensorboard not installed: CSV only
            self._tb = None

    def add(self, step: int, values: dict[str, float]) -> None:
        row = {"step": float(step), **values}
        self._rows.append(row)
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, v, step)

    def _flush(self) -> None:
        keys: list[str] = ["step"]
        for r in self._rows:
            keys += [k for k in r if k not in keys]
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            for r in self._rows:
                w.writerow({k: (int(v) if k == "step" else v) for k, v in r.items()})

    def flush(self) -> None:
        self._flush()
        if self._tb is not None:
            self._tb.flush()


class Trainer:
    """Builds model, data and optimiser from a TrainConfig and runs (or resumes) training.

    `datasets` are torch Datasets of per-object sample dicts (data/training_dataset.py), with
    their training augmentation already configured.
    """

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, datasets: Sequence[Dataset],
                 model_config: Any = None, parallel: DataParallel = SINGLE_PROCESS) -> None:
        from ..model.network import CleanPose

        self.cfg = cfg
        self.parallel = parallel
        self.shard = parallel.shard(cfg.batch_size)  # None in one process
        self.out_dir = Path(out_dir)
        (self.out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.device = parallel.device(resolve_device(cfg.device))
        from ..model.losses import TrainingObjective

        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model_config = model_config if model_config is not None else resolve_model_config(cfg)
        # the seed also drives the network's own generator (in-network augmentation, queue sampling)
        self.dtype = torch.float64 if cfg.float64 else torch.float32
        self.model = CleanPose(self.model_config, seed=cfg.seed).to(self.device, self.dtype)
        if parallel.enabled:
            if self.device.type == "cuda":
                self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            else:  # torch's SyncBatchNorm runs on GPUs only
                log.info("batch norm over the whole batch on %d ranks: %d layers", parallel.world_size,
                         convert_batch_norms(self.model))
        self.objective = TrainingObjective(self.model_config)
        if cfg.compile:
            compile_parts(self.model)
        self.teacher_description = "none (no distillation)"
        if cfg.teacher:
            from ..model.teacher import describe_teacher, load_teacher

            teacher = load_teacher(cfg.teacher).to(self.device, self.dtype)
            self.model.attach_teacher(teacher)
            self.teacher_description = describe_teacher(teacher)
        log.info("distillation teacher: %s", self.teacher_description)
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad],
                                          lr=cfg.optim.lr_min, weight_decay=cfg.optim.weight_decay)
        self.datasets = list(datasets)
        self.schedule = MixedSchedule(tuple(len(d) for d in self.datasets),
                                      tuple(s.weight for s in cfg.data), cfg.batch_size, cfg.seed)
        self.keyed = _KeyedDataset(self.datasets, self.schedule)
        self.use_amp = cfg.amp == "auto" and self.device.type == "cuda"
        self.step = 0
        self.initialised_from: str | None = None
        if cfg.init_from:
            self._init_weights(Path(cfg.init_from))
        parallel.broadcast_state(self.model)  # one starting point on every rank

    def _init_weights(self, path: Path) -> None:
        """Weights (and confounder queue) of a new run taken from another checkpoint of the same network."""
        from ..model.checkpoint import load_checkpoint

        loaded = load_checkpoint(path, map_location=self.device)
        missing, unexpected = self.model.load_state_dict(loaded.model.state_dict(), strict=False)
        if missing or unexpected:
            raise ValueError(f"init_from {path}: not the same network (missing {missing[:5]}, unexpected {unexpected[:5]})")
        self.initialised_from = f"{path} (step {loaded.step})"
        log.info("initialised from %s", self.initialised_from)

    def _on_device(self, batch: dict) -> dict:
        """A loaded batch on the training device, floating tensors in the training dtype."""
        return {k: (v.to(self.device, self.dtype if v.is_floating_point() else None, non_blocking=True)
                    if torch.is_tensor(v) else v) for k, v in batch.items()}

    # -- checkpoints -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        state = {"optimizer": self.optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        generator = getattr(self.model, "_generator", None)  # the in-network augmentation's RNG
        if isinstance(generator, torch.Generator):
            state["model_rng"] = generator.get_state()
        return state

    def save(self) -> Path:
        """Rank 0 writes the checkpoint (every rank holds the same state); every rank gets its path."""
        from ..model.checkpoint import save_checkpoint

        path = self.out_dir / "checkpoints" / CKPT_PATTERN.format(self.step)
        self.parallel.check_in_step(self.model, self.step)
        if not self.parallel.is_main:
            return path
        tmp = path.with_suffix(".tmp")
        save_checkpoint(tmp, self.model, self.model_config, step=self.step,
                        extra={"train_config": to_dict(self.cfg), "teacher": self.teacher_description,
                               "initialised_from": self.initialised_from or ""}, optimizer_state=self._state())
        tmp.replace(path)  # atomic: a killed run never leaves a half-written checkpoint behind
        for old in sorted((self.out_dir / "checkpoints").glob("step_*.pt"))[:-self.cfg.keep_checkpoints]:
            old.unlink()
        return path

    def resume(self, path: Path) -> None:
        from ..model.checkpoint import load_checkpoint

        loaded = load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(loaded.model.state_dict())
        state = loaded.optimizer_state or {}
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"].cpu())
        generator = getattr(self.model, "_generator", None)
        if "model_rng" in state and isinstance(generator, torch.Generator):
            generator.set_state(state["model_rng"].cpu())
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step = int(loaded.step)
        log.info("resumed from %s at step %d", path, self.step)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, *, progress: bool = True, stop_at: int | None = None, time_budget_s: float | None = None) -> Path:
        """Train until cfg.steps (or `stop_at`, or until `time_budget_s` seconds of wall time have passed:
        then a checkpoint is written at the step reached); returns the last checkpoint written."""
        started = time.monotonic()
        end = min(self.cfg.steps, stop_at) if stop_at is not None else self.cfg.steps
        queue = getattr(self.model, "queue", None)
        if self.step == 0 and queue is not None and not bool(queue.is_full().all()):
            self._initialise_queue()
        main = self.parallel.is_main
        metrics = MetricsLog(self.out_dir, self.step) if main else None
        rows = self.parallel.rows(self.cfg.batch_size)
        loader = DataLoader(self.keyed, batch_sampler=StepBatchSampler(self.schedule, self.step, end, rows),
                            num_workers=self.cfg.num_workers, persistent_workers=False,
                            pin_memory=self.device.type == "cuda")
        bar = None
        if progress and main:
            from tqdm import tqdm
            bar = tqdm(total=end, initial=self.step, desc="train", unit="step", dynamic_ncols=True)
        self.model.train()
        last = latest_checkpoint(self.out_dir)
        health = HealthWindow(self.model_config.categories)
        timer = StepTimer()
        clip = self.cfg.optim.grad_clip_norm
        for batch in timer.wait_for_data(loader):
            lr = cyclic_lr(self.step, self.cfg.optim.lr_min, self.cfg.optim.lr_max, self.cfg.optim.half_cycle_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            batch = self._on_device(batch)
            with timer.phase("forward"), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp):
                out = self.model.forward_train(batch, self.shard)
                loss, terms = self.objective(out)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at step {self.step}: {terms}")
            with timer.phase("backward"):
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.parallel.average_gradients(self.model.parameters())
            with timer.phase("optimiser"):
                gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip if clip is not None else float("inf"))
                self.optimizer.step()
                self.model.update_queue(out, self.shard)
            with timer.phase("health"):
                health.add(out)
            self.step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}", lr=f"{lr:.1e}")
            # every rank must agree to stop, or the others would wait for it in the next collective
            out_of_time = self.parallel.any(time_budget_s is not None and time.monotonic() - started > time_budget_s)
            if self.step % self.cfg.log_every == 0 or self.step == end or out_of_time:
                # losses: the mean over ranks is the whole batch's; timing and health: rank 0's shard
                losses = self.parallel.mean({"loss": float(loss.detach()), **{f"loss/{k}": float(v) for k, v in terms.items()}})
                row = {"loss": losses.pop("loss"), "lr": lr, "grad_norm": float(gnorm),
                       "object_samples": float(self.step * self.cfg.batch_size), **losses}
                row.update(timer.summary(self.cfg.batch_size))
                row.update(health.summary(YAW_OBSERVABLE_CATEGORIES))
                if metrics is not None:
                    metrics.add(self.step, row)
            if self.step % self.cfg.checkpoint_every == 0 or self.step == end or out_of_time:
                if metrics is not None:
                    metrics.flush()
                last = self.save()
            if out_of_time:
                log.info("time budget of %.0f s used up at step %d", time_budget_s, self.step)
                break
        if bar is not None:
            bar.close()
        if metrics is not None:
            metrics.flush()
        if last is None:
            last = self.save()
        self.parallel.barrier()  # the last checkpoint is on disk before any rank returns its path
        return last

    def _initialise_queue(self) -> None:
        """Fill each category's confounder queue from the first training instances (model.md),
        taken in dataset order without augmentation effects on the order."""
        loader = DataLoader(torch.utils.data.ConcatDataset(self.datasets), batch_size=self.cfg.batch_size,
                            shuffle=False, num_workers=self.cfg.num_workers)

        def batches():
            for batch in loader:
                yield self._on_device(batch)

        present = None  # the categories the data can yield, when every dataset says (NocsPoseDataset does)
        if all(hasattr(d, "present_categories") for d in self.datasets):
            present = sorted({c for d in self.datasets for c in d.present_categories})
        used = self.model.initialize_queue(batches(), categories=present)
        self.parallel.broadcast_state(self.model)  # every rank computed the same; rank 0's is the record
        log.info("confounder queue initialised from %d batches", used)


#: Parts of the network compiled when TrainConfig.compile is set. Each compiles without graph breaks;
#: the network's forward_train around them (queue sampling, augmentation, dict outputs) stays eager.
#: Measured at 1 thread (lite, batch 24, cached data): 514 -> 425 ms a step, compilation ~40 s.
COMPILED_PARTS = ("point_encoder", "image_encoder", "keypoints", "aggregator", "nocs_head", "pose_head")


def compile_parts(model: torch.nn.Module) -> None:
    """torch.compile the COMPILED_PARTS in place (nn.Module.compile keeps state_dict keys unchanged)."""
    for name in COMPILED_PARTS:
        part = getattr(model, name, None)
        if part is not None:
            part.compile(dynamic=False)
    log.info("compiled with torch.compile: %s (the first steps include the compilation)", ", ".join(COMPILED_PARTS))


def with_steps(cfg: TrainConfig, steps: int) -> TrainConfig:
    return replace(cfg, steps=steps)


__all__ = ["COMPILED_PARTS", "Trainer", "compile_parts", "cyclic_lr", "latest_checkpoint", "resolve_device", "with_steps"]
