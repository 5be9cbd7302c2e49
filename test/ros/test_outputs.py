"""PoseEstimate -> Detection3DArray / TF / markers / PointCloud2, checked number by number."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from visualization_msgs.msg import Marker  # noqa: E402

from cleanpose_ros.core.geometry import (axis_angle_to_rotation, box_corners,  # noqa: E402
                                         quaternion_to_rotation)
from cleanpose_ros.core.types import PoseEstimate  # noqa: E402
from cleanpose_ros.ros import outputs  # noqa: E402
from cleanpose_ros.interop.converters import stamp_to_ns  # noqa: E402

pytestmark = pytest.mark.ros
STAMP = 1_700_000_123_000_000_042
FRAME = "camera_color_optical_frame"


def _pose(instance_id: int, category: str, angle: float, t=(0.1, -0.05, 0.8), size=(0.12, 0.09, 0.08)) -> PoseEstimate:
    return PoseEstimate(instance_id=instance_id, category=category, score=0.75,
                        rotation=axis_angle_to_rotation(np.array([1.0, 2.0, 0.5]), angle),
                        translation=np.array(t), size=np.array(size))


def test_detection_array_contents():
    poses = [_pose(3, "mug", 2.5), _pose(8, "laptop", -0.7, t=(0.0, 0.1, 1.2), size=(0.3, 0.2, 0.25))]
    msg = outputs.detection_array(poses, STAMP, FRAME)
    assert stamp_to_ns(msg.header.stamp) == STAMP and msg.header.frame_id == FRAME
    assert [d.id for d in msg.detections] == ["3", "8"]
    for det, pose in zip(msg.detections, poses):
        assert stamp_to_ns(det.header.stamp) == STAMP and det.header.frame_id == FRAME
        hyp = det.results[0]
        assert hyp.hypothesis.class_id == pose.category and hyp.hypothesis.score == pytest.approx(0.75)
        b = det.bbox
        np.testing.assert_allclose([b.size.x, b.size.y, b.size.z], pose.size)
        np.testing.assert_allclose([b.center.position.x, b.center.position.y, b.center.position.z], pose.translation)
        q = [b.center.orientation.x, b.center.orientation.y, b.center.orientation.z, b.center.orientation.w]
        np.testing.assert_allclose(quaternion_to_rotation(q), pose.rotation, atol=1e-12)
        assert hyp.pose.pose == b.center


def test_tf_names_and_transforms():
    poses = [_pose(3, "mug", 2.5), _pose(11, "can", 3.1)]
    msg = outputs.tf_message(poses, STAMP, FRAME, "cleanpose_")
    assert [t.child_frame_id for t in msg.transforms] == ["cleanpose_mug_3", "cleanpose_can_11"]
    for t, pose in zip(msg.transforms, poses):
        assert t.header.frame_id == FRAME and stamp_to_ns(t.header.stamp) == STAMP
        r = t.transform.rotation
        np.testing.assert_allclose(quaternion_to_rotation([r.x, r.y, r.z, r.w]), pose.rotation, atol=1e-12)
        assert r.w >= 0.0
        assert [t.transform.translation.x, t.transform.translation.y, t.transform.translation.z] == pytest.approx(pose.translation)


def test_markers_box_axes_label_and_delete_of_vanished_objects():
    tracker = outputs.MarkerTracker(outputs.MarkerStyle(line_width_m=0.005))
    first = tracker.build([_pose(3, "mug", 2.5), _pose(8, "bowl", 0.3)], STAMP, FRAME)
    # the node's first array clears what an earlier run left in RViz, before anything is drawn
    assert (first.markers[0].action, first.markers[0].ns) == (Marker.DELETEALL, "")
    assert sum(m.action == Marker.DELETEALL for m in first.markers) == 1
    first.markers = first.markers[1:]
    assert sorted((m.ns, m.id, m.action) for m in first.markers) == sorted(
        (ns, i, Marker.ADD) for ns in ("box", "axes", "label") for i in (3, 8))
    box = next(m for m in first.markers if m.ns == "box" and m.id == 3)
    assert box.type == Marker.LINE_LIST and len(box.points) == 24 and box.scale.x == 0.005
    assert (box.color.r, box.color.g, box.color.b) == pytest.approx(outputs.CATEGORY_COLORS["mug"][:3])
    pts = np.array([[p.x, p.y, p.z] for p in box.points])
    # Every endpoint is a corner of the metric box, in the object's frame (marker pose = object pose).
    corners = box_corners(np.array([0.12, 0.09, 0.08]))
    assert np.min(np.linalg.norm(pts[:, None] - corners[None], axis=2), axis=1).max() < 1e-12
    edge_lengths = sorted(np.round(np.linalg.norm(pts[0::2] - pts[1::2], axis=1), 6))
    assert edge_lengths == [0.08] * 4 + [0.09] * 4 + [0.12] * 4
    assert [box.pose.position.x, box.pose.position.y, box.pose.position.z] == pytest.approx([0.1, -0.05, 0.8])
    axes = next(m for m in first.markers if m.ns == "axes" and m.id == 3)
    tips = np.array([[p.x, p.y, p.z] for p in axes.points[1::2]])
    np.testing.assert_allclose(tips, np.eye(3) * 0.6 * 0.12)
    label = next(m for m in first.markers if m.ns == "label" and m.id == 8)
    assert label.type == Marker.TEXT_VIEW_FACING and label.text == "bowl 0.75"

    second = tracker.build([_pose(8, "bowl", 0.4)], STAMP + 1, FRAME)
    deletes = sorted((m.ns, m.id) for m in second.markers if m.action == Marker.DELETE)
    assert deletes == [("axes", 3), ("box", 3), ("label", 3)]
    assert sum(m.action == Marker.ADD for m in second.markers) == 3
    third = tracker.build([], STAMP + 2, FRAME)
    assert sorted((m.ns, m.id, m.action) for m in third.markers) == [
        ("axes", 8, Marker.DELETE), ("box", 8, Marker.DELETE), ("label", 8, Marker.DELETE)]
    assert tracker.build([], STAMP + 3, FRAME).markers == []


def test_point_cloud_layout():
    pts = np.arange(12, dtype=np.float32).reshape(4, 3)
    msg = outputs.object_points_cloud([(5, pts[:3]), (9, pts[3:])], STAMP, FRAME)
    assert (msg.width, msg.height, msg.point_step, msg.row_step) == (4, 1, 16, 64)
    assert [f.name for f in msg.fields] == ["x", "y", "z", "instance"]
    data = np.frombuffer(bytes(msg.data), "<f4").reshape(4, 4)
    np.testing.assert_array_equal(data[:, :3], pts)
    np.testing.assert_array_equal(data[:, 3], [5, 5, 5, 9])


def test_detection_carries_the_pose_covariance_when_the_pose_has_one():
    import dataclasses

    cov = np.diag([1e-4, 2e-4, 3e-4, 0.01, 1e6, 0.02])
    cov[3, 5] = cov[5, 3] = 0.001
    poses = [dataclasses.replace(_pose(3, "can", 0.4), covariance=cov), _pose(4, "mug", 1.0)]
    msg = outputs.detection_array(poses, STAMP, FRAME)
    np.testing.assert_array_equal(np.reshape(msg.detections[0].results[0].pose.covariance, (6, 6)), cov)
    assert not np.any(msg.detections[1].results[0].pose.covariance)  # no covariance: all zero (not estimated)


def test_deleteall_repeats_until_an_array_reaches_a_subscriber():
    tracker = outputs.MarkerTracker()
    actions = [[m.action for m in tracker.build([], STAMP + k, FRAME, delivered=d).markers]
               for k, d in enumerate([False, False, True, True])]
    assert actions == [[Marker.DELETEALL], [Marker.DELETEALL], [Marker.DELETEALL], []]


def test_reset_starts_over_with_a_deleteall():
    tracker = outputs.MarkerTracker()
    tracker.build([], STAMP, FRAME)
    assert tracker.build([], STAMP + 1, FRAME).markers == []
    tracker.reset()
    assert [m.action for m in tracker.build([], STAMP + 2, FRAME).markers] == [Marker.DELETEALL]
