"""The tracker (core/tracker.py): identities from geometry not from segmenter ids, symmetric
equivalence, flip gating, birth and death, and steadier poses than the raw estimates."""
import math

import numpy as np
import pytest

from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.core.geometry import axis_angle_to_rotation, random_rotation
from cleanpose_ros.core.tracker import Tracker, TrackerConfig, closest_about_y, rotation_angle
from cleanpose_ros.core.types import PoseEstimate

Y = np.array([0.0, 1.0, 0.0])


def _pose(category, t, r=np.eye(3), instance_id=1, size=(0.08, 0.1, 0.08), confidence=None):
    return PoseEstimate(instance_id, category, 1.0, np.asarray(r, float), np.asarray(t, float), np.asarray(size, float),
                        confidence=confidence)


def test_crossing_objects_keep_their_tracks_while_segmenter_ids_shuffle():
    rng = np.random.default_rng(0)
    tracker = Tracker()
    owners = {}  # track id -> which physical object (0 or 1) it followed
    for k in range(40):
        # two mugs passing each other along x, 4 cm apart in y, 1 cm a frame each
        a, b = np.array([-0.2 + 0.01 * k, 0.0, 0.8]), np.array([0.2 - 0.01 * k, 0.04, 0.8])
        ids = rng.permutation([5, 9])  # the segmenter renumbers every frame
        tracker.update([_pose("mug", a, instance_id=int(ids[0])), _pose("mug", b, instance_id=int(ids[1]))])
        for track in tracker.tracks:
            which = int(abs(track.pose.translation[1] - 0.04) < 0.02)
            assert owners.setdefault(track.track_id, which) == which, f"track {track.track_id} switched at frame {k}"
    assert sorted(owners) == [1, 2] and len(tracker.confirmed()) == 2


def test_a_symmetric_object_turned_about_its_axis_does_not_move_its_track():
    r = random_rotation(np.random.default_rng(1))
    tracker = Tracker()
    for _ in range(3):
        tracker.update([_pose("bottle", [0, 0, 1.0], r)])
    spun = r @ axis_angle_to_rotation(Y, math.radians(170))
    tracker.update([_pose("bottle", [0, 0, 1.0], spun)])
    assert rotation_angle(tracker.tracks[0].pose.rotation, r) < 1e-9
    assert rotation_angle(closest_about_y(r, spun), r) < 1e-9
    # a mug is not symmetric here: the same turn is a flip, held back
    mug = Tracker()
    for _ in range(3):
        mug.update([_pose("mug", [0, 0, 1.0], r)])
    mug.update([_pose("mug", [0, 0, 1.0], spun)])
    assert rotation_angle(mug.tracks[0].pose.rotation, r) < 1e-9 and mug.tracks[0].pending


def test_a_flip_is_held_back_until_it_repeats():
    r = axis_angle_to_rotation(np.array([0.2, 1.0, 0.1]), 0.5)
    flipped = r @ axis_angle_to_rotation(Y, math.pi)
    tracker = Tracker(TrackerConfig(flip_confirm=2))
    for _ in range(4):
        tracker.update([_pose("laptop", [0.1, 0, 0.9], r, size=(0.3, 0.2, 0.3))])
    tracker.update([_pose("laptop", [0.1, 0, 0.9], flipped, size=(0.3, 0.2, 0.3))])
    assert rotation_angle(tracker.tracks[0].pose.rotation, r) < 1e-9  # one flipped frame: ignored
    tracker.update([_pose("laptop", [0.1, 0, 0.9], r, size=(0.3, 0.2, 0.3))])
    tracker.update([_pose("laptop", [0.1, 0, 0.9], flipped, size=(0.3, 0.2, 0.3))])
    assert rotation_angle(tracker.tracks[0].pose.rotation, r) < 1e-9  # not consecutive: still ignored
    tracker.update([_pose("laptop", [0.1, 0, 0.9], flipped, size=(0.3, 0.2, 0.3))])
    assert rotation_angle(tracker.tracks[0].pose.rotation, flipped) < 1e-9  # it repeated: the track follows


