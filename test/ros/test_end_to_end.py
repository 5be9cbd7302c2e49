"""Cross-process end to end: demo camera process -> cleanpose_node process -> this test's probe.

Phase 1: the demo camera publishes generated scenes; the probe receives Detection3DArray, TF
and markers stamped with the input stamps in the camera's optical frame, and (with the shipped
weights) poses within the model card's bounds against the camera's ground truth.
Phase 2: the camera stops and the probe publishes a barrage of bad inputs; the node stays up,
publishes no pose for any of them and counts each under its reason in /diagnostics.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402
from vision_msgs.msg import Detection2DArray, Detection3DArray  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from cleanpose_ros.interop import converters  # noqa: E402
from test.ros.conftest import trained_weights  # noqa: E402
from test.support.processes import start_python, stop  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

FRAME_ID = "camera_color_optical_frame"
MAX_AGE_MS = 2500.0
# Model card bounds (weights/README.md, "Bounds the tests hold the weights to"): on the demo camera's
# scenes the shipped weights put 70 % of poses within 10 deg / 5 cm with a median translation error
# of 0.82 cm (mugs scored on the full angle: the demo's ground truth has no handle visibility).
# Keep in step with the card.
MIN_RATE_10DEG_5CM = 0.4
MAX_MEDIAN_TRANSLATION_CM = 3.0


class Probe:
    """The test's own ROS participant: records the node's outputs, publishes bad inputs."""

    def __init__(self) -> None:
        self.node = Node("cleanpose_e2e_probe")
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.poses: dict[int, Detection3DArray] = {}
        self.truth: dict[int, Detection3DArray] = {}
        self.markers: dict[int, MarkerArray] = {}
        self.tf: list[TFMessage] = []
        self.diagnostics: dict[str, str] = {}
        self.camera_stamps: list[int] = []
        n = self.node
        n.create_subscription(Detection3DArray, "pose_estimation/detections",
                              lambda m: self.poses.__setitem__(converters.stamp_to_ns(m.header.stamp), m), reliable)
        n.create_subscription(Detection3DArray, "ground_truth/detections",
                              lambda m: self.truth.__setitem__(converters.stamp_to_ns(m.header.stamp), m), reliable)
        n.create_subscription(MarkerArray, "pose_estimation/markers",
                              lambda m: self.markers.__setitem__(converters.stamp_to_ns(m.markers[0].header.stamp), m)
                              if m.markers else None, reliable)
        n.create_subscription(TFMessage, "/tf", self.tf.append, QoSProfile(depth=100))
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, reliable)
        self.pub_color = n.create_publisher(Image, "color/image_raw", reliable)
        self.pub_depth = n.create_publisher(Image, "depth/image_raw", reliable)
        self.pub_mask = n.create_publisher(Image, "segmentation/mask", reliable)
        self.pub_det = n.create_publisher(Detection2DArray, "segmentation/detections", reliable)
        self.pub_info = n.create_publisher(CameraInfo, "color/camera_info", reliable)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "cleanpose_node" in status.name:
                self.diagnostics = {kv.key: kv.value for kv in status.values}

    def count(self, key: str) -> int:
        return int(self.diagnostics.get(key, "0"))

    def spin_until(self, condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return True

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def publish(self, color: Image, depth: Image, mask: Image, detections: Detection2DArray, info: CameraInfo,
                stamp_ns: int) -> None:
        t = converters.ns_to_stamp(stamp_ns)
        for msg in (color, depth, mask, detections, info):
            msg.header.stamp = t
        self.pub_info.publish(info)
        self.pub_color.publish(color)
        self.pub_depth.publish(depth)
        self.pub_mask.publish(mask)
        self.pub_det.publish(detections)


@pytest.fixture()
def probe():
    rclpy.init()
    p = Probe()
    yield p
    p.node.destroy_node()
    rclpy.shutdown()


def _poses_by_id(msg: Detection3DArray) -> dict[int, object]:
    from cleanpose_ros.tools.demo import poses_from_detections

    return {p.instance_id: p for p in poses_from_detections(msg)}


def _accuracy_problems(probe: Probe, stamps: list[int]) -> list[str]:
    """Model-card bounds on the phase-1 poses against the demo camera's ground truth ([] = met)."""
    from cleanpose_ros.metrics.pose_errors import rotation_error_deg, translation_error_cm, uses_y_symmetry

    rot, trans = [], []
    for stamp in stamps:
        truth = _poses_by_id(probe.truth[stamp])
        for instance_id, est in _poses_by_id(probe.poses[stamp]).items():
            gt = truth[instance_id]
            rot.append(float(rotation_error_deg(est.rotation, gt.rotation, uses_y_symmetry(gt.category))))
            trans.append(float(translation_error_cm(est.translation, gt.translation)))
    rot_a, trans_a = np.array(rot), np.array(trans)
    within = float(np.mean((rot_a <= 10.0) & (trans_a <= 5.0))) if rot else 0.0
    print(f"e2e accuracy: {len(rot)} poses, median rotation error {np.median(rot_a):.1f} deg, median translation "
          f"error {np.median(trans_a):.2f} cm, {100 * within:.0f}% within 10 deg / 5 cm")
    problems = []
    if len(rot) < 10:
        problems.append(f"only {len(rot)} poses to judge")
    if within < MIN_RATE_10DEG_5CM:
        problems.append(f"{100 * within:.0f}% of poses within 10 deg / 5 cm, the model card implies >= "
                        f"{100 * MIN_RATE_10DEG_5CM:.0f}% (rotation errors {np.round(rot_a, 1).tolist()})")
    if np.median(trans_a) > MAX_MEDIAN_TRANSLATION_CM:
        problems.append(f"median translation error {np.median(trans_a):.2f} cm > {MAX_MEDIAN_TRANSLATION_CM} cm")
    return problems


