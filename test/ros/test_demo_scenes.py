"""The demo camera's scenes: `objects_per_frame` gives every frame exactly N labelled objects (the load
tests' '5 objects per camera'), consistently across mask, truth and boxes, reproducibly per seed."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from cleanpose_ros.core.errors import ConfigError  # noqa: E402
from cleanpose_ros.ros.demo_camera import render_scenes  # noqa: E402

pytestmark = pytest.mark.ros


def test_objects_per_frame_gives_exactly_that_many_labelled_objects() -> None:
    scenes = render_scenes(4, seed=11, objects_per_frame=5)
    assert len(scenes) == 4
    for scene in scenes:
        ids = sorted(int(t.instance_id) for t in scene.truth)
        assert len(ids) == 5 and len(scene.boxes) == 5
        in_mask = sorted(int(v) for v in np.unique(scene.instance_mask) if v != 0)
        assert in_mask == ids  # objects beyond the first five are not in the mask either
        for t in scene.truth:
            assert np.count_nonzero(scene.depth_mm[scene.instance_mask == t.instance_id]) >= 64
    again = render_scenes(4, seed=11, objects_per_frame=5)
    for a, b in zip(scenes, again):
        assert np.array_equal(a.instance_mask, b.instance_mask) and np.array_equal(a.rgb, b.rgb)


def test_default_scenes_keep_every_labelled_object_and_bad_counts_are_refused() -> None:
    counts = [len(s.truth) for s in render_scenes(6, seed=2)]
    assert min(counts) >= 1 and max(counts) <= 6 and len(set(counts)) > 1  # random layouts, 3-6 placed
    with pytest.raises(ConfigError):
        render_scenes(1, seed=0, objects_per_frame=7)
    with pytest.raises(ConfigError):
        render_scenes(2, seed=0, sequence=True, objects_per_frame=3)
