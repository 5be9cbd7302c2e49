"""cleanpose_node: synchronised RGB-D + instance masks in, 6D poses + sizes + TF + markers out.

Threads: the executor thread runs the subscriptions, the synchroniser and the timers; it only
hands synchronised messages to a size-1 latest-wins slot and returns. ONE worker thread takes
the newest frame, converts it, runs the pipeline and publishes. A slow model therefore drops
frames (counted) instead of building latency.

Several cameras, one process (`cameras: [cam0, cam1, ...]`): each camera has its own inputs and
outputs under its name (`cam0/color/image_raw` -> `cam0/pose_estimation/detections`), its own
synchroniser, slot, markers and tracker; the worker takes the newest frame of every camera that
has one and runs all their objects through ONE engine call (Pipeline.run_many). TF and
/diagnostics are shared (the counters add up over the cameras).

Bad input never crashes the node and never yields a pose: every problem becomes an InputError
reason, a counter in /diagnostics and a log line throttled per reason. So does an engine that cannot
answer (a Triton server down, late or wrong: EngineError): the frames of that call are refused under its
reason and nothing is published for them; the engine reconnects by itself.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
import traceback
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection2DArray, Detection3DArray
from visualization_msgs.msg import MarkerArray

from ..core.errors import EngineError, InputError
from ..core.geometry import backproject, quaternion_to_rotation
from ..core.pipeline import Pipeline
from ..core.tracker import Tracker
from ..core.types import CameraIntrinsics, Frame, FrameResult, Instance, PoseEstimate
from ..interop import converters
from .diagnostics import HealthMonitor, diagnostic_array
from .latest_slot import LatestPerKey
from .outputs import MarkerStyle, MarkerTracker, detection_array, object_points_cloud, tf_message
from .node_pipeline import SHIPPED_WEIGHTS, build_pipeline, resolve_weights  # noqa: F401 (re-exported)
from .params import NodeConfig, declare_config, undeclared_parameters
from .process import run_node
from ..interop.sync import ApproximateTimeSync, StampOrder

NODE_NAME = "cleanpose_node"

# Input topics (relative: remap them per camera) and the synchroniser's names for them.
TOPIC_COLOR = "color/image_raw"
TOPIC_DEPTH = "depth/image_raw"
TOPIC_INFO = "color/camera_info"
TOPIC_MASK = "segmentation/mask"
TOPIC_DETECTIONS = "segmentation/detections"
# Outputs.
TOPIC_POSES = "pose_estimation/detections"
TOPIC_MARKERS = "pose_estimation/markers"
TOPIC_POINTS = "pose_estimation/object_points"
TOPIC_POSES_RAW = "pose_estimation/detections_raw"  # per-frame estimates, only while tracking is on


@dataclass(frozen=True)
class SyncedInputs:
    """One synchronised set of messages waiting for the worker."""

    color: Image
    depth: Image
    mask: Image
    detections: Detection2DArray | None
    stamp_ns: int


def input_qos(kind: str, depth: int) -> QoSProfile:
    """'sensor_data': best effort (accepts reliable and best-effort publishers); 'reliable'."""
    reliability = ReliabilityPolicy.BEST_EFFORT if kind == "sensor_data" else ReliabilityPolicy.RELIABLE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)


class CleanPoseNode(Node):
    def __init__(self, pipeline: Pipeline | None = None, **node_kwargs: Any) -> None:
        """`pipeline`: use this one instead of loading `inference.weights` (tools that share one)."""
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self.config = declare_config(self, NodeConfig)
            self.pipeline = pipeline if pipeline is not None else build_pipeline(self.config)
        except Exception:
            self.destroy_node()
            raise
        cfg = self.config
        unknown = undeclared_parameters(self)
        if unknown:
            self.get_logger().warning(f"ignoring parameters this node does not have (misspelt?): {unknown}; "
                                      "`ros2 param list` shows the valid names")
        self.health = HealthMonitor()
        self._categories = tuple(self.pipeline.config.categories)
        self._rng = np.random.default_rng(cfg.inference.seed)
        self._pub_tf = self.create_publisher(TFMessage, "/tf", QoSProfile(depth=100)) if cfg.output.publish_tf else None
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", QoSProfile(depth=10))
        self._slots: LatestPerKey[SyncedInputs] = LatestPerKey()
        self._cameras = [_Camera(self, name, index) for index, name in enumerate(cfg.cameras)]
        synced = self._cameras[0].synced
        self._worker = threading.Thread(target=self._work, name="cleanpose_worker", daemon=True)
        self._worker.start()
        # Health timers run on the steady clock: with use_sim_time and no /clock the node's ROS clock stands
        # still at 0, and timers on it would never fire, so /diagnostics and the status log would go silent.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(cfg.health.diagnostics_period_s, self._publish_diagnostics, clock=steady)
        if cfg.health.log_period_s > 0:
            self.create_timer(cfg.health.log_period_s, self._log_status, clock=steady)
        engine = self.pipeline.engine.info
        note = getattr(self.pipeline.engine, "fallback_note", None)
        if note:
            self.get_logger().warning(f"inference.device_fallback: {note}")
        runs_on = (f"{cfg.inference.engine}/{cfg.inference.device}" if cfg.inference.engine != "triton"
                   else f"triton (model {cfg.inference.triton.model!r} at {cfg.inference.triton.url})")
        self.get_logger().info(
            f"ready: model {engine.name!r} on {runs_on}, categories "
            f"{list(self.pipeline.config.enabled_categories)}, inputs {synced} + camera_info"
            f"{'' if cfg.cameras == ('',) else f' of each camera {list(cfg.cameras)}'} "
            f"(slop {cfg.sync.slop_ms} ms, {cfg.sync.input_qos}), max age {cfg.sync.max_age_ms} ms")

    # ------------------------------------------------------------------ executor thread

    def _clock_problem(self) -> str:
        """Why the node's clock cannot be trusted right now ("" when it can)."""
        if self.get_clock().clock_type == ClockType.ROS_TIME and self.get_clock().now().nanoseconds == 0:
            return "use_sim_time is true but no /clock has been received: stamps and ages cannot be judged"
        return ""

    def _publish_diagnostics(self) -> None:
        self.health.set_dropped("unmatched", sum(c.sync.unmatched for c in self._cameras))
        problem = self._clock_problem()
        now_ns = self.get_clock().now().nanoseconds or time.time_ns()  # a /diagnostics stamp even without /clock
        msg = diagnostic_array(self.health.snapshot(), f"{self.get_fully_qualified_name()}: pose estimation",
                               f"{self.config.inference.engine}/{self.config.inference.device}",
                               now_ns, self.config.health.min_rate_hz, problem)
        self._pub_diag.publish(msg)

    def _log_status(self) -> None:
        problem = self._clock_problem()
        if problem:
            self.get_logger().warning(problem)
        snapshot = self.health.snapshot()
        if snapshot.input_rate_hz > 0:
            self.get_logger().info(snapshot.summary())
            return
        # The usual start-up problem is a topic that is not remapped or stamps that never agree:
        # say which topics deliver at all.
        received = "; ".join(
            (f"{c.name}: " if c.name else "") + ", ".join(f"{t} {n}" for t, n in c.sync.received.items())
            + f", camera_info {'yes' if c.camera_infos else 'none'}" for c in self._cameras)
        self.get_logger().warning(
            f"no synchronised input in the last {self.health.window_s:.0f} s; messages received so far: {received}"
            f" (check the topic remapping, and that"
            f" the stamps of one frame agree within sync.slop_ms = {self.config.sync.slop_ms} ms); {snapshot.summary()}")

    def _reject(self, reason: str, detail: str, count: int = 1) -> None:
        self.health.note_rejected(reason, count)
        if self.health.should_log(reason, 5.0):
            self.get_logger().warning(f"input refused ({reason}): {detail}")

    # ------------------------------------------------------------------ worker thread

    def _work(self) -> None:
        while not self._slots.closed:
            items = self._slots.take_all(timeout_s=0.5)
            if not items:
                continue
            try:
                self._process([(self._cameras[index], item) for index, item in items])
            except Exception:  # a bug must not kill the worker: count it and keep serving
                if not self.context.ok():
                    return  # shutting down under us: publishers are gone, nothing to report
                self.health.note_error()
                if self.health.should_log("exception", 5.0):
                    self.get_logger().error(f"unexpected error while processing a frame:\n{traceback.format_exc()}")

    def _process(self, items: Sequence[tuple["_Camera", SyncedInputs]]) -> None:
        """The newest frame of each camera that has one: convert each (a refused frame is counted and
        skipped, the other cameras go on), one pipeline call for all their objects, publish each."""
        start = time.perf_counter()
        ready: list[tuple[_Camera, SyncedInputs, Frame, list[Instance]]] = []
        for camera, item in items:
            try:
                frame, instances, refused = camera.convert(item)
            except InputError as e:
                self._reject(e.reason, (f"{camera.name}: " if camera.name else "") + str(e))
                continue
            for instance_id, reason in refused:
                self._reject(reason, f"instance {instance_id} of frame {item.stamp_ns}")
            ready.append((camera, item, frame, instances))
        if not ready:
            return
        work = [(frame, instances) for _, _, frame, instances in ready if instances]
        try:
            results = iter(self.pipeline.run_many(work))
        except EngineError as e:  # no answer for these frames: refused (counted, throttled log), nothing published
            self.health.note_rejected(e.reason, len(work))
            if self.health.should_log(e.reason, 5.0):
                self.get_logger().warning(f"{len(work)} frame(s) refused ({e.reason}): {e}")
            ready = [r for r in ready if not r[3]]  # frames without objects did not need the engine
            results = iter(())
        else:
            if work:
                self.health.note_engine_call(len(work))
        for camera, item, frame, instances in ready:
            result = next(results) if instances else FrameResult(poses=())
            for instance_id, reason in result.rejected:
                self._reject(reason, f"instance {instance_id} of frame {item.stamp_ns}")
            camera.publish(frame, instances, result)
            latency_ms = (self.get_clock().now().nanoseconds - item.stamp_ns) / 1e6
            self.health.note_output(latency_ms, 1e3 * (time.perf_counter() - start))

    def _check_age(self, stamp_ns: int) -> None:
        max_age_ns = int(self.config.sync.max_age_ms * 1e6)
        age_ns = self.get_clock().now().nanoseconds - stamp_ns
        if max_age_ns > 0 and age_ns > max_age_ns:
            raise InputError("stale", f"frame is {age_ns / 1e6:.0f} ms old (max_age_ms {self.config.sync.max_age_ms})")
        max_future_ns = int(self.config.sync.max_future_ms * 1e6)
        if max_future_ns > 0 and -age_ns > max_future_ns:
            raise InputError("future_stamp", f"frame is stamped {-age_ns / 1e6:.0f} ms ahead of the node's clock "
                             f"(max_future_ms {self.config.sync.max_future_ms}): is the camera's clock set?")

    def _object_points(self, frame: Frame, instances: Sequence[Instance], result: FrameResult
                       ) -> list[tuple[int, np.ndarray]]:
        """Valid depth points of each posed instance, subsampled: what the network looked at."""
        by_id = {i.instance_id: i for i in instances}
        pre = self.pipeline.config.preprocess
        clouds = []
        for pose in result.poses:
            pts, _ = backproject(frame.depth_m, frame.intrinsics, by_id[pose.instance_id].mask)
            pts = pts[(pts[:, 2] >= pre.min_depth_m) & (pts[:, 2] <= pre.max_depth_m)]
            n = self.config.output.points_per_object
            if len(pts) > n:
                pts = pts[self._rng.choice(len(pts), n, replace=False)]
            clouds.append((pose.instance_id, pts))
        return clouds

    # ------------------------------------------------------------------ shutdown

    def close(self) -> None:
        """Stop the worker (it finishes the frame in hand)."""
        self._slots.close()
        self._worker.join(timeout=10.0)


