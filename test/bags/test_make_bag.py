"""cleanpose-make-bag: topics, types, stamps, pixel values and ground truth, number by number."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from cleanpose_ros.bags.errors import BagError
from cleanpose_ros.bags.ground_truth import BagGroundTruth
from cleanpose_ros.bags.make_bag import DEFAULT_START_NS, depth_message_array, instance_id_image
from cleanpose_ros.bags.topics import BagTopics
from cleanpose_ros.bags.typestore import build_typestore
from cleanpose_ros.core.geometry import quaternion_to_rotation
from cleanpose_ros.core.types import REAL275_INTRINSICS, Frame, Instance
from cleanpose_ros.data.nocs_reader import NocsReader
from cleanpose_ros.interop.converters import camera_info_to_intrinsics, image_to_depth_m, image_to_mask, image_to_rgb
from cleanpose_ros.tools import make_bag as make_bag_tool

from .conftest import FRAMES

T = BagTopics()


def _metadata(path: Path) -> dict:
    return yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


def _read_all(path: Path) -> dict[str, list[tuple[int, object]]]:
    store = build_typestore()
    out: dict[str, list[tuple[int, object]]] = {}
    with Reader(path) as reader:
        for conn, log_ns, data in reader.messages():
            out.setdefault(conn.topic, []).append((log_ns, store.deserialize_cdr(data, conn.msgtype)))
    return out


def test_topics_types_and_counts(bag):
    with Reader(bag) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert types == {T.color: "sensor_msgs/msg/Image", T.depth: "sensor_msgs/msg/Image",
                     T.camera_info: "sensor_msgs/msg/CameraInfo", T.mask: "sensor_msgs/msg/Image",
                     T.detections: "vision_msgs/msg/Detection2DArray",
                     T.ground_truth: "vision_msgs/msg/Detection3DArray", T.annotations: "std_msgs/msg/String"}
    assert set(counts.values()) == {FRAMES}
    info = _metadata(bag)
    assert info["version"] == 9 and info["storage_identifier"] == "mcap"


def test_stamps_rate_and_shared_frame_stamps(bag):
    msgs = _read_all(bag)
    expected = [DEFAULT_START_NS + round(i * 1e9 / 30.0) for i in range(FRAMES)]
    for topic in (T.color, T.depth, T.camera_info, T.mask, T.detections, T.ground_truth):
        stamps = [m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for _, m in msgs[topic]]
        assert stamps == expected, topic
        assert [log for log, _ in msgs[topic]] == expected  # log time = stamp: ros2 bag play keeps 30 Hz
    assert np.diff(expected).tolist() == [33_333_333, 33_333_334, 33_333_333]


def test_pixels_intrinsics_and_detections_equal_the_dataset(bag, nocs_root):
    reader = NocsReader(nocs_root, "real", "test")
    msgs = _read_all(bag)
    for i, rel in enumerate(reader.rels):
        rec = reader.read(rel)
        color, depth, info = msgs[T.color][i][1], msgs[T.depth][i][1], msgs[T.camera_info][i][1]
        mask, dets = msgs[T.mask][i][1], msgs[T.detections][i][1]
        assert (color.encoding, depth.encoding, mask.encoding) == ("rgb8", "16UC1", "mono8")
        np.testing.assert_array_equal(image_to_rgb(color), rec.frame.rgb)
        np.testing.assert_array_equal(image_to_depth_m(depth), rec.frame.depth_m)  # bit-exact metres
        assert camera_info_to_intrinsics(info) == REAL275_INTRINSICS
        ids = image_to_mask(mask)
        assert [d.id for d in dets.detections] == [str(i.instance_id) for i in rec.instances]
        for det, inst in zip(dets.detections, rec.instances):
            assert det.results[0].hypothesis.class_id == inst.category and det.results[0].hypothesis.score == 1.0
            np.testing.assert_array_equal(ids == inst.instance_id, inst.mask)
            ys, xs = np.nonzero(inst.mask)
            assert det.bbox.size_x == xs.max() + 1 - xs.min() and det.bbox.size_y == ys.max() + 1 - ys.min()
        assert set(np.unique(ids).tolist()) == {0} | {inst.instance_id for inst in rec.instances}


def test_ground_truth_topics(bag, nocs_root):
    reader = NocsReader(nocs_root, "real", "test")
    msgs = _read_all(bag)
    for i, rel in enumerate(reader.rels):
        gt = reader.read(rel).gt
        exact, stamp = BagGroundTruth.from_json(msgs[T.annotations][i][1].data)
        assert exact.frame_name == rel and stamp == msgs[T.color][i][0]
        np.testing.assert_array_equal(exact.rotations, gt.rotations)  # JSON floats round-trip exactly
        np.testing.assert_array_equal(exact.translations, gt.translations)
        np.testing.assert_array_equal(exact.sizes_m, gt.sizes_m)
        np.testing.assert_array_equal(exact.handle_visibility, gt.handle_visibility)
        assert list(exact.category_names) == gt.category_names
        viewable = msgs[T.ground_truth][i][1]
        assert [d.id for d in viewable.detections] == [str(k) for k in gt.instance_ids]
        for det, r, t, s, name in zip(viewable.detections, gt.rotations, gt.translations, gt.sizes_m, gt.category_names):
            o = det.bbox.center.orientation
            # Stored rotations are float32-orthonormal only: the quaternion gives them back to ~1e-8,
            # which is why the exact JSON annotation exists.
            np.testing.assert_allclose(quaternion_to_rotation([o.x, o.y, o.z, o.w]), r, atol=1e-6)
            p = det.bbox.center.position
            assert [p.x, p.y, p.z] == t.tolist() and [det.bbox.size.x, det.bbox.size.y, det.bbox.size.z] == s.tolist()
            assert det.results[0].hypothesis.class_id == name


def test_depth_falls_back_to_float_metres_when_millimetres_would_round():
    depth = np.full((4, 5), 0.5, np.float32)
    frame = Frame(np.zeros((4, 5, 3), np.uint8), depth, REAL275_INTRINSICS.__class__(500, 500, 2, 2, 5, 4))
    arr, enc = depth_message_array(frame)
    assert enc == "16UC1" and arr.dtype == np.uint16 and int(arr[0, 0]) == 500
    depth2 = depth.copy()
    depth2[1, 1] = 0.5004  # not a whole millimetre
    depth2[2, 2] = np.nan
    arr2, enc2 = depth_message_array(Frame(frame.rgb, depth2, frame.intrinsics))
    assert enc2 == "32FC1" and arr2[1, 1] == np.float32(0.5004) and np.isnan(arr2[2, 2])


def test_mask_image_refuses_overlaps_and_unstorable_ids():
    a = np.zeros((3, 3), bool)
    a[0, :] = True
    b = np.zeros((3, 3), bool)
    b[:, 0] = True
    assert instance_id_image([Instance(7, "mug", a)], (3, 3))[0].tolist() == [7, 7, 7]
    with pytest.raises(BagError, match="overlaps"):
        instance_id_image([Instance(1, "mug", a), Instance(2, "can", b)], (3, 3))
    with pytest.raises(BagError, match="1..65535"):
        instance_id_image([Instance(0, "mug", a)], (3, 3))


def test_cli_sqlite3_frames_rate_and_refusals(nocs_root, tmp_path, capsys):
    out = tmp_path / "b"
    assert make_bag_tool.main(["--data", str(nocs_root), "--out", str(out), "--storage", "sqlite3", "--rate", "10",
                               "--frames", "2", "--start", "1800000000.5"]) == 0
    assert _metadata(out)["storage_identifier"] == "sqlite3"
    with Reader(out) as reader:
        stamps = [t for c, t, _ in reader.messages() if c.topic == T.color]
    assert stamps == [1_800_000_000_500_000_000, 1_800_000_000_600_000_000]
    assert "wrote 2 frames" in capsys.readouterr().out
    # an existing output and a missing data folder: exit 2 with one line, no traceback
    assert make_bag_tool.main(["--data", str(nocs_root), "--out", str(out)]) == 2
    assert make_bag_tool.main(["--data", str(tmp_path / "nope"), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "no frames found" in err and "Traceback" not in err
