"""Property-based fuzzing of the whole pipeline (preprocessing -> a real torch engine -> postprocessing
-> plausibility): random frames whose depth holds NaN, inf, negative, zero and absurd values, random
masks (empty, one pixel, the whole image), random intrinsics, categories and scores. Properties: only an
InputError with a known reason escapes (a frame-level refusal); otherwise every instance is either a
pose or a refusal with a known reason, and every pose is finite and passed the plausibility check for
the points it came from (the rules themselves are tested in test_plausibility.py; here: finite, in front
of the camera, a box size of the category). The engine is untrained, so its poses are exactly the garbage the check is
for: whatever it lets through must still be physically possible.

Bounded in CI by the example count; `bench/fuzz_soak.py` runs longer.
"""
from __future__ import annotations

import os
import numpy as np
import pytest

pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cleanpose_ros.core import pipeline as pipeline_module  # noqa: E402
from cleanpose_ros.core import postprocess  # noqa: E402
from cleanpose_ros.core.errors import InputError  # noqa: E402
from cleanpose_ros.core.pipeline import Pipeline  # noqa: E402
from cleanpose_ros.core.plausibility import PLAUSIBILITY_REASONS  # noqa: E402
from cleanpose_ros.core.types import CATEGORIES, CameraIntrinsics, Frame, Instance  # noqa: E402

KNOWN_REASONS = set(InputError.REASONS) | set(PLAUSIBILITY_REASONS) | {
    pipeline_module.REJECT_UNKNOWN_CATEGORY, pipeline_module.REJECT_CATEGORY_DISABLED, pipeline_module.REJECT_LOW_SCORE,
    pipeline_module.REJECT_MAX_OBJECTS, pipeline_module.REJECT_DUPLICATE_ID, postprocess.REJECT_NON_FINITE,
    postprocess.REJECT_DEGENERATE_ROTATION, postprocess.REJECT_INVALID_SIZE, postprocess.REJECT_DEGENERATE_FIT}
H, W = 48, 64
DEPTH_VALUES = st.sampled_from([0.0, np.nan, np.inf, -np.inf, -1.0, 1e-6, 0.3, 0.7, 1.2, 2.9, 50.0, 1e30])
# CLEANPOSE_FUZZ_SCALE multiplies the example count (bench/fuzz_soak.py); 1 in CI
FUZZ = settings(max_examples=80 * int(os.environ.get("CLEANPOSE_FUZZ_SCALE", "1")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                derandomize=True)


@pytest.fixture(scope="module")
def pipe() -> Pipeline:
    from cleanpose_ros.engines.config import EngineConfig
    from cleanpose_ros.engines.torch_engine import TorchEngine
    from test.engines.models import lite_test_model

    torch.set_num_threads(1)
    return Pipeline(TorchEngine(lite_test_model(), EngineConfig(num_threads=1)))


@st.composite
def scenes(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    base = draw(st.floats(0.2, 3.0))
    depth = (base + rng.normal(scale=draw(st.sampled_from([0.0, 0.01, 0.5])), size=(H, W))).astype(np.float32)
    for _ in range(draw(st.integers(0, 6))):  # patches of special values
        y, x = draw(st.integers(0, H - 1)), draw(st.integers(0, W - 1))
        depth[y:y + draw(st.integers(1, H)), x:x + draw(st.integers(1, W))] = draw(DEPTH_VALUES)
    fx = draw(st.floats(10.0, 2000.0))
    intr = CameraIntrinsics(fx, fx * draw(st.floats(0.5, 2.0)), draw(st.floats(0.0, W)), draw(st.floats(0.0, H)), W, H)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    instances = []
    for k in range(draw(st.integers(0, 5))):
        mask = np.zeros((H, W), bool)
        kind = draw(st.sampled_from(["box", "box", "box", "pixel", "empty", "all"]))
        if kind == "box":
            y, x = draw(st.integers(0, H - 2)), draw(st.integers(0, W - 2))
            mask[y:y + draw(st.integers(1, H)), x:x + draw(st.integers(1, W))] = True
        elif kind == "pixel":
            mask[draw(st.integers(0, H - 1)), draw(st.integers(0, W - 1))] = True
        elif kind == "all":
            mask[:] = True
        instances.append(Instance(instance_id=draw(st.integers(1, 4)), mask=mask,
                                  category=draw(st.sampled_from(CATEGORIES * 3 + ("banana",))),
                                  score=draw(st.one_of(st.floats(0.0, 1.0), st.floats(allow_nan=True, allow_infinity=True)))))
    return Frame(rgb, depth, intr), instances


@FUZZ
@given(scenes())
def test_pipeline_never_raises_and_never_publishes_an_impossible_pose(pipe, scene):
    frame, instances = scene
    try:
        result = pipe(frame, instances)
    except InputError as e:  # frame-level refusal: allowed, with a known reason
        assert e.reason in InputError.REASONS
        event(f"frame refused: {e.reason}")
        return
    event(f"poses: {min(len(result.poses), 2)}{'+' if len(result.poses) >= 2 else ''}")
    assert {r for _, r in result.rejected} <= KNOWN_REASONS
    accounted = [p.instance_id for p in result.poses] + [i for i, _ in result.rejected]
    assert sorted(accounted) == sorted(i.instance_id for i in instances)
    for pose in result.poses:
        assert np.isfinite(pose.srt).all() and np.isfinite(pose.size).all() and pose.translation[2] > 0
        assert np.linalg.det(pose.rotation) == pytest.approx(1.0, abs=1e-6)
        lo, hi = pipe.config.plausibility.diagonal_range(pose.category)
        assert lo <= np.linalg.norm(pose.size) <= hi
