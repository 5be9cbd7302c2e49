"""cleanpose_node: synchronised RGB-D + instance masks in, 6D poses + sizes + TF + markers out.

Threads: the executor thread runs the subscriptions, the synchroniser and the timers; it only
hands synchronised messages to a size-1 latest-wins slot and returns. ONE worker thread takes
the newest frame, converts it, runs the pipeline and publishes. A slow model therefore drops
frames (counted) instead of building latency.

Bad input never crashes the node and never yields a pose: every problem becomes an InputError
reason, a counter in /diagnostics and a log line throttled per reason.
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
import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection2DArray, Detection3DArray
from visualization_msgs.msg import MarkerArray

from ..core.errors import CleanPoseError, ConfigError, InputError, WeightsError
from ..core.geometry import backproject
from ..core.pipeline import Pipeline
from ..core.tracker import Tracker
from ..core.types import CameraIntrinsics, Frame, FrameResult, Instance, PoseEstimate
from ..resources import ensure_fastdds_profile
from . import converters
from .diagnostics import HealthMonitor, diagnostic_array
from .latest_slot import LatestSlot
from .outputs import MarkerStyle, MarkerTracker, detection_array, object_points_cloud, tf_message
from .node_pipeline import SHIPPED_WEIGHTS, build_pipeline, resolve_weights  # noqa: F401 (re-exported)
from .params import NodeConfig, declare_config, undeclared_parameters
from .process import init_rclpy_keeping_context_on_signals
from .sync import ApproximateTimeSync, StampOrder

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
        # Recent camera infos: the worker picks the one stamped like the frame (it may arrive
        # after the images), else the newest, so intrinsics are never a sync requirement.
        self._camera_infos: deque[CameraInfo] = deque(maxlen=16)
        self._order = StampOrder()
        self._rng = np.random.default_rng(cfg.inference.seed)
        self._markers = MarkerTracker(MarkerStyle(line_width_m=cfg.output.marker_line_width_m,
                                                  text_height_m=cfg.output.marker_text_height_m))
        self._intrinsics_cache: tuple[CameraInfo, CameraIntrinsics | InputError] | None = None

        out_qos = QoSProfile(depth=cfg.output.output_depth, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.VOLATILE)
        self._pub_poses = self.create_publisher(Detection3DArray, TOPIC_POSES, out_qos)
        self._pub_tf = self.create_publisher(TFMessage, "/tf", QoSProfile(depth=100)) if cfg.output.publish_tf else None
        self._pub_markers = self.create_publisher(MarkerArray, TOPIC_MARKERS, out_qos) if cfg.output.publish_markers else None
        self._pub_points = self.create_publisher(PointCloud2, TOPIC_POINTS, out_qos) if cfg.output.publish_points else None
        # with tracking, detections / TF / markers are keyed by track (stable names while the segmenter renumbers)
        self._tracker = Tracker(cfg.tracking.tracker_config()) if cfg.tracking.enabled else None
        self._pub_raw = self.create_publisher(Detection3DArray, TOPIC_POSES_RAW, out_qos) if self._tracker else None
        self._pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", QoSProfile(depth=10))

        synced = ["color", "depth", "mask"] + (["detections"] if cfg.use_detections else [])
        self._sync = ApproximateTimeSync(synced, int(cfg.sync.slop_ms * 1e6), cfg.sync.queue_size, self._on_synced)
        in_qos = input_qos(cfg.sync.input_qos, cfg.sync.input_depth)
        self.create_subscription(Image, TOPIC_COLOR, lambda m: self._on_message("color", m), in_qos)
        self.create_subscription(Image, TOPIC_DEPTH, lambda m: self._on_message("depth", m), in_qos)
        self.create_subscription(Image, TOPIC_MASK, lambda m: self._on_message("mask", m), in_qos)
        if cfg.use_detections:
            self.create_subscription(Detection2DArray, TOPIC_DETECTIONS, lambda m: self._on_message("detections", m), in_qos)
        self.create_subscription(CameraInfo, TOPIC_INFO, self._on_camera_info, in_qos)

        self._slot: LatestSlot[SyncedInputs] = LatestSlot()
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
        self.get_logger().info(
            f"ready: model {engine.name!r} on {cfg.inference.engine}/{cfg.inference.device}, categories "
            f"{list(self.pipeline.config.enabled_categories)}, inputs {synced} + camera_info "
            f"(slop {cfg.sync.slop_ms} ms, {cfg.sync.input_qos}), max age {cfg.sync.max_age_ms} ms")

    # ------------------------------------------------------------------ executor thread

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_infos.append(msg)

    def _on_message(self, topic: str, msg: Any) -> None:
        self._sync.add(topic, converters.stamp_to_ns(msg.header.stamp), msg)

    def _on_synced(self, msgs: dict[str, Any], stamp_ns: int) -> None:
        self.health.note_input()
        self.health.set_dropped("unmatched", self._sync.unmatched)
        last_ns, resets = self._order.last_ns, self._order.resets
        if not self._order.accept(stamp_ns, self.get_clock().now().nanoseconds):
            self._reject("out_of_order", f"frame stamp {stamp_ns} is not newer than {last_ns}")
            return
        if self._order.resets > resets:
            self.get_logger().info(f"time went back (stamp {stamp_ns} after {last_ns}): frame order restarted")
        item = SyncedInputs(color=msgs["color"], depth=msgs["depth"], mask=msgs["mask"],
                            detections=msgs.get("detections"), stamp_ns=stamp_ns)
        if self._slot.put(item) is not None:
            self.health.note_dropped("superseded")

    def _clock_problem(self) -> str:
        """Why the node's clock cannot be trusted right now ("" when it can)."""
        if self.get_clock().clock_type == ClockType.ROS_TIME and self.get_clock().now().nanoseconds == 0:
            return "use_sim_time is true but no /clock has been received: stamps and ages cannot be judged"
        return ""

    def _publish_diagnostics(self) -> None:
        self.health.set_dropped("unmatched", self._sync.unmatched)
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
        received = ", ".join(f"{t} {n}" for t, n in self._sync.received.items())
        self.get_logger().warning(
            f"no synchronised input in the last {self.health.window_s:.0f} s; messages received so far: {received},"
            f" camera_info {'yes' if self._camera_infos else 'none'} (check the topic remapping, and that"
            f" the stamps of one frame agree within sync.slop_ms = {self.config.sync.slop_ms} ms); {snapshot.summary()}")

    def _reject(self, reason: str, detail: str, count: int = 1) -> None:
        self.health.note_rejected(reason, count)
        if self.health.should_log(reason, 5.0):
            self.get_logger().warning(f"input refused ({reason}): {detail}")

    # ------------------------------------------------------------------ worker thread

    def _work(self) -> None:
        while not self._slot.closed:
            item = self._slot.take(timeout_s=0.5)
            if item is None:
                continue
            try:
                self._process(item)
            except InputError as e:
                self._reject(e.reason, str(e))
            except Exception:  # a bug must not kill the worker: count it and keep serving
                if not self.context.ok():
                    return  # shutting down under us: publishers are gone, nothing to report
                self.health.note_error()
                if self.health.should_log("exception", 5.0):
                    self.get_logger().error(f"unexpected error while processing a frame:\n{traceback.format_exc()}")

    def _camera_info_for(self, stamp_ns: int) -> CameraInfo | None:
        infos = list(self._camera_infos)  # a copy: the executor thread appends meanwhile
        if not infos:
            return None
        slop_ns = int(self.config.sync.slop_ms * 1e6)
        closest = min(infos, key=lambda m: abs(converters.stamp_to_ns(m.header.stamp) - stamp_ns))
        return closest if abs(converters.stamp_to_ns(closest.header.stamp) - stamp_ns) <= slop_ns else infos[-1]

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

    def _process(self, item: SyncedInputs) -> None:
        start = time.perf_counter()
        max_age_ns = int(self.config.sync.max_age_ms * 1e6)
        age_ns = self.get_clock().now().nanoseconds - item.stamp_ns
        if max_age_ns > 0 and age_ns > max_age_ns:
            raise InputError("stale", f"frame is {age_ns / 1e6:.0f} ms old (max_age_ms {self.config.sync.max_age_ms})")
        max_future_ns = int(self.config.sync.max_future_ms * 1e6)
        if max_future_ns > 0 and -age_ns > max_future_ns:
            raise InputError("future_stamp", f"frame is stamped {-age_ns / 1e6:.0f} ms ahead of the node's clock "
                             f"(max_future_ms {self.config.sync.max_future_ms}): is the camera's clock set?")
        frame = converters.frame_from_messages(item.color, item.depth, self._intrinsics(self._camera_info_for(item.stamp_ns)))
        mask = converters.image_to_mask(item.mask)
        if item.detections is not None:
            instances, refused = converters.instances_from_detections(mask, item.detections, frame.shape, self._categories)
        else:
            instances, refused = converters.instances_from_category_mask(mask, frame.shape, self._categories)
        result = self.pipeline(frame, instances) if instances else FrameResult(poses=())
        for instance_id, reason in [*refused, *result.rejected]:
            self._reject(reason, f"instance {instance_id} of frame {item.stamp_ns}")
        self._publish(frame, instances, result)
        latency_ms = (self.get_clock().now().nanoseconds - item.stamp_ns) / 1e6
        self.health.note_output(latency_ms, 1e3 * (time.perf_counter() - start))

    def _publish(self, frame: Frame, instances: Sequence[Instance], result: FrameResult) -> None:
        frame_id = self.config.output.frame_id or frame.frame_id
        if not frame_id.strip():
            frame_id = self.config.output.fallback_frame_id
            if self.health.should_log("empty_frame_id", 5.0):
                self.get_logger().warning(f"the colour image has an empty header.frame_id and output.frame_id is not set: "
                                          f"publishing in {frame_id!r} (output.fallback_frame_id)")
        stamp = frame.stamp_ns
        poses: Sequence[PoseEstimate] = result.poses
        if self._tracker is not None and self._pub_raw is not None:
            self._tracker.update(result.poses)
            poses = self._tracker.confirmed()  # instance_id = track id
            self._pub_raw.publish(detection_array(result.poses, stamp, frame_id))
        self._pub_poses.publish(detection_array(poses, stamp, frame_id))
        if self._pub_tf is not None and poses:
            self._pub_tf.publish(tf_message(poses, stamp, frame_id, self.config.output.tf_prefix))
        if self._pub_markers is not None:
            delivered = self._pub_markers.get_subscription_count() > 0
            self._pub_markers.publish(self._markers.build(poses, stamp, frame_id, delivered))
        if self._pub_points is not None:
            self._pub_points.publish(object_points_cloud(self._object_points(frame, instances, result), stamp, frame_id))

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
        self._slot.close()
        self._worker.join(timeout=10.0)


def main(argv: Sequence[str] | None = None) -> int:
    ensure_fastdds_profile()
    init_rclpy_keeping_context_on_signals(argv)
    try:
        node = CleanPoseNode()
    except CleanPoseError as e:  # config, weights, an unavailable device: a message and exit 2, no traceback
        print(f"[{NODE_NAME}] cannot start: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.close()
        node.get_logger().info(f"shutting down: {node.health.snapshot().summary()}")
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
