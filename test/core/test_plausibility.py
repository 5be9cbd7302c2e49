"""Output plausibility (core/plausibility.py): each rule refuses the absurd case it is for and keeps
a good pose; the pipeline refuses with the rule's reason and publishes the rest."""
import dataclasses
import math

import numpy as np
import pytest

from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.core.geometry import axis_angle_to_rotation
from cleanpose_ros.core.plausibility import (REJECT_IMPLAUSIBLE_CENTRE, REJECT_IMPLAUSIBLE_SIZE, REJECT_UNSUPPORTED_BOX,
                                             PlausibilityConfig, box_support, implausibility)
from cleanpose_ros.core.types import PoseEstimate

CFG = PlausibilityConfig()


def _mug_and_points(rng, n=256):
    """A mug-sized box (12 x 10 x 9 cm) 80 cm away, turned, and points on its camera-facing half."""
    r = axis_angle_to_rotation(np.array([0.3, 1.0, 0.2]), 0.7)
    t = np.array([0.05, -0.02, 0.8])
    size = np.array([0.12, 0.10, 0.09])
    local = rng.uniform(-0.5, 0.5, (n, 3)) * size
    pts = local @ r.T + t
    pts = pts[pts[:, 2] <= t[2] + 0.01]  # the visible front
    return PoseEstimate(1, "mug", 1.0, r, t, size), pts


def test_a_good_pose_passes_every_rule():
    pose, pts = _mug_and_points(np.random.default_rng(0))
    assert implausibility(pose, pts, CFG) is None
    assert box_support(pose, pts, 1.0, 0.0) == pytest.approx(1.0)


def test_kilometres_away_or_behind_the_camera_is_an_implausible_centre():
    pose, pts = _mug_and_points(np.random.default_rng(1))
    far = dataclasses.replace(pose, translation=np.array([300.0, -50.0, 1200.0]))  # the bad-intrinsics case
    assert implausibility(far, pts, CFG) == REJECT_IMPLAUSIBLE_CENTRE
    behind = dataclasses.replace(pose, translation=pose.translation * [1, 1, -1])
    assert implausibility(behind, pts, CFG) == REJECT_IMPLAUSIBLE_CENTRE
    # 20 cm beside its own points, with a 17 cm diagonal: no object of this instance
    beside = dataclasses.replace(pose, translation=pose.translation + [0.24, 0.0, 0.0])
    assert implausibility(beside, pts, CFG) == REJECT_IMPLAUSIBLE_CENTRE


def test_box_sizes_outside_the_category_range_are_implausible():
    pose, pts = _mug_and_points(np.random.default_rng(2))
    huge = dataclasses.replace(pose, size=np.array([150.0, 120.0, 90.0]))  # hundreds of metres
    tiny = dataclasses.replace(pose, size=np.array([0.01, 0.01, 0.01]))
    assert implausibility(huge, pts, CFG) == REJECT_IMPLAUSIBLE_SIZE
    assert implausibility(tiny, pts, CFG) == REJECT_IMPLAUSIBLE_SIZE
    # a 60 cm diagonal is a fine laptop but no mug
    laptop_sized = np.array([0.35, 0.25, 0.39])
    assert implausibility(dataclasses.replace(pose, size=laptop_sized), pts, CFG) == REJECT_IMPLAUSIBLE_SIZE
    assert CFG.diagonal_range("laptop")[0] < np.linalg.norm(laptop_sized) < CFG.diagonal_range("laptop")[1]
    assert CFG.diagonal_range("spoon") == CFG.other_diagonal_range_m


def test_a_box_that_explains_few_of_its_points_is_unsupported():
    pose, pts = _mug_and_points(np.random.default_rng(3))
    # the same box turned 90 degrees about its x axis and slid 9 cm: near the points, holding few of them
    moved = dataclasses.replace(pose, rotation=pose.rotation @ axis_angle_to_rotation(np.array([1.0, 0, 0]), math.pi / 2),
                                translation=pose.translation + [0.0, 0.09, 0.0])
    assert box_support(moved, pts, CFG.box_inflation, CFG.box_margin_m) < CFG.min_support
    assert implausibility(moved, pts, CFG) == REJECT_UNSUPPORTED_BOX
    assert implausibility(moved, pts, PlausibilityConfig(enabled=False)) is None


def test_limits_are_validated():
    with pytest.raises(ConfigError):
        PlausibilityConfig(min_support=1.5)
    with pytest.raises(ConfigError, match="0 < low < high"):
        PlausibilityConfig(diagonal_ranges_m={"mug": (0.3, 0.1)})


def test_the_pipeline_refuses_implausible_outputs_of_a_real_engine_and_keeps_the_rest():
    """A real (untrained) engine whose outputs are made absurd for chosen objects: a centre a kilometre
    away, a box of hundreds of metres. Those two are refused with their reasons; the others pass."""
    torch = pytest.importorskip("torch")
    from cleanpose_ros.core.pipeline import Pipeline
    from cleanpose_ros.engines.config import EngineConfig
    from cleanpose_ros.engines.torch_engine import TorchEngine
    from test.engines.models import CountingEngine, lite_test_model
    from test.core.test_pipeline import synthetic_frame

    class Absurd(CountingEngine):
        def run(self, inputs):
            out = {k: v.copy() for k, v in super().run(inputs).items()}
            out["translation"][1] += np.float32([300.0, 0.0, 1000.0])
            out["size"][3] *= np.float32(1000.0)
            return out

    torch.set_num_threads(1)
    frame, instances = synthetic_frame(5, seed=4)
    engine = Absurd(TorchEngine(lite_test_model(), EngineConfig(num_threads=1)))
    baseline = Pipeline(engine.inner)(frame, instances)
    result = Pipeline(engine)(frame, instances)
    ids = [i.instance_id for i in instances]
    assert {ids[1], ids[3]} <= {p.instance_id for p in baseline.poses}  # refused because of the corruption only
    assert (ids[1], REJECT_IMPLAUSIBLE_CENTRE) in result.rejected and (ids[3], REJECT_IMPLAUSIBLE_SIZE) in result.rejected
    kept = {p.instance_id for p in result.poses}
    assert kept == {p.instance_id for p in baseline.poses} - {ids[1], ids[3]}