class _Camera:
    """One camera's inputs and outputs inside the node: topics under its name, its synchroniser,
    stamp order, camera infos, markers and tracker. Callbacks run on the executor thread; `convert`
    and `publish` on the worker."""

    def __init__(self, node: CleanPoseNode, name: str, index: int) -> None:
        cfg = node.config
        self.node, self.name, self.index = node, name, index
        prefix = f"{name}/" if name else ""
        # Recent camera infos: the worker picks the one stamped like the frame (it may arrive
        # after the images), else the newest, so intrinsics are never a sync requirement.
        self.camera_infos: deque[CameraInfo] = deque(maxlen=16)
        self._intrinsics_cache: tuple[CameraInfo, CameraIntrinsics | InputError] | None = None
        self._order = StampOrder()
        self._markers = MarkerTracker(MarkerStyle(line_width_m=cfg.output.marker_line_width_m,
                                                  text_height_m=cfg.output.marker_text_height_m))
        out_qos = QoSProfile(depth=cfg.output.output_depth, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
        self._pub_poses = node.create_publisher(Detection3DArray, prefix + TOPIC_POSES, out_qos)
        self._pub_markers = (node.create_publisher(MarkerArray, prefix + TOPIC_MARKERS, out_qos)
                             if cfg.output.publish_markers else None)
        self._pub_points = (node.create_publisher(PointCloud2, prefix + TOPIC_POINTS, out_qos)
                            if cfg.output.publish_points else None)
        # with tracking, detections / TF / markers are keyed by track (stable names while the segmenter renumbers)
        self._tracker = Tracker(cfg.tracking.tracker_config()) if cfg.tracking.enabled else None
        self._pub_raw = (node.create_publisher(Detection3DArray, prefix + TOPIC_POSES_RAW, out_qos)
                         if self._tracker else None)
        # the camera's pose in a fixed frame (odometry): the tracker then filters there (core/tracker.py)
        self._camera_poses: deque[PoseStamped] = deque(maxlen=64)
        pose_topic = cfg.tracking.camera_pose_topic
        self._uses_camera_pose = bool(self._tracker is not None and pose_topic)
        if self._uses_camera_pose:
            name = pose_topic if pose_topic.startswith("/") else prefix + pose_topic
            node.create_subscription(PoseStamped, name, lambda m: self._camera_poses.append(m),
                                     input_qos(cfg.sync.input_qos, 50))
        self.synced = ["color", "depth", "mask"] + (["detections"] if cfg.use_detections else [])
        self.sync = ApproximateTimeSync(self.synced, int(cfg.sync.slop_ms * 1e6), cfg.sync.queue_size, self._on_synced)
        in_qos = input_qos(cfg.sync.input_qos, cfg.sync.input_depth)
        node.create_subscription(Image, prefix + TOPIC_COLOR, lambda m: self._on_message("color", m), in_qos)
        node.create_subscription(Image, prefix + TOPIC_DEPTH, lambda m: self._on_message("depth", m), in_qos)
        node.create_subscription(Image, prefix + TOPIC_MASK, lambda m: self._on_message("mask", m), in_qos)
        if cfg.use_detections:
            node.create_subscription(Detection2DArray, prefix + TOPIC_DETECTIONS,
                                     lambda m: self._on_message("detections", m), in_qos)
        # a lambda, not deque.append: rclpy inspects the callback's signature, which builtins lack
        node.create_subscription(CameraInfo, prefix + TOPIC_INFO, lambda m: self.camera_infos.append(m), in_qos)

    # ------------------------------------------------------------------ executor thread

    def _on_message(self, topic: str, msg: Any) -> None:
        self.sync.add(topic, converters.stamp_to_ns(msg.header.stamp), msg)

    def _on_synced(self, msgs: dict[str, Any], stamp_ns: int) -> None:
        node = self.node
        node.health.note_input()
        node.health.set_dropped("unmatched", sum(c.sync.unmatched for c in node._cameras))
        last_ns, resets = self._order.last_ns, self._order.resets
        if not self._order.accept(stamp_ns, node.get_clock().now().nanoseconds):
            node._reject("out_of_order", f"frame stamp {stamp_ns} is not newer than {last_ns}")
            return
        if self._order.resets > resets:
            node.get_logger().info(f"time went back (stamp {stamp_ns} after {last_ns}): frame order restarted")
        item = SyncedInputs(color=msgs["color"], depth=msgs["depth"], mask=msgs["mask"],
                            detections=msgs.get("detections"), stamp_ns=stamp_ns)
        if node._slots.put(self.index, item) is not None:
            node.health.note_dropped("superseded")

    # ------------------------------------------------------------------ worker thread

    def _stamped_like(self, messages: deque, stamp_ns: int) -> tuple[Any, bool] | None:
        """(message stamped closest to `stamp_ns`, whether within sync.slop_ms), None when there is none.
        Reads a copy: the executor thread appends meanwhile."""
        recent = list(messages)
        if not recent:
            return None
        closest = min(recent, key=lambda m: abs(converters.stamp_to_ns(m.header.stamp) - stamp_ns))
        return closest, abs(converters.stamp_to_ns(closest.header.stamp) - stamp_ns) <= int(self.node.config.sync.slop_ms * 1e6)

    def _camera_info_for(self, stamp_ns: int) -> CameraInfo | None:
        """The camera info stamped like the frame, else the newest (drivers send it at their own rate)."""
        found = self._stamped_like(self.camera_infos, stamp_ns)
        if found is None:
            return None
        closest, within = found
        return closest if within else self.camera_infos[-1]

    def _intrinsics(self, info: CameraInfo | None) -> CameraIntrinsics:
        """CameraInfo -> intrinsics, converted once per distinct message (drivers resend the same)."""
        if info is None:
            raise InputError("missing_camera_info", f"no camera info received on {TOPIC_INFO} yet")
        cached = self._intrinsics_cache
        if cached is None or cached[0] is not info:
            try:
                result: CameraIntrinsics | InputError = converters.camera_info_to_intrinsics(info)
            except InputError as e:
                result = e
            self._intrinsics_cache = cached = (info, result)
        if isinstance(cached[1], InputError):
            raise cached[1]
        return cached[1]

    def _world_from_camera(self, stamp_ns: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(R, t) of the camera pose stamped closest to the frame, within sync.slop_ms; None without one."""
        found = self._stamped_like(self._camera_poses, stamp_ns)
        if found is None or not found[1]:
            return None
        closest = found[0]
        p, q = closest.pose.position, closest.pose.orientation
        quaternion = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
        translation = np.array([p.x, p.y, p.z], dtype=np.float64)
        norm = float(np.linalg.norm(quaternion))
        if not (np.isfinite(quaternion).all() and np.isfinite(translation).all() and 0.5 < norm < 1.5):
            return None  # not a pose: counted as missing rather than moving every track
        return quaternion_to_rotation(quaternion), translation

    def convert(self, item: SyncedInputs) -> tuple[Frame, list[Instance], list[tuple[int, str]]]:
        """Messages -> frame, instances and refused instances; InputError when the frame is unusable."""
        self.node._check_age(item.stamp_ns)
        frame = converters.frame_from_messages(item.color, item.depth, self._intrinsics(self._camera_info_for(item.stamp_ns)))
        mask = converters.image_to_mask(item.mask)
        categories = self.node._categories
        if item.detections is not None:
            instances, refused = converters.instances_from_detections(mask, item.detections, frame.shape, categories)
        else:
            instances, refused = converters.instances_from_category_mask(mask, frame.shape, categories)
        return frame, instances, refused

    def publish(self, frame: Frame, instances: Sequence[Instance], result: FrameResult) -> None:
        node = self.node
        out = node.config.output
        frame_id = out.frame_id or frame.frame_id
        if not frame_id.strip():
            frame_id = out.fallback_frame_id
            if node.health.should_log("empty_frame_id", 5.0):
                node.get_logger().warning(f"the colour image has an empty header.frame_id and output.frame_id is not set: "
                                          f"publishing in {frame_id!r} (output.fallback_frame_id)")
        stamp = frame.stamp_ns
        poses: Sequence[PoseEstimate] = result.poses
        if self._tracker is not None and self._pub_raw is not None:
            self._pub_raw.publish(detection_array(result.poses, stamp, frame_id))
            world_from_camera = self._world_from_camera(stamp) if self._uses_camera_pose else None
            if self._uses_camera_pose and world_from_camera is None:
                # no pose for this frame: the tracks cannot be moved into it, so nothing tracked is published
                node._reject("missing_camera_pose", f"no camera pose on {node.config.tracking.camera_pose_topic} within "
                             f"sync.slop_ms of frame {stamp} (tracked outputs skipped, raw published)")
                return
            self._tracker.update(result.poses, world_from_camera=world_from_camera)
            poses = self._tracker.confirmed()  # instance_id = track id
        self._pub_poses.publish(detection_array(poses, stamp, frame_id))
        if node._pub_tf is not None and poses:
            node._pub_tf.publish(tf_message(poses, stamp, frame_id, out.tf_prefix))
        # Markers and object points are for viewers: built only while someone subscribes (building the
        # markers of 5 objects costs ~0.9 ms of rosidl message construction, half the node's own I/O time).
        # Arrays sent before a subscriber is matched are lost, so the tracker starts over with a
        # DELETEALL whenever one (re)appears.
        if self._pub_markers is not None:
            if self._pub_markers.get_subscription_count() > 0:
                self._pub_markers.publish(self._markers.build(poses, stamp, frame_id))
            else:
                self._markers.reset()
        if self._pub_points is not None and self._pub_points.get_subscription_count() > 0:
            self._pub_points.publish(object_points_cloud(node._object_points(frame, instances, result), stamp, frame_id))


def main(argv: Sequence[str] | None = None) -> int:
    def stop(node: CleanPoseNode) -> None:
        node.close()
        node.get_logger().info(f"shutting down: {node.health.snapshot().summary()}")

    return run_node(CleanPoseNode, NODE_NAME, argv, before_destroy=stop)


if __name__ == "__main__":
    sys.exit(main())
