#!/usr/bin/env python3
"""The node's own work around the pipeline: message -> frame/instances conversion and publishing.

Times what `CleanPoseNode._process` does besides `Pipeline.__call__`, on real messages of a
640x480 synthetic frame with N objects (rgb8 colour, 16UC1 depth, mono16 instance mask,
Detection2DArray): (1) conversion = frame_from_messages + image_to_mask + instances_from_detections,
(2) output building = Detection3DArray + TFMessage + MarkerArray for N poses, (3) publishing them
through real rclpy publishers (serialisation included; a subscriber-less topic on a private domain).
Prints per-stage p50/p95 (ms) and the cProfile table of the conversion.

  .venv/bin/python bench/profile_node_io.py [--objects 5] [--repeats 200]
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain checkout
from cprofile_table import profile_table  # noqa: E402  (bench/, next to this script)


def _pose_estimates(instances):  # noqa: ANN001, ANN202
    from cleanpose_ros.core.types import PoseEstimate

    rng = np.random.default_rng(0)
    from scipy.spatial.transform import Rotation

    return [PoseEstimate(instance_id=i.instance_id, category=i.category, score=0.9,
                         rotation=Rotation.random(random_state=k).as_matrix(),
                         translation=rng.uniform(-0.3, 0.3, 3) + [0, 0, 0.9], size=rng.uniform(0.05, 0.2, 3),
                         confidence=0.8, covariance=np.diag(rng.uniform(1e-4, 1e-2, 6)))
            for k, i in enumerate(instances)]


def _time(fn, repeats: int) -> tuple[float, float]:  # noqa: ANN001
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    p50, p95 = np.percentile(samples, [50, 95])
    return float(p50), float(p95)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", type=int, default=5)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args(argv)
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 200)))
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    import rclpy
    from tf2_msgs.msg import TFMessage
    from vision_msgs.msg import Detection2D, Detection2DArray, Detection3DArray, ObjectHypothesisWithPose
    from visualization_msgs.msg import MarkerArray

    from cleanpose_ros.verification.sample_frames import synthetic_frame
    from cleanpose_ros.interop import converters
    from cleanpose_ros.ros.outputs import MarkerTracker, detection_array, tf_message

    frame, instances = synthetic_frame(args.objects, seed=3)
    label = np.zeros(frame.shape, np.uint16)
    for inst in instances:
        label[inst.mask] = inst.instance_id
    color = converters.array_to_image(frame.rgb, "rgb8", frame_id="camera")
    depth = converters.array_to_image(np.round(frame.depth_m * 1000).astype(np.uint16), "16UC1", frame_id="camera")
    mask = converters.array_to_image(label, "mono16", frame_id="camera")
    detections = Detection2DArray()
    for inst in instances:
        det = Detection2D(id=str(inst.instance_id))
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = inst.category, float(inst.score)
        det.results.append(hyp)
        detections.detections.append(det)

    def convert():  # noqa: ANN202
        f = converters.frame_from_messages(color, depth, frame.intrinsics)
        ids = converters.image_to_mask(mask)
        found, refused = converters.instances_from_detections(ids, detections, f.shape)
        assert len(found) == args.objects and not refused
        return f, found

    poses = _pose_estimates(instances)
    markers = MarkerTracker()

    def build():  # noqa: ANN202
        return (detection_array(poses, frame.stamp_ns, "camera"), tf_message(poses, frame.stamp_ns, "camera", "cleanpose"),
                markers.build(poses, frame.stamp_ns, "camera"))

    rclpy.init()
    node = rclpy.create_node("profile_node_io")
    pubs = (node.create_publisher(Detection3DArray, "profile/detections", 10),
            node.create_publisher(TFMessage, "profile/tf", 10), node.create_publisher(MarkerArray, "profile/markers", 10))
    built = build()

    def publish():  # noqa: ANN202
        for pub, msg in zip(pubs, built):
            pub.publish(msg)

    def build_without_markers():  # noqa: ANN202  (what the node builds while no viewer subscribes)
        return detection_array(poses, frame.stamp_ns, "camera"), tf_message(poses, frame.stamp_ns, "camera", "cleanpose")

    def publish_without_markers():  # noqa: ANN202
        for pub, msg in zip(pubs[:2], built[:2]):
            pub.publish(msg)

    rows = [("conversion (frame, mask, instances)", _time(convert, args.repeats)),
            ("output messages (detections, TF, markers)", _time(build, args.repeats)),
            ("publishing the three (rclpy, serialised)", _time(publish, args.repeats))]
    lean = [rows[0], ("output messages without markers (no viewer subscribed)", _time(build_without_markers, args.repeats)),
            ("publishing detections + TF", _time(publish_without_markers, args.repeats))]
    total = sum(r[1][0] for r in rows)
    lean_total = sum(r[1][0] for r in lean)
    print(f"node I/O around the pipeline, 640x480, {args.objects} objects, {args.repeats} repeats\n")
    print("| stage | p50 (ms) | p95 (ms) |\n| --- | --- | --- |")
    for name, (p50, p95) in rows:
        print(f"| {name} | {p50:.2f} | {p95:.2f} |")
    print(f"| **sum of the p50s** | **{total:.2f}** | |")
    for name, (p50, p95) in lean[1:]:
        print(f"| {name} | {p50:.2f} | {p95:.2f} |")
    print(f"| **sum of the p50s, no marker subscriber** (conversion + the two rows above) | **{lean_total:.2f}** | |\n")
    def one_round() -> None:
        convert()
        build()
        publish()

    print(f"cProfile of conversion + building + publishing, {args.repeats} rounds, by own time (s):")
    print(profile_table(one_round, args.repeats, args.top))
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
