"""The whole system without hardware: demo camera -> cleanpose_node -> poses vs ground truth.

Runs three ROS nodes in one process (the demo camera publishing generated scenes, the pose
node with the shipped weights, and an observer), prints every object's estimated pose with its
error against the ground truth, and writes the colour image with the estimated boxes and axes
(category colours; ground truth in white) to disk.

Usage: cleanpose-demo [--frames 3] [--weights weights/cleanpose_lite.pt] [--engine torch|onnx|triton]
                      [--triton-url 127.0.0.1:8001] [--output cleanpose_demo.png]
       cleanpose-demo --tracking [--frames 60]

--tracking: the demo camera plays a hand-held camera circling one table (`--frames` frames) with the
segmenter's instance ids renumbered every frame, the node tracks; printed: the track names it kept
(against the ids it was given), the frame-to-frame jitter and the accuracy raw vs tracked
(tools/demo_tracking.py), and the last frame drawn with the tracked poses.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..resources import ensure_fastdds_profile


@dataclass(frozen=True)
class ObjectReport:
    instance_id: int
    category: str
    score: float
    translation: np.ndarray
    size: np.ndarray
    rotation_error_deg: float  # y-axis angle for bottle/bowl/can (NOCS protocol); full angle otherwise
    translation_error_cm: float
    size_error_cm: float


@dataclass(frozen=True)
class FrameReport:
    stamp_ns: int
    objects: tuple[ObjectReport, ...]
    missed: tuple[tuple[int, str], ...]  # ground-truth objects without an estimate
    latency_ms: float


def compare(poses: Sequence, truth: Sequence) -> tuple[list[ObjectReport], list[tuple[int, str]]]:
    """Match estimates and ground truth (both PoseEstimate) by instance id and measure errors."""
    from ..metrics.pose_errors import rotation_error_deg, size_error_cm, translation_error_cm, uses_y_symmetry

    truth_by_id = {t.instance_id: t for t in truth}
    reports = []
    for p in poses:
        gt = truth_by_id.get(p.instance_id)
        if gt is None:
            continue
        reports.append(ObjectReport(
            p.instance_id, p.category, p.score, p.translation, p.size,
            float(rotation_error_deg(p.rotation, gt.rotation, uses_y_symmetry(gt.category))),
            float(translation_error_cm(p.translation, gt.translation)), float(size_error_cm(p.size, gt.size))))
    seen = {p.instance_id for p in poses}
    return reports, [(t.instance_id, t.category) for t in truth if t.instance_id not in seen]


def poses_from_detections(msg) -> list:
    """Detection3DArray -> PoseEstimate list (instance id from `id`)."""
    from ..core.geometry import quaternion_to_rotation
    from ..core.types import PoseEstimate

    out = []
    for det in msg.detections:
        hyp = det.results[0]
        c = det.bbox.center
        out.append(PoseEstimate(
            instance_id=int(det.id), category=hyp.hypothesis.class_id, score=float(hyp.hypothesis.score),
            rotation=quaternion_to_rotation([c.orientation.x, c.orientation.y, c.orientation.z, c.orientation.w]),
            translation=np.array([c.position.x, c.position.y, c.position.z]),
            size=np.array([det.bbox.size.x, det.bbox.size.y, det.bbox.size.z])))
    return out


def print_report(index: int, report: FrameReport) -> None:
    print(f"frame {index}: stamp {report.stamp_ns / 1e9:.3f} s, {len(report.objects)} poses, "
          f"latency {report.latency_ms:.0f} ms")
    print(f"  {'id':>3} {'category':<8} {'score':>5} {'x':>7} {'y':>7} {'z':>7}  {'size (cm)':<17}"
          f" {'rot err':>8} {'trans err':>9} {'size err':>8}")
    for o in report.objects:
        size = "x".join(f"{100 * v:.1f}" for v in o.size)
        print(f"  {o.instance_id:>3} {o.category:<8} {o.score:5.2f} {o.translation[0]:7.3f} {o.translation[1]:7.3f}"
              f" {o.translation[2]:7.3f}  {size:<17} {o.rotation_error_deg:6.1f}deg {o.translation_error_cm:6.1f}cm"
              f" {o.size_error_cm:6.1f}cm")
    for instance_id, category in report.missed:
        print(f"  {instance_id:>3} {category:<8} (no estimate)")


def draw_frame(rgb: np.ndarray, intrinsics, poses: Sequence, truth: Sequence, path: Path, label=None) -> None:  # noqa: ANN001
    from PIL import Image as PILImage, ImageDraw

    from ..data.overview import draw_pose
    from ..ros.outputs import CATEGORY_COLORS

    image = PILImage.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    for t in truth:
        draw_pose(draw, intrinsics, t.rotation, t.translation, t.size, (255, 255, 255))
    for p in poses:
        colour = tuple(int(255 * c) for c in CATEGORY_COLORS.get(p.category, (0.6, 0.6, 0.6, 1.0))[:3])
        draw_pose(draw, intrinsics, p.rotation, p.translation, p.size, colour,
                  label(p) if label else f"{p.category} {p.score:.2f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=None,
                        help="distinct scenes to report before stopping (default 3); with --tracking the frames of the "
                             "sequence (default 60)")
    parser.add_argument("--weights", default="", help="weights file; default: the shipped weights/cleanpose_lite.pt")
    parser.add_argument("--engine", choices=("torch", "onnx", "triton"), default="onnx",
                        help="triton: the network on a Triton server (scripts/demo.sh --engine triton starts one)")
    parser.add_argument("--triton-url", default="127.0.0.1:8001", help="with --engine triton: the server's gRPC host:port")
    parser.add_argument("--triton-model", default="cleanpose_lite", help="with --engine triton: the model name on the server")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scenes", type=int, default=4, help="generated scenes the demo camera cycles")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated scenes")
    parser.add_argument("--rate", type=float, default=15.0, help="demo camera frame rate, Hz")
    parser.add_argument("--output", type=Path, default=Path("cleanpose_demo.png"), help="image with the drawn poses")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    parser.add_argument("--tracking", action="store_true",
                        help="a moving camera over one table with renumbered segmenter ids, the node tracking")
    args = parser.parse_args(argv)
    if args.tracking:  # one sequence of --frames frames, every frame reported
        args.scenes = args.frames = args.frames or 60
        args.timeout = max(args.timeout, 240.0)
    args.frames = args.frames or 3
    if args.frames > args.scenes:
        parser.error(f"--frames {args.frames} needs at least as many --scenes (got {args.scenes})")
    ensure_fastdds_profile()

    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection3DArray

    from ..core.errors import ConfigError, EngineError, WeightsError
    from ..interop.converters import image_to_rgb, stamp_to_ns
    from ..ros.demo_camera import TOPIC_CAMERA_POSE, TOPIC_GROUND_TRUTH, DemoCamera
    from ..ros.node import TOPIC_POSES, TOPIC_POSES_RAW, CleanPoseNode

    rclpy.init(args=[])
    nodes: list[Node] = []
    try:
        # The pose node first: a missing weights file is reported before any rendering.
        print("loading the pose node ...", flush=True)
        pose_node = CleanPoseNode(parameter_overrides=[
            Parameter("inference.weights", value=args.weights), Parameter("inference.engine", value=args.engine),
            Parameter("inference.device", value=args.device), Parameter("health.log_period_s", value=0.0),
            Parameter("inference.triton.url", value=args.triton_url), Parameter("inference.triton.model", value=args.triton_model),
            Parameter("tracking.enabled", value=args.tracking),
            # the demo camera knows where it is (odometry): the tracker filters in the table's frame
            Parameter("tracking.camera_pose_topic", value=TOPIC_CAMERA_POSE if args.tracking else "")])
        nodes.append(pose_node)
        print(f"rendering {args.scenes} demo {'frames of one sequence' if args.tracking else 'scenes'} ...", flush=True)
        camera = DemoCamera(parameter_overrides=[
            Parameter("scenes", value=args.scenes), Parameter("seed", value=args.seed),
            Parameter("rate_hz", value=float(args.rate)), Parameter("sequence", value=args.tracking),
            Parameter("shuffle_ids", value=args.tracking)])
        nodes.append(camera)
    except (ConfigError, EngineError, WeightsError) as e:  # EngineError: no Triton server (--engine triton)
        print(f"cleanpose-demo: cannot start: {e}", file=sys.stderr)
        for n in nodes:
            n.destroy_node()
        rclpy.try_shutdown()
        return 2

    observer = Node("cleanpose_demo_observer")
    nodes.append(observer)
    reliable = QoSProfile(depth=30, reliability=ReliabilityPolicy.RELIABLE)
    truth: OrderedDict[int, list] = OrderedDict()
    colour: OrderedDict[int, Image] = OrderedDict()
    reports: list[tuple[FrameReport, Image, list, list]] = []
    reported_scenes: set[tuple] = set()
    done = threading.Event()

    def remember(store: OrderedDict, key: int, value: object, keep: int = 90) -> None:
        store[key] = value
        while len(store) > keep:
            store.popitem(last=False)

    def on_poses(msg: Detection3DArray) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        if stamp not in truth or stamp not in colour or done.is_set():
            return
        # The camera cycles a few scenes: report each scene once.
        scene_key = tuple((t.instance_id, t.category, *np.round(t.translation, 3)) for t in truth[stamp])
        if scene_key in reported_scenes:
            return
        reported_scenes.add(scene_key)
        poses = poses_from_detections(msg)
        objects, missed = compare(poses, truth[stamp])
        latency = (observer.get_clock().now().nanoseconds - stamp) / 1e6
        reports.append((FrameReport(stamp, tuple(objects), tuple(missed), latency), colour[stamp], poses, truth[stamp]))
        print_report(len(reports), reports[-1][0])
        if len(reports) >= args.frames:
            done.set()

    observer.create_subscription(Detection3DArray, TOPIC_GROUND_TRUTH,
                                 lambda m: remember(truth, stamp_to_ns(m.header.stamp), poses_from_detections(m)), reliable)
    observer.create_subscription(Image, "color/image_raw", lambda m: remember(colour, stamp_to_ns(m.header.stamp), m),
                                 reliable)
    tracked_frames: list = []
    raw_by_stamp: OrderedDict[int, list] = OrderedDict()

    def on_tracked(msg: Detection3DArray) -> None:
        from .demo_tracking import TrackedFrame

        stamp = stamp_to_ns(msg.header.stamp)
        if stamp not in truth or stamp not in raw_by_stamp or done.is_set():
            return
        tracked_frames.append(TrackedFrame(stamp, tuple(truth[stamp]), tuple(raw_by_stamp[stamp]),
                                           tuple(poses_from_detections(msg))))
        if stamp in colour:
            reports[:] = [(FrameReport(stamp, (), (), 0.0), colour[stamp], list(tracked_frames[-1].tracked), truth[stamp])]
        if len(tracked_frames) % 10 == 0:
            print(f"  {len(tracked_frames)} tracked frames ...", flush=True)
        if len(tracked_frames) >= args.frames:
            done.set()

    if args.tracking:
        observer.create_subscription(Detection3DArray, TOPIC_POSES_RAW,
                                     lambda m: remember(raw_by_stamp, stamp_to_ns(m.header.stamp), poses_from_detections(m)),
                                     reliable)
        observer.create_subscription(Detection3DArray, TOPIC_POSES, on_tracked, reliable)
    else:
        observer.create_subscription(Detection3DArray, TOPIC_POSES, on_poses, reliable)

    executor = SingleThreadedExecutor()
    for n in nodes:
        executor.add_node(n)
    deadline = time.monotonic() + args.timeout
    try:
        while not done.is_set() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        pose_node.close()
        summary = pose_node.health.snapshot()
        for n in nodes:
            n.destroy_node()
        executor.shutdown()
        rclpy.try_shutdown()

    if not reports:
        print(f"cleanpose-demo: no poses within {args.timeout:.0f} s; node status: {summary.summary()}", file=sys.stderr)
        return 1
    if args.tracking:
        from .demo_tracking import print_summary, summarise

        print_summary(summarise(tracked_frames))
    objects = [o for r, *_ in reports for o in r.objects]
    if objects:
        rot = np.array([o.rotation_error_deg for o in objects])
        trans = np.array([o.translation_error_cm for o in objects])
        within = np.mean((rot <= 10.0) & (trans <= 5.0))
        print(f"summary: {len(objects)} poses in {len(reports)} frames; median rotation error {np.median(rot):.1f} deg,"
              f" median translation error {np.median(trans):.1f} cm, {100 * within:.0f}% within 10deg/5cm")
    print(f"node: {summary.summary()}")
    report, colour_msg, poses, truth_poses = reports[-1]
    intrinsics = camera.scenes[0].intrinsics
    track_name = (lambda p: f"cleanpose_{p.category}_{p.instance_id}") if args.tracking else None
    draw_frame(image_to_rgb(colour_msg), intrinsics, poses, truth_poses, args.output, label=track_name)
    print(f"wrote {args.output} (estimates in category colours, ground truth in white)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