def test_demo_camera_to_node_to_probe_then_bad_input_barrage(probe: Probe, node_weights: Path):
    node_proc = start_python(["-m", "cleanpose_ros.ros.node", "--ros-args",
                              "-p", f"inference.weights:={node_weights}",
                              "-p", f"sync.max_age_ms:={MAX_AGE_MS}",
                              "-p", "health.diagnostics_period_s:=0.3",
                              "-p", "health.log_period_s:=5.0",
                              "-p", "inference.num_threads:=1"])
    camera_proc = start_python(["-m", "cleanpose_ros.ros.demo_camera", "--ros-args",
                                "-p", "scenes:=6", "-p", "seed:=11", "-p", "rate_hz:=10.0"])
    outputs: dict[str, str] = {}
    accuracy_problems: list[str] = []
    try:
        # ---------------------------------------------------------------- phase 1: real flow
        def matched() -> list[int]:
            return sorted(s for s, m in probe.poses.items() if s in probe.truth and m.detections)

        ok = probe.spin_until(lambda: len(matched()) >= 6 or node_proc.poll() is not None
                              or camera_proc.poll() is not None, 120.0)
        for name, proc in (("node", node_proc), ("demo camera", camera_proc)):
            assert proc.poll() is None, f"the {name} process died:\n{stop(proc)[-3000:]}"
        assert ok, f"only {len(matched())} frames with poses; diagnostics {probe.diagnostics}"
        stamps = matched()
        for stamp in stamps:
            msg = probe.poses[stamp]
            assert msg.header.frame_id == FRAME_ID
            truth_ids = {d.id for d in probe.truth[stamp].detections}
            assert {d.id for d in msg.detections} <= truth_ids
            for det in msg.detections:
                assert converters.stamp_to_ns(det.header.stamp) == stamp and det.header.frame_id == FRAME_ID
                assert det.bbox.size.x > 0 and det.bbox.size.y > 0 and det.bbox.size.z > 0
                assert det.results[0].hypothesis.class_id in {d.results[0].hypothesis.class_id
                                                              for d in probe.truth[stamp].detections if d.id == det.id}
        # TF: one child per pose, named <prefix><category>_<id>, same stamp and parent frame.
        def tf_by_stamp() -> dict[int, TFMessage]:
            return {converters.stamp_to_ns(m.transforms[0].header.stamp): m for m in probe.tf if m.transforms}

        probe.spin_until(lambda: all(s in probe.markers and s in tf_by_stamp() for s in stamps), 5.0)
        # /tf, markers and detections are separate topics, discovered separately: the very first frame's
        # TF or markers can go out before that topic has matched the probe. Every later frame must have both.
        with_tf = [s for s in stamps if s in tf_by_stamp() and s in probe.markers]
        assert len(with_tf) >= len(stamps) - 1, f"TF and markers for {len(with_tf)} of {len(stamps)} frames"
        for stamp in with_tf:
            expected = {f"cleanpose_{d.results[0].hypothesis.class_id}_{d.id}" for d in probe.poses[stamp].detections}
            tf = tf_by_stamp()[stamp]
            assert {t.child_frame_id for t in tf.transforms} == expected
            assert all(t.header.frame_id == FRAME_ID for t in tf.transforms)
            markers = probe.markers[stamp]
            added = {(m.ns, m.id) for m in markers.markers if m.action == Marker.ADD}
            assert added == {(ns, int(d.id)) for d in probe.poses[stamp].detections for ns in ("box", "axes", "label")}
            assert all(m.header.frame_id == FRAME_ID for m in markers.markers)
        # Health of a running node: rate of the 10 Hz camera, finite latencies, outputs counted.
        assert probe.spin_until(lambda: float(probe.diagnostics.get("input_rate_hz", "0")) > 2.0, 10.0), probe.diagnostics
        # /diagnostics is periodic: wait for a status published after the poses above (a loaded machine
        # can deliver the poses before the next status)
        assert probe.spin_until(lambda: int(probe.diagnostics.get("frames_out", "0")) >= len(stamps), 10.0), \
            (len(stamps), probe.diagnostics)
        d = probe.diagnostics
        assert int(d["frames_out"]) >= len(stamps) and int(d["frames_in"]) >= int(d["frames_out"])
        assert 0.0 < float(d["latency_p50_ms"]) <= float(d["latency_p95_ms"]) < MAX_AGE_MS + 5000.0
        # Judged now, asserted after the barrage: weak weights must not hide a plumbing failure.
        accuracy_problems = _accuracy_problems(probe, stamps) if trained_weights() is not None else []

        # ---------------------------------------------------------------- phase 2: barrage
        outputs["camera"] = stop(camera_proc)
        camera_stopped_ns = probe.now_ns()
        _barrage(probe, node_proc, camera_stopped_ns)
        assert node_proc.poll() is None, "the node died during the barrage"
    finally:
        outputs.setdefault("camera", stop(camera_proc))
        outputs["node"] = stop(node_proc)
    assert "Traceback" not in outputs["node"], outputs["node"][-3000:]
    assert node_proc.returncode == 0, outputs["node"][-3000:]
    assert not accuracy_problems, "poses miss the model card: " + "; ".join(accuracy_problems)


