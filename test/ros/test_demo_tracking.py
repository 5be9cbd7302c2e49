"""tools/demo_tracking.py: chaining the truth across frames, matching, jitter and accuracy, raw vs tracked."""
import numpy as np

from cleanpose_ros.core.geometry import rotation_about_y
from cleanpose_ros.core.types import PoseEstimate
from cleanpose_ros.tools.demo_tracking import TrackedFrame, summarise


def _pose(instance_id, category, rotation, translation):
    return PoseEstimate(instance_id=instance_id, category=category, score=1.0, rotation=np.asarray(rotation, float),
                        translation=np.asarray(translation, float), size=np.array([0.1, 0.1, 0.1]))


def test_raw_jitter_and_renumbered_ids_against_a_steady_track():
    rng = np.random.default_rng(0)
    frames = []
    for k in range(10):
        # the truth drifts 1 cm a frame (the camera moves) and is renumbered every frame
        mug_t = np.array([0.1 + 0.01 * k, 0.0, 0.7])
        truth = (_pose(100 + k, "mug", rotation_about_y(0.1 * k), mug_t),
                 _pose(200 + k, "bowl", np.eye(3), [-0.2, 0.0, 0.8 + 0.01 * k]))
        # raw: the same ids, errors that change every frame (2 deg about x, +-2 mm)
        shake = rotation_about_y(0.1 * k) @ np.array([[1, 0, 0], [0, np.cos(0.035 * (-1) ** k), -np.sin(0.035 * (-1) ** k)],
                                                       [0, np.sin(0.035 * (-1) ** k), np.cos(0.035 * (-1) ** k)]])
        raw = (_pose(100 + k, "mug", shake, mug_t + rng.choice([-0.002, 0.002], 3)),
               _pose(200 + k, "bowl", np.eye(3), truth[1].translation + [0.0, 0.0, 0.002 * (-1) ** k]))
        # tracked: constant error (1 mm in x), stable track ids
        tracked = (_pose(1, "mug", rotation_about_y(0.1 * k), mug_t + [0.001, 0, 0]),
                   _pose(2, "bowl", np.eye(3), truth[1].translation + [0.001, 0, 0]))
        frames.append(TrackedFrame(k, truth, raw, tracked))
    s = summarise(frames)
    assert (s.frames, s.raw_ids, s.track_names, s.objects) == (10, 20, ("cleanpose_bowl_2", "cleanpose_mug_1"), 2)
    assert s.tracked.translation_jitter_mm < 1e-9 and s.tracked.rotation_jitter_deg < 1e-6
    assert 3.9 <= s.raw.rotation_jitter_deg <= 4.1  # +2 deg then -2 deg about x: 4 deg a frame
    assert s.raw.translation_jitter_mm >= 4.0 - 1e-9  # the bowl's 2 mm flip alone is 4 mm a frame
    assert s.raw.poses == s.tracked.poses == 20 and s.tracked.within_10deg_5cm == 1.0
    assert abs(s.tracked.median_translation_error_cm - 0.1) < 1e-9
