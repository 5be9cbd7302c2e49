"""The ROS layer is real: our rebuilt message types match upstream and cross process boundaries."""
from __future__ import annotations

import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402

from test.support.processes import start_python, stop  # noqa: E402

pytestmark = pytest.mark.ros

UPSTREAM_HASHES = {
    "tf2_msgs.msg.TFMessage": "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
    "vision_msgs.msg.Detection3DArray": "RIHS01_793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018",
    "vision_msgs.msg.Detection2DArray": "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
}


@pytest.fixture()
def node():
    rclpy.init()
    n = Node("cleanpose_foundation_test")
    yield n
    n.destroy_node()
    rclpy.shutdown()


def _import(dotted: str):
    mod, name = dotted.rsplit(".", 1)
    return getattr(__import__(mod, fromlist=[name]), name)


@pytest.mark.parametrize("dotted", sorted(UPSTREAM_HASHES))
def test_type_hash_equals_upstream(node, dotted):
    """rmw reports the hash of the type a publisher actually registered; it must equal upstream's
    so our messages interoperate with real ROS 2 installs (hash covers every field and nested type)."""
    topic = "hash_probe_" + dotted.rsplit(".", 1)[1].lower()
    node.create_publisher(_import(dotted), topic, 1)
    infos = node.get_publishers_info_by_topic(topic)
    assert len(infos) == 1
    assert str(infos[0].topic_type_hash) == UPSTREAM_HASHES[dotted]


def _spin_until(node: Node, done: threading.Event, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done.is_set() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    return done.is_set()


TF_STATIC_PUBLISHER = r"""
import rclpy, sys
from rclpy.node import Node
from rclpy.qos import QoSProfile, DurabilityPolicy, ReliabilityPolicy
from geometry_msgs.msg import TransformStamped
from tf2_msgs.msg import TFMessage
rclpy.init()
n = Node("static_tf_publisher")
qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
pub = n.create_publisher(TFMessage, "/tf_static", qos)
t = TransformStamped()
t.header.stamp.sec = 1234; t.header.stamp.nanosec = 5678
t.header.frame_id = "camera_color_optical_frame"; t.child_frame_id = "cleanpose_mug_7"
t.transform.translation.x = 0.1; t.transform.translation.y = -0.2; t.transform.translation.z = 0.9
t.transform.rotation.z = 0.7071067811865476; t.transform.rotation.w = 0.7071067811865476
pub.publish(TFMessage(transforms=[t]))
print("PUBLISHED", flush=True)
try:
    rclpy.spin(n)
except KeyboardInterrupt:
    pass
"""


def test_tf_static_transient_local_reaches_late_subscriber_in_other_process(node):
    proc = start_python(TF_STATIC_PUBLISHER)
    try:
        line = proc.stdout.readline()
        assert "PUBLISHED" in line, line
        # Subscribe only after the message was sent: transient-local durability must replay it.
        from tf2_msgs.msg import TFMessage
        got: list = []
        done = threading.Event()
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(TFMessage, "/tf_static", lambda m: (got.append(m), done.set()), qos)
        assert _spin_until(node, done, 30.0), "late subscriber received nothing on /tf_static"
        t = got[0].transforms[0]
        assert (t.header.frame_id, t.child_frame_id) == ("camera_color_optical_frame", "cleanpose_mug_7")
        assert (t.header.stamp.sec, t.header.stamp.nanosec) == (1234, 5678)
        assert t.transform.translation.z == pytest.approx(0.9)
        assert t.transform.rotation.z == pytest.approx(0.7071067811865476)
    finally:
        stop(proc)


DETECTION_SUBSCRIBER = r"""
import rclpy
from rclpy.node import Node
from vision_msgs.msg import Detection3DArray
rclpy.init()
n = Node("detection_listener")
def cb(m):
    d = m.detections[0]
    h = d.results[0]
    print("GOT", m.header.frame_id, m.header.stamp.sec, len(m.detections), h.hypothesis.class_id,
          round(h.hypothesis.score, 3), round(d.bbox.size.x, 3), round(d.bbox.center.position.z, 3), d.id, flush=True)
    raise SystemExit(0)
n.create_subscription(Detection3DArray, "pose_estimation/detections", cb, 10)
print("READY", flush=True)
try:
    rclpy.spin(n)
except SystemExit:
    pass
"""


def test_detection3d_array_across_processes(node):
    from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose
    proc = start_python(DETECTION_SUBSCRIBER)
    try:
        assert "READY" in proc.stdout.readline()
        pub = node.create_publisher(Detection3DArray, "pose_estimation/detections", 10)
        msg = Detection3DArray()
        msg.header.frame_id = "camera_color_optical_frame"
        msg.header.stamp.sec = 42
        det = Detection3D(id="3")
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = "bowl"
        hyp.hypothesis.score = 0.875
        hyp.pose.pose.position.z = 0.75
        det.results.append(hyp)
        det.bbox.center.position.z = 0.75
        det.bbox.size.x = 0.16
        msg.detections.append(det)
        deadline = time.monotonic() + 30.0
        while proc.poll() is None and time.monotonic() < deadline:
            pub.publish(msg)  # repeat until discovery completed and the child exits
            rclpy.spin_once(node, timeout_sec=0.2)
        out = proc.stdout.read()
        assert proc.returncode == 0, out
        assert "GOT camera_color_optical_frame 42 1 bowl 0.875 0.16 0.75 3" in out
    finally:
        stop(proc)
