"""Smoke run of the ROS layer: publish one TF and one Detection3DArray and receive both back.

Proves that rclpy, Fast DDS and our rebuilt tf2_msgs / vision_msgs work on this machine.
Usage: cleanpose-smoke [--timeout S]
"""
from __future__ import annotations

import argparse
import sys
import time

from cleanpose_ros.core.geometry import axis_angle_to_rotation, rotation_to_quaternion
from cleanpose_ros.resources import ensure_fastdds_profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the messages")
    args = parser.parse_args(argv)
    ensure_fastdds_profile()

    import rclpy
    from geometry_msgs.msg import TransformStamped
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection3D, Detection3DArray, ObjectHypothesisWithPose

    rclpy.init()
    node = Node("cleanpose_smoke")
    received: dict[str, object] = {}
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
    tf_pub = node.create_publisher(TFMessage, "/tf_static", latched)
    det_pub = node.create_publisher(Detection3DArray, "pose_estimation/detections", latched)
    node.create_subscription(TFMessage, "/tf_static", lambda m: received.setdefault("tf", m), latched)
    node.create_subscription(Detection3DArray, "pose_estimation/detections",
                             lambda m: received.setdefault("det", m), latched)

    stamp = node.get_clock().now().to_msg()
    q = rotation_to_quaternion(axis_angle_to_rotation([0.0, 1.0, 0.0], 0.5))
    tf = TransformStamped()
    tf.header.stamp, tf.header.frame_id, tf.child_frame_id = stamp, "camera_color_optical_frame", "cleanpose_mug_1"
    tf.transform.translation.z = 0.8
    tf.transform.rotation.x, tf.transform.rotation.y, tf.transform.rotation.z, tf.transform.rotation.w = map(float, q)
    det = Detection3D(id="1")
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = "mug", 1.0
    hyp.pose.pose.position.z = 0.8
    hyp.pose.pose.orientation = tf.transform.rotation
    det.results.append(hyp)
    det.bbox.center = hyp.pose.pose
    det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = 0.12, 0.09, 0.08
    arr = Detection3DArray(detections=[det])
    arr.header.stamp, arr.header.frame_id = stamp, "camera_color_optical_frame"
    tf_pub.publish(TFMessage(transforms=[tf]))
    det_pub.publish(arr)

    deadline = time.monotonic() + args.timeout
    while len(received) < 2 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    ok = len(received) == 2
    if ok:
        t = received["tf"].transforms[0]  # type: ignore[attr-defined]
        d = received["det"].detections[0]  # type: ignore[attr-defined]
        print(f"TF  {t.header.frame_id} -> {t.child_frame_id}: z={t.transform.translation.z:.2f} m")
        print(f"DET {d.results[0].hypothesis.class_id} score={d.results[0].hypothesis.score:.2f} "
              f"size=({d.bbox.size.x:.2f}, {d.bbox.size.y:.2f}, {d.bbox.size.z:.2f}) m")
        print("smoke: OK (rclpy + Fast DDS + tf2_msgs + vision_msgs)")
    else:
        print(f"smoke: FAILED, received only {sorted(received)}", file=sys.stderr)
    node.destroy_node()
    rclpy.shutdown()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
