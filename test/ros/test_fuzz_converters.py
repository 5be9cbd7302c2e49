"""Property-based fuzzing of the message converters: random but well-typed ROS messages (encodings,
sizes, steps, byte orders, data lengths, intrinsics with NaN / inf / extreme values, id and class-id
strings from all of Unicode, scores of any float). Properties: nothing but an InputError with a
known reason escapes; whatever is accepted is well-formed (finite plausible intrinsics, images of
the declared size, instances whose masks are non-empty and whose scores lie in [0, 1]).

Bounded in CI by the example counts below; `bench/fuzz_soak.py` runs the same properties longer.
"""
from __future__ import annotations

import os
import math

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose  # noqa: E402

from cleanpose_ros.core.errors import InputError  # noqa: E402
from cleanpose_ros.core.types import CATEGORIES  # noqa: E402
from cleanpose_ros.interop import converters as cv  # noqa: E402

pytestmark = pytest.mark.ros
ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1", "32FC1", "8UC1", "32SC1", "yuv422",
             "", "RGB8", "bayer_rggb8")
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True, width=64)
# CLEANPOSE_FUZZ_SCALE multiplies the example count (bench/fuzz_soak.py); 1 in CI
FUZZ = settings(max_examples=150 * int(os.environ.get("CLEANPOSE_FUZZ_SCALE", "1")), deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@st.composite
def images(draw, max_side: int = 12) -> Image:
    h, w = draw(st.integers(0, max_side)), draw(st.integers(0, max_side))
    encoding = draw(st.sampled_from(ENCODINGS))
    step = draw(st.integers(0, 4 * w + 8))
    length = draw(st.one_of(st.just(step * h), st.integers(0, 4 * max_side * max_side + 16)))
    data = draw(st.binary(min_size=length, max_size=length))
    return Image(height=h, width=w, encoding=encoding, is_bigendian=draw(st.integers(0, 1)), step=step, data=data)


def _expect_input_error_only(fn, *args):
    try:
        return fn(*args)
    except InputError as e:
        assert e.reason in InputError.REASONS
        return None


@FUZZ
@given(images())
def test_images_convert_or_are_refused_with_a_reason(msg):
    for fn in (cv.image_to_rgb, cv.image_to_depth_m, cv.image_to_mask):
        out = _expect_input_error_only(fn, msg)
        if out is not None:
            assert out.shape[:2] == (msg.height, msg.width)
            if fn is cv.image_to_rgb:
                assert out.dtype == np.uint8 and out.shape[2] == 3


@FUZZ
@given(st.lists(ANY_FLOAT, min_size=9, max_size=9), st.integers(0, 5000), st.integers(0, 5000))
def test_camera_info_gives_plausible_intrinsics_or_a_reason(k, width, height):
    msg = CameraInfo(width=width, height=height, k=k)
    intr = _expect_input_error_only(cv.camera_info_to_intrinsics, msg)
    if intr is not None:
        assert all(math.isfinite(v) for v in (intr.fx, intr.fy, intr.cx, intr.cy)) and intr.fx > 0 and intr.fy > 0
        assert 0 <= intr.cx <= intr.width and 0 <= intr.cy <= intr.height


@st.composite
def detections(draw) -> Detection2DArray:
    out = Detection2DArray()
    for _ in range(draw(st.integers(0, 6))):
        det = Detection2D(id=draw(st.one_of(st.text(max_size=4), st.integers(-3, 12).map(str))))
        for _ in range(draw(st.integers(0, 3))):
            h = ObjectHypothesisWithPose()
            h.hypothesis.class_id = draw(st.one_of(st.sampled_from(CATEGORIES), st.text(max_size=3),
                                                    st.integers(-1, 8).map(str)))
            h.hypothesis.score = draw(ANY_FLOAT)
            det.results.append(h)
        out.detections.append(det)
    return out


@FUZZ
@given(st.integers(0, 9).flatmap(lambda n: st.lists(st.integers(0, n), min_size=48, max_size=48)), detections())
def test_detections_become_sound_instances_or_counted_refusals(values, dets):
    mask = np.array(values, np.int64).reshape(6, 8)
    instances, rejected = cv.instances_from_detections(mask, dets, (6, 8))
    assert all(reason in InputError.REASONS for _, reason in rejected)
    ids = [i.instance_id for i in instances]
    assert len(ids) == len(set(ids))
    for inst in instances:
        assert inst.mask.any() and inst.category in CATEGORIES and 0.0 <= inst.score <= 1.0
    # every mask id is either an instance or a counted refusal
    named = {i for i, _ in rejected} | set(ids)
    assert set(np.unique(mask).tolist()) - {0} <= named
