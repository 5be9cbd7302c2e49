"""Synthetic dataset generation: scenes -> NOCS-format files, in parallel worker processes.

Randomness is derived per scene and per view from SeedSequence([seed, ...]) so a frame's bytes
depend only on (seed, scene, view) and the options, never on the worker count or on the order.
"""
from __future__ import annotations

import logging
import math
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.types import REAL275_INTRINSICS, CameraIntrinsics
from .depth_noise import DepthNoiseConfig
from .nocs_layout import NocsLayout
from .nocs_pickle import read_pickle
from .nocs_writer import WrittenFrame, frame_is_complete, write_frame, write_lists, write_obj_models
from .scene import OrbitCamera, ShapePool, SyntheticFrame, make_layout, random_light, render_frame

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneratorConfig:
    out: Path
    frames: int = 100
    seed: int = 0
    split: str = "train"
    source: str = "real"  # tree layout: "real" (REAL275-like), "camera" (CAMERA-like) or "housecat" (HouseCat6D)
    views_per_scene: int = 5
    # > 0: each scene is a sequence of views_per_scene frames at this rate (Hz) from a hand-held camera
    # circling the table (scene.OrbitCamera) under one light; 0: independent random views
    sequence_rate_hz: float = 0.0
    models_per_category: int = 40
    num_objects: tuple[int, int] = (3, 6)
    num_distractors: tuple[int, int] = (2, 6)
    depth_noise: bool = True
    rgb_noise_std: float = 0.0
    write_segmentation: bool = False
    intrinsics: CameraIntrinsics = field(default_factory=lambda: REAL275_INTRINSICS)

    @property
    def num_scenes(self) -> int:
        return math.ceil(self.frames / self.views_per_scene)

    @property
    def layout(self) -> NocsLayout:
        return NocsLayout(Path(self.out), self.source, self.split)

    def views_of(self, scene_index: int) -> int:
        return min(self.views_per_scene, self.frames - scene_index * self.views_per_scene)


class SceneGenerator:
    """Renders scenes of one configuration; owns a GL renderer (create one per process)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        from .render import Renderer  # GL context only where frames are rendered

        self.cfg = cfg
        self.pool = ShapePool(cfg.seed, cfg.models_per_category)
        self.renderer = Renderer(cfg.intrinsics)
        self.noise = DepthNoiseConfig() if cfg.depth_noise else None

    def render_scene(self, scene_index: int) -> list[SyntheticFrame]:
        cfg = self.cfg
        layout_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1, scene_index]))
        scene = make_layout(layout_rng, self.pool, cfg.num_objects, cfg.num_distractors)
        orbit = light = None
        if cfg.sequence_rate_hz > 0:
            sequence_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 3, scene_index]))
            orbit, light = OrbitCamera.random(sequence_rng), random_light(sequence_rng)
        frames = []
        for view in range(cfg.views_of(scene_index)):
            view_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2, scene_index, view]))
            camera = orbit.pose(view / cfg.sequence_rate_hz) if orbit is not None else None
            frames.append(render_frame(self.renderer, scene, view_rng, self.noise, cfg.rgb_noise_std,
                                       camera=camera, light=light))
        return frames

    def model_points(self, name: str) -> np.ndarray:
        category, _, k, _ = name.rsplit("_", 3)
        return self.pool.model_points(self.pool.get(category, int(k)))

    def generate_scene(self, scene_index: int, resume: bool = True) -> list[WrittenFrame]:
        if self.cfg.source == "housecat":
            return self._generate_housecat_scene(scene_index, resume)
        layout = self.cfg.layout
        rels = [layout.frame_rel(scene_index, v) for v in range(self.cfg.views_of(scene_index))]
        if resume and all(frame_is_complete(layout, r) for r in rels):
            return [WrittenFrame(r, len(read_pickle(Path(f"{layout.prefix(r)}_label.pkl"))["class_ids"]))
                    for r in rels]
        written = []
        for rel, frame in zip(rels, self.render_scene(scene_index)):
            points = {a.model_name: self.model_points(a.model_name) for a in frame.annotations}
            written.append(write_frame(layout, rel, frame, points, self.cfg.write_segmentation))
        return written


    def _generate_housecat_scene(self, scene_index: int, resume: bool) -> list[WrittenFrame]:
        from .housecat_layout import HouseCatLayout
        from .housecat_writer import housecat_scene_name, write_housecat_frame

        layout = HouseCatLayout(Path(self.cfg.out))
        scene = housecat_scene_name(self.cfg.split, scene_index)
        views = range(self.cfg.views_of(scene_index))
        rels = [f"{scene}/{v:06d}" for v in views]
        if resume and all(layout.label_path(scene, v).is_file() for v in views):
            return [WrittenFrame(r, len(read_pickle(layout.label_path(scene, v))["class_ids"])) for r, v in zip(rels, views)]
        return [WrittenFrame(rel, write_housecat_frame(layout, scene, v, frame, self.cfg.intrinsics))
                for rel, v, frame in zip(rels, views, self.render_scene(scene_index))]


_WORKER: SceneGenerator | None = None
_WORKER_ERROR: Exception | None = None


def _init_worker(cfg: GeneratorConfig) -> None:
    # A failing Pool initializer makes multiprocessing respawn workers forever; keep the error and
    # raise it from the first task instead, which reaches the parent and ends the run.
    global _WORKER, _WORKER_ERROR
    _WORKER, _WORKER_ERROR = None, None
    try:
        _WORKER = SceneGenerator(cfg)
    except Exception as e:  # noqa: BLE001 - re-raised in _run_scene
        _WORKER_ERROR = e


def _run_scene(args: tuple[int, bool]) -> list[WrittenFrame]:
    if _WORKER is None:
        raise _WORKER_ERROR or RuntimeError("generator worker not initialised")
    return _WORKER.generate_scene(*args)


def generate_dataset(cfg: GeneratorConfig, workers: int = 1, resume: bool = True, progress: bool = True
                     ) -> list[WrittenFrame]:
    """Generate (or complete) a split; writes lists and obj_models at the end. Returns all frames."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    jobs = [(i, resume) for i in range(cfg.num_scenes)]
    written: list[WrittenFrame] = []
    bar = tqdm(total=cfg.frames, unit="frame", disable=not progress, desc=f"{cfg.source}/{cfg.split}")
    if workers <= 1:
        _init_worker(cfg)
        for job in jobs:
            res = _run_scene(job)
            written.extend(res)
            bar.update(len(res))
    else:
        # spawn, not fork: a forked child of a process that holds a GL context (llvmpipe threads) can deadlock
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg,)) as pool:
            for res in pool.imap_unordered(_run_scene, jobs, chunksize=2):
                written.extend(res)
                bar.update(len(res))
    bar.close()
    if cfg.source == "housecat":  # no list files or point-cloud pickles in that layout
        return written
    layout = cfg.layout
    write_lists(layout, written)
    shape_pool = ShapePool(cfg.seed, cfg.models_per_category)
    models = {s.name: (shape_pool.model_points(s), s.size_m) for s in shape_pool.all_models()}
    write_obj_models(layout, models)
    dt = time.perf_counter() - t0
    logger.info("%d frames in %.1f s (%.1f frames/s) -> %s", len(written), dt, len(written) / max(dt, 1e-9), cfg.out)
    return written
