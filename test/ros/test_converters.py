"""Image / camera info / detection messages <-> numpy and core types, without a ROS graph."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose  # noqa: E402

from cleanpose_ros.core.errors import InputError  # noqa: E402
from cleanpose_ros.core.types import REAL275_INTRINSICS, CameraIntrinsics  # noqa: E402
from cleanpose_ros.interop import converters as cv  # noqa: E402

pytestmark = pytest.mark.ros
RNG = np.random.default_rng(7)

SAMPLES = {
    "rgb8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "bgr8": RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8),
    "rgba8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    "bgra8": RNG.integers(0, 256, (5, 7, 4), dtype=np.uint8),
    "mono8": RNG.integers(0, 256, (5, 7), dtype=np.uint8),
    "mono16": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "16UC1": RNG.integers(0, 65536, (5, 7), dtype=np.uint16),
    "32FC1": RNG.normal(1.0, 0.5, (5, 7)).astype(np.float32),
    "32SC1": RNG.integers(-2**31, 2**31 - 1, (5, 7), dtype=np.int32),
}


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("padding", [0, 3])
@pytest.mark.parametrize("encoding", sorted(SAMPLES))
def test_image_round_trip_every_encoding(encoding, padding, big_endian):
    arr = SAMPLES[encoding]
    msg = cv.array_to_image(arr, encoding, stamp_ns=1_700_000_000_123_456_789, frame_id="cam",
                            big_endian=big_endian, row_padding=padding)
    assert msg.step == arr.shape[1] * arr.dtype.itemsize * (arr.shape[2] if arr.ndim == 3 else 1) + padding
    back = cv.image_to_array(msg)
    assert back.dtype == arr.dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)
    assert cv.stamp_to_ns(msg.header.stamp) == 1_700_000_000_123_456_789


def test_big_endian_bytes_are_really_swapped():
    msg = cv.array_to_image(np.array([[0x0102]], np.uint16), "16UC1", big_endian=True)
    assert bytes(msg.data) == b"\x01\x02"
    msg.is_bigendian = 0  # the same bytes read as little-endian give another number
    assert cv.image_to_array(msg)[0, 0] == 0x0201


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_color_images_become_rgb(encoding):
    rgb = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    if encoding == "mono8":
        src = rgb[:, :, 0]
        expected = np.repeat(src[:, :, None], 3, axis=2)
    else:
        src = rgb[:, :, ::-1] if encoding.startswith("bgr") else rgb
        if encoding.endswith("a8"):
            src = np.concatenate([src, np.full((4, 6, 1), 200, np.uint8)], axis=2)
        expected = rgb
    out = cv.image_to_rgb(cv.array_to_image(src, encoding, row_padding=2))
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_depth_16uc1_is_millimetres_and_32fc1_metres():
    mm = np.array([[0, 1, 1234, 65535]], np.uint16)
    np.testing.assert_allclose(cv.image_to_depth_m(cv.array_to_image(mm, "16UC1")), [[0.0, 0.001, 1.234, 65.535]], rtol=1e-6)
    m = np.array([[np.nan, 0.5, 2.25, 0.0]], np.float32)
    np.testing.assert_array_equal(cv.image_to_depth_m(cv.array_to_image(m, "32FC1", big_endian=True)), m)


@pytest.mark.parametrize("encoding", ["yuv422", "8UC3", "bayer_rggb8", ""])
def test_unknown_encodings_are_refused(encoding):
    msg = cv.array_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8")
    msg.encoding = encoding
    with pytest.raises(InputError) as e:
        cv.image_to_array(msg)
    assert e.value.reason == "unknown_encoding"


def test_wrong_role_encodings_are_refused():
    with pytest.raises(InputError, match="unknown_encoding"):
        cv.image_to_depth_m(cv.array_to_image(np.zeros((2, 2, 3), np.uint8), "rgb8"))
    with pytest.raises(InputError, match="unknown_encoding"):
        cv.image_to_rgb(cv.array_to_image(np.zeros((2, 2), np.float32), "32FC1"))
    with pytest.raises(InputError, match="unknown_encoding"):
        cv.image_to_mask(cv.array_to_image(np.zeros((2, 2), np.float32), "32FC1"))


def test_truncated_data_and_short_step_are_bad_messages():
    msg = cv.array_to_image(np.zeros((4, 4), np.uint16), "16UC1")
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(InputError) as e:
        cv.image_to_array(msg)
    assert e.value.reason == "bad_message"
    msg = cv.array_to_image(np.zeros((4, 4), np.uint16), "16UC1")
    msg.step = 7
    with pytest.raises(InputError, match="bad_message"):
        cv.image_to_array(msg)


def test_camera_info_round_trip_and_zero_k():
    msg = cv.intrinsics_to_camera_info(REAL275_INTRINSICS, stamp_ns=5, frame_id="cam")
    assert cv.camera_info_to_intrinsics(msg) == REAL275_INTRINSICS
    assert list(msg.p)[:3] == pytest.approx([591.0125, 0.0, 322.525])
    msg.k = [0.0] * 9
    with pytest.raises(InputError) as e:
        cv.camera_info_to_intrinsics(msg)
    assert e.value.reason == "missing_camera_info"


def _detections(*items: tuple[str, str, float]) -> Detection2DArray:
    out = Detection2DArray()
    for det_id, class_id, score in items:
        d = Detection2D(id=det_id)
        h = ObjectHypothesisWithPose()
        h.hypothesis.class_id, h.hypothesis.score = class_id, score
        d.results.append(h)
        out.detections.append(d)
    return out


def test_instances_from_detections_and_refusals():
    mask = np.zeros((6, 8), np.int64)
    mask[1:3, 1:4] = 3
    mask[4:6, 5:8] = 7
    dets = _detections(("3", "mug", 0.9), ("7", "5", 0.8), ("9", "can", 0.7), ("x", "mug", 0.5), ("3", "bowl", 0.4),
                       ("7", "banana", 0.3))
    instances, rejected = cv.instances_from_detections(mask, dets, (6, 8))
    assert [(i.instance_id, i.category, i.score, int(i.mask.sum())) for i in instances] == [(3, "mug", 0.9, 6), (7, "laptop", 0.8, 6)]
    assert rejected == [(9, "empty_mask"), (-1, "bad_message"), (3, "bad_message"), (7, "bad_message")]
    unknown, rej = cv.instances_from_detections(mask, _detections(("3", "banana", 1.0), ("7", "0", 1.0)), (6, 8))
    assert unknown == [] and rej == [(3, "unknown_category"), (7, "unknown_category")]
    with pytest.raises(InputError, match="size_mismatch"):
        cv.instances_from_detections(mask, dets, (6, 9))


def test_category_mask_mode():
    mask = np.zeros((4, 4), np.int64)
    mask[0, :] = 6
    mask[1, :2] = 1
    mask[3, 3] = 42
    instances, rejected = cv.instances_from_category_mask(mask, (4, 4))
    assert [(i.instance_id, i.category, int(i.mask.sum())) for i in instances] == [(1, "bottle", 2), (6, "mug", 4)]
    assert rejected == [(42, "unknown_category")]
    assert cv.instances_from_category_mask(np.zeros((4, 4), np.int64), (4, 4)) == ([], [(-1, "empty_mask")])


def test_frame_from_messages_checks_depth_and_sizes():
    intr = CameraIntrinsics(100.0, 100.0, 3.5, 2.5, 8, 6)
    color = cv.array_to_image(np.zeros((6, 8, 3), np.uint8), "bgr8", stamp_ns=42, frame_id="cam_opt")
    depth = cv.array_to_image(np.full((6, 8), 800, np.uint16), "16UC1", stamp_ns=42)
    frame = cv.frame_from_messages(color, depth, intr)
    assert frame.stamp_ns == 42 and frame.frame_id == "cam_opt" and float(frame.depth_m[0, 0]) == pytest.approx(0.8)
    for bad, reason in [(np.zeros((6, 8), np.uint16), "invalid_depth"), (np.full((6, 8), np.nan, np.float32), "invalid_depth"),
                        (np.ones((5, 8), np.float32), "size_mismatch")]:
        enc = "16UC1" if bad.dtype == np.uint16 else "32FC1"
        with pytest.raises(InputError) as e:
            cv.frame_from_messages(color, cv.array_to_image(bad, enc), intr)
        assert e.value.reason == reason
    with pytest.raises(InputError, match="size_mismatch"):
        cv.frame_from_messages(color, depth, CameraIntrinsics(100.0, 100.0, 3.5, 2.5, 640, 480))


def test_ids_and_class_ids_are_ascii_digits_only():
    mask = np.zeros((6, 8), np.int64)
    mask[1:3, 1:4] = 3
    mask[4:6, 5:8] = 7
    # '²' passes str.isdigit() and then fails int(): it must be an unknown category, not an exception
    # that drops the frame with its good objects; Arabic-Indic digits, '+3' and ' 7' are no ids
    instances, rejected = cv.instances_from_detections(mask, _detections(("3", "²", 0.9), ("7", "mug", 0.8)), (6, 8))
    assert [(i.instance_id, i.category) for i in instances] == [(7, "mug")] and rejected == [(3, "unknown_category")]
    for bad_id in ("\u0663", "+3", " 7", "3_0", "3.0", ""):
        _, rej = cv.instances_from_detections(mask, _detections((bad_id, "mug", 0.9)), (6, 8))
        assert rej[0] == (-1, "bad_message"), bad_id
    with pytest.raises(InputError, match="unknown_category"):
        cv.category_from_class_id("\u0665")  # Arabic-Indic five
    assert cv.category_from_class_id(" 5 ") == "laptop"


def test_scores_outside_0_1_or_nan_are_refused_and_unnamed_mask_ids_counted():
    mask = np.zeros((6, 8), np.int64)
    mask[1:3, 1:4] = 3
    mask[4:6, 5:8] = 7
    mask[0, 0] = 9  # a mask id no detection names
    for bad in (7.0, -0.1, float("nan"), float("inf")):
        instances, rejected = cv.instances_from_detections(mask, _detections(("3", "mug", bad), ("7", "mug", 0.8)), (6, 8))
        assert [i.instance_id for i in instances] == [7] and instances[0].score == 0.8
        assert rejected == [(3, "invalid_score"), (9, "mask_without_detection")], bad
    instances, rejected = cv.instances_from_detections(mask, _detections(("3", "mug", 1.0), ("7", "mug", 0.0)), (6, 8))
    assert [i.score for i in instances] == [1.0, 0.0] and rejected == [(9, "mask_without_detection")]