def _barrage(probe: Probe, node_proc, camera_stopped_ns: int) -> None:
    from cleanpose_ros.ros.demo_camera import render_scenes, scene_messages

    scene = render_scenes(1, seed=5)[0]
    h, w = scene.depth_mm.shape
    first_id = scene.truth[0].instance_id

    def good() -> dict:
        m = scene_messages(scene, FRAME_ID)
        return {"color": m.color, "depth": m.depth, "mask": m.mask, "detections": m.detections, "info": m.info}

    def send(msgs: dict, stamp_ns: int) -> None:
        probe.publish(msgs["color"], msgs["depth"], msgs["mask"], msgs["detections"], msgs["info"], stamp_ns)

    def expect(reason: str, msgs: dict, stamp_ns: int, increment: int = 1) -> None:
        key = f"rejected_{reason}"
        probe.spin_until(lambda: bool(probe.diagnostics), 5.0)
        before = probe.count(key)
        send(msgs, stamp_ns)
        assert probe.spin_until(lambda: probe.count(key) >= before + increment, 20.0), \
            f"{key} stayed at {probe.count(key)} (diagnostics {probe.diagnostics})"
        assert node_proc.poll() is None
        # Give a (wrong) pose time to show up before concluding there is none.
        probe.spin_until(lambda: False, 0.3)
        published = probe.poses.get(stamp_ns)
        assert published is None or len(published.detections) == 0, f"{reason}: a pose was published"

    # Stale: newer than anything the node saw (so not out of order), but older than max_age_ms by
    # the time it arrives.
    stale_stamp = camera_stopped_ns + 1_000_000
    probe.spin_until(lambda: probe.now_ns() > stale_stamp + MAX_AGE_MS * 1e6 + 3e8, MAX_AGE_MS / 1e3 + 2.0)
    expect("stale", good(), stale_stamp)

    # A good frame first: the node is alive and still produces poses after the barrage started.
    good_stamp = probe.now_ns()
    send(good(), good_stamp)
    assert probe.spin_until(lambda: good_stamp in probe.poses, 30.0), "no output for a good frame"
    assert len(probe.poses[good_stamp].detections) > 0 or probe.count("rejected_invalid_size") > 0

    expect("out_of_order", good(), good_stamp - 1_000_000)

    msgs = good()
    msgs["mask"] = converters.array_to_image(np.zeros((h, w), np.uint16), "mono16", frame_id=FRAME_ID)
    expect("empty_mask", msgs, probe.now_ns(), increment=len(scene.truth))

    msgs = good()
    tiny = np.zeros((h, w), np.uint16)
    rows, cols = np.nonzero((scene.instance_mask == first_id) & (scene.depth_mm > 0))
    tiny[rows[:4], cols[:4]] = first_id  # 4 pixels with valid depth: fewer than min_points
    msgs["mask"] = converters.array_to_image(tiny, "mono16", frame_id=FRAME_ID)
    msgs["detections"].detections = msgs["detections"].detections[:1]
    expect("too_few_points", msgs, probe.now_ns())

    msgs = good()
    msgs["depth"] = converters.array_to_image(np.full((h, w), np.nan, np.float32), "32FC1", frame_id=FRAME_ID)
    expect("invalid_depth", msgs, probe.now_ns())

    msgs = good()
    msgs["depth"] = converters.array_to_image(np.zeros((h, w), np.uint16), "16UC1", frame_id=FRAME_ID)
    expect("invalid_depth", msgs, probe.now_ns())

    msgs = good()
    msgs["depth"] = converters.array_to_image(np.ones((h // 2, w // 2), np.uint16), "16UC1", frame_id=FRAME_ID)
    expect("size_mismatch", msgs, probe.now_ns())

    msgs = good()
    msgs["color"].encoding = "yuv422"
    expect("unknown_encoding", msgs, probe.now_ns())

    msgs = good()
    for det in msgs["detections"].detections:
        det.results[0].hypothesis.class_id = "banana"
    expect("unknown_category", msgs, probe.now_ns(), increment=len(scene.truth))

    msgs = good()
    for det in msgs["detections"].detections:
        det.id = str(200 + int(det.id))  # ids absent from the mask
    expect("empty_mask", msgs, probe.now_ns(), increment=len(scene.truth))

    msgs = good()
    msgs["info"].k = [0.0] * 9  # what an uncalibrated driver publishes
    expect("missing_camera_info", msgs, probe.now_ns())

    msgs = good()
    k = list(msgs["info"].k)
    k[2] = 50.0 * w  # principal point far off the image: points (and poses) would land kilometres away
    msgs["info"].k = k
    expect("implausible_camera_info", msgs, probe.now_ns())

    # Still alive and still correct after all of it.
    final_stamp = probe.now_ns()
    send(good(), final_stamp)
    assert probe.spin_until(lambda: final_stamp in probe.poses, 30.0), "no output after the barrage"