def test_birth_after_consistent_frames_and_death_after_missed_ones():
    cfg = TrackerConfig(birth_hits=3, max_missed=5)
    tracker = Tracker(cfg)
    mug = _pose("mug", [0, 0, 0.8])
    tracker.update([mug, _pose("can", [0.3, 0, 0.8])])  # the can appears once: a false detection
    assert tracker.confirmed() == []
    tracker.update([mug])
    assert [t.pose.category for t in tracker.tracks] == ["mug"]  # the one-off can died at its first miss
    tracker.update([mug])
    assert [p.category for p in tracker.confirmed()] == ["mug"] and tracker.confirmed()[0].instance_id == 1
    for missed in range(1, 6):
        tracker.update([])
        assert len(tracker.tracks) == 1 and tracker.tracks[0].missed == missed and tracker.confirmed() == []
    tracker.update([])
    assert tracker.tracks == []  # the 6th missed frame ends it
    tracker.update([mug])
    assert tracker.tracks[0].track_id == 3  # a new object gets a new id, never a dead one's
    with pytest.raises(ConfigError):
        TrackerConfig(min_gain=0.9, max_gain=0.5)


def test_filtered_poses_jitter_three_times_less_than_raw_ones_without_losing_accuracy():
    rng = np.random.default_rng(4)
    r_true = axis_angle_to_rotation(np.array([0.3, 1.0, 0.0]), 0.8)
    t_true = np.array([0.05, -0.02, 0.9])
    tracker = Tracker()
    raw, filtered = [], []
    for _ in range(120):
        noise = axis_angle_to_rotation(rng.normal(size=3), math.radians(2.0) * abs(rng.normal()))
        est = _pose("camera", t_true + rng.normal(scale=0.003, size=3), r_true @ noise, confidence=0.5)
        tracker.update([est])
        raw.append(est)
        filtered.append(tracker.tracks[0].pose)
    raw, filtered = raw[20:], filtered[20:]  # after the filter settled

    def jitter(poses):
        rot = [math.degrees(rotation_angle(a.rotation, b.rotation)) for a, b in zip(poses, poses[1:])]
        tra = [1e3 * np.linalg.norm(a.translation - b.translation) for a, b in zip(poses, poses[1:])]
        return np.mean(rot), np.mean(tra)

    (rot_raw, tra_raw), (rot_f, tra_f) = jitter(raw), jitter(filtered)
    assert rot_raw > 3 * rot_f and tra_raw > 3 * tra_f, (rot_raw, rot_f, tra_raw, tra_f)
    err = lambda poses: np.mean([math.degrees(rotation_angle(p.rotation, r_true)) for p in poses])  # noqa: E731
    assert err(filtered) <= err(raw)
    assert np.mean([np.linalg.norm(p.translation - t_true) for p in filtered]) <= np.mean(
        [np.linalg.norm(p.translation - t_true) for p in raw])


def test_slerp_matches_scipy_including_half_turns():
    from scipy.spatial.transform import Rotation, Slerp

    from cleanpose_ros.core.tracker import slerp

    rng = np.random.default_rng(6)
    for k in range(20):
        a = random_rotation(rng)
        b = a @ axis_angle_to_rotation(rng.normal(size=3), math.pi if k < 3 else rng.uniform(0, 3.1))
        t = rng.uniform()
        ours = slerp(a, b, t)
        if k >= 3:  # at exactly pi the direction is ambiguous; elsewhere scipy's answer is unique
            ref = Slerp([0, 1], Rotation.from_matrix([a, b]))([t]).as_matrix()[0]
            np.testing.assert_allclose(ours, ref, atol=1e-9)
        assert rotation_angle(a, ours) == pytest.approx(t * rotation_angle(a, b), abs=1e-7)


def test_with_the_camera_pose_a_static_object_stays_put_while_the_camera_moves():
    """Given world_from_camera, the tracker filters in the world: a static object seen by a camera turning
    1 deg and moving 5 mm a frame comes out without the lag a camera-frame filter has."""
    r_obj = axis_angle_to_rotation(np.array([0.0, 1.0, 0.2]), 0.4)
    t_obj = np.array([0.0, 0.0, 0.0])
    world, camera_only = Tracker(), Tracker()
    lag_world, lag_camera = [], []
    for k in range(30):
        r_wc = axis_angle_to_rotation(Y, math.radians(1.0 * k))  # world_from_camera
        t_wc = np.array([0.005 * k, 0.0, -0.8])
        r_cam, t_cam = r_wc.T @ r_obj, r_wc.T @ (t_obj - t_wc)  # the object in this frame's camera frame
        est = _pose("camera", t_cam, r_cam, confidence=0.5)
        world.update([est], world_from_camera=(r_wc, t_wc))
        camera_only.update([est])
        if k >= 5:
            out_w, out_c = world.confirmed()[0], camera_only.confirmed()[0]
            lag_world.append(1e3 * np.linalg.norm(out_w.translation - t_cam))
            lag_camera.append(1e3 * np.linalg.norm(out_c.translation - t_cam))
            assert rotation_angle(out_w.rotation, r_cam) < 1e-9
    assert max(lag_world) < 1e-6 and min(lag_camera) > 3.0  # mm
