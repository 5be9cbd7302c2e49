"""demo_camera: publishes generated scenes the way an RGB-D camera plus a segmenter would.

A few procedural scenes (cleanpose_ros.data) are rendered at start (~0.1 s each) and cycled
at `rate_hz`, each publication stamped with the current time:
  color/image_raw          sensor_msgs/Image rgb8
  depth/image_raw          sensor_msgs/Image 16UC1 (mm), aligned to colour
  color/camera_info        sensor_msgs/CameraInfo
  segmentation/mask        sensor_msgs/Image mono16 instance ids (0 = none), or NOCS class ids
  segmentation/detections  vision_msgs/Detection2DArray: id = mask id, class_id = category
  ground_truth/detections  vision_msgs/Detection3DArray: the true poses and sizes (same stamp)
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image
from vision_msgs.msg import Detection2D, Detection2DArray, Detection3DArray, ObjectHypothesisWithPose

from ..core.errors import ConfigError
from ..core.types import CATEGORIES, REAL275_INTRINSICS, CameraIntrinsics, PoseEstimate
from ..interop import converters
from .outputs import detection_array
from .params import declare_config, param_field, require
from .process import run_node

TOPIC_GROUND_TRUTH = "ground_truth/detections"
#: sequence mode: the optical frame's pose in the world (what odometry would give), frame id WORLD_FRAME
TOPIC_CAMERA_POSE = "camera_pose"
WORLD_FRAME = "world"


@dataclass(frozen=True)
class DemoCameraConfig:
    scenes: int = param_field(6, "scenes rendered at start and cycled")
    seed: int = param_field(0, "seed of the scene generator")
    rate_hz: float = param_field(30.0, "frames per second")
    frame_id: str = param_field("camera_color_optical_frame", "optical frame of all images")
    mask_mode: Literal["instances", "categories"] = param_field(
        "instances", "instances: mask = instance ids + detections; categories: mask = NOCS class ids, no detections")
    min_depth_pixels: int = param_field(64, "objects with fewer valid depth pixels are left out of detections and truth")
    models_per_category: int = param_field(4, "procedural shapes per category")
    sequence: bool = param_field(False, "true: the `scenes` frames are one static table seen by a hand-held camera "
                                        "circling it at 30 Hz (a sequence for tracking), played in a loop")
    shuffle_ids: bool = param_field(False, "renumber the instance ids of every frame (mask and detections), "
                                           "as a real segmenter does")
    objects_per_frame: int = param_field(0, "0: every labelled object of a random scene; N in [1, 6]: every frame "
                                            "has exactly N labelled objects (load tests)")

    def __post_init__(self) -> None:
        require(1 <= self.scenes <= 1000, f"scenes must be in [1, 1000], got {self.scenes}")
        require(0.1 <= self.rate_hz <= 1000.0, f"rate_hz must be in [0.1, 1000], got {self.rate_hz}")
        require(bool(self.frame_id), "frame_id must not be empty")
        require(self.min_depth_pixels >= 0, "min_depth_pixels must be >= 0")
        require(self.models_per_category >= 1, "models_per_category must be >= 1")
        require(self.objects_per_frame >= 0, f"objects_per_frame must be >= 0, got {self.objects_per_frame}")


@dataclass(frozen=True, eq=False)
class DemoScene:
    """One rendered scene: images, intrinsics and the ground truth of its labelled objects."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth_mm: np.ndarray  # (H, W) uint16, 0 = missing
    instance_mask: np.ndarray  # (H, W) uint16 instance ids, 0 = none
    intrinsics: CameraIntrinsics
    truth: tuple[PoseEstimate, ...]  # labelled objects, score 1
    boxes: tuple[tuple[int, int, int, int], ...] = field(default=())  # [y1, x1, y2, x2) per truth entry
    #: sequence mode: the camera's pose in the table's world frame (R, t: p_world = R p_camera + t)
    world_from_camera: tuple[np.ndarray, np.ndarray] | None = None


def render_scenes(count: int, seed: int, intrinsics: CameraIntrinsics = REAL275_INTRINSICS,
                  models_per_category: int = 4, min_depth_pixels: int = 64, sequence: bool = False,
                  shuffle_ids: bool = False, objects_per_frame: int = 0) -> list[DemoScene]:
    """Render `count` random scenes with the project's synthetic generator; with `sequence`, `count`
    frames of one layout from a hand-held camera circling it at 30 Hz (data/scene.py OrbitCamera).
    `shuffle_ids` gives every frame's objects new instance ids (values 1..255, seeded).
    `objects_per_frame` N > 0: every scene keeps exactly N labelled objects (the first N by instance id;
    the others leave the mask and the truth, their pixels stay in the images as clutter); layouts that
    end up with fewer are drawn again (from the same seeded stream, so the scenes stay reproducible)."""
    from ..data.render import Renderer  # lazy: moderngl + EGL only where scenes are made
    from ..data.scene import OBJECTS_PER_LAYOUT, OrbitCamera, ShapePool, make_layout, random_light, render_frame

    pool = ShapePool(seed, models_per_category)
    renderer = Renderer(intrinsics)
    rng = np.random.default_rng(seed)
    layout = orbit = light = None
    if sequence:
        layout = make_layout(rng, pool)
        orbit, light = OrbitCamera.random(rng), random_light(rng)
    most = OBJECTS_PER_LAYOUT[1]
    if not 0 <= objects_per_frame <= most or (sequence and objects_per_frame):
        raise ConfigError(f"objects_per_frame {objects_per_frame}: 0, or 1..{most} without sequence (a sequence "
                          "keeps one layout)")
    # one more object than asked for leaves room for one lost to occlusion or the table's edge
    num_objects = (objects_per_frame, min(objects_per_frame + 1, most)) if objects_per_frame else OBJECTS_PER_LAYOUT
    scenes: list[DemoScene] = []
    attempts = 0
    try:
        while len(scenes) < count:
            k = len(scenes)
            attempts += 1
            if attempts > 50 * count:
                raise RuntimeError(f"{count} scenes with {objects_per_frame} labelled objects were not found in "
                                   f"{attempts - 1} layouts (min_depth_pixels {min_depth_pixels})")
            if orbit is not None:
                synthetic = render_frame(renderer, layout, rng, camera=orbit.pose(k / 30.0), light=light)
            else:
                synthetic = render_frame(renderer, make_layout(rng, pool, num_objects=num_objects), rng)
            labelled = [a for a in synthetic.annotations if a.valid_depth_pixels >= min_depth_pixels]
            if objects_per_frame:
                if len(labelled) < objects_per_frame:
                    continue
                labelled = sorted(labelled, key=lambda a: a.instance_id)[:objects_per_frame]
            ids = np.where(synthetic.mask == 255, 0, synthetic.mask).astype(np.uint16)
            keep = np.isin(ids, [a.instance_id for a in labelled])
            truth = tuple(PoseEstimate(instance_id=a.instance_id, category=a.category, score=1.0,
                                       rotation=np.asarray(a.rotation, np.float64),
                                       translation=np.asarray(a.translation, np.float64),
                                       size=np.asarray(a.size_m, np.float64)) for a in labelled)
            instance_mask = np.where(keep, ids, 0).astype(np.uint16)
            if shuffle_ids:
                new = {a.instance_id: int(v) for a, v in zip(labelled, rng.choice(np.arange(1, 256), len(labelled),
                                                                                  replace=False))}
                relabelled = np.zeros_like(instance_mask)
                for old, value in new.items():
                    relabelled[instance_mask == old] = value
                instance_mask = relabelled
                truth = tuple(dataclasses.replace(t, instance_id=new[t.instance_id]) for t in truth)
            camera_rotation = np.asarray(synthetic.camera_rotation, np.float64)  # world -> camera
            world_from_camera = ((camera_rotation.T, -camera_rotation.T @ np.asarray(synthetic.camera_translation, np.float64))
                                 if orbit is not None else None)
            scenes.append(DemoScene(
                rgb=synthetic.rgb, depth_mm=np.round(synthetic.depth_m * 1000.0).astype(np.uint16),
                instance_mask=instance_mask, intrinsics=intrinsics, truth=truth,
                boxes=tuple(tuple(int(v) for v in a.bbox) for a in labelled), world_from_camera=world_from_camera))
    finally:
        renderer.release()
    return scenes


def category_mask(scene: DemoScene) -> np.ndarray:
    """Mask whose values are NOCS class ids (index + 1): the segmenter-less mode of the node."""
    out = np.zeros_like(scene.instance_mask)
    for obj in scene.truth:
        out[scene.instance_mask == obj.instance_id] = CATEGORIES.index(obj.category) + 1
    return out


def detections_2d(scene: DemoScene, stamp_ns: int, frame_id: str) -> Detection2DArray:
    out = Detection2DArray()
    out.header.stamp = converters.ns_to_stamp(stamp_ns)
    out.header.frame_id = frame_id
    for obj, (y1, x1, y2, x2) in zip(scene.truth, scene.boxes):
        det = Detection2D(id=str(obj.instance_id))
        det.header = out.header
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = obj.category, 1.0
        det.results.append(hyp)
        det.bbox.center.position.x, det.bbox.center.position.y = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        det.bbox.size_x, det.bbox.size_y = float(x2 - x1), float(y2 - y1)
        out.detections.append(det)
    return out


@dataclass
class SceneMessages:
    """Pre-built messages of one scene; only the stamps change per publication."""

    color: Image
    depth: Image
    info: CameraInfo
    mask: Image
    detections: Detection2DArray | None
    truth: Detection3DArray
    camera_pose: PoseStamped | None = None

    def stamp(self, stamp_ns: int) -> None:
        t = converters.ns_to_stamp(stamp_ns)
        for msg in (self.color, self.depth, self.info, self.mask, self.truth):
            msg.header.stamp = t
        if self.camera_pose is not None:
            self.camera_pose.header.stamp = t
        if self.detections is not None:
            self.detections.header.stamp = t
            for det in self.detections.detections:
                det.header.stamp = t
        for det in self.truth.detections:
            det.header.stamp = t


def scene_messages(scene: DemoScene, frame_id: str, mask_mode: str = "instances") -> SceneMessages:
    instances = mask_mode == "instances"
    return SceneMessages(
        color=converters.array_to_image(scene.rgb, "rgb8", frame_id=frame_id),
        depth=converters.array_to_image(scene.depth_mm, "16UC1", frame_id=frame_id),
        info=converters.intrinsics_to_camera_info(scene.intrinsics, frame_id=frame_id),
        mask=converters.array_to_image(scene.instance_mask if instances else category_mask(scene), "mono16",
                                       frame_id=frame_id),
        detections=detections_2d(scene, 0, frame_id) if instances else None,
        truth=detection_array(scene.truth, 0, frame_id),
        camera_pose=_camera_pose(scene.world_from_camera) if scene.world_from_camera is not None else None,
    )


def _camera_pose(world_from_camera: tuple[np.ndarray, np.ndarray]) -> PoseStamped:
    from ..core.geometry import rotation_to_quaternion

    rotation, translation = world_from_camera
    msg = PoseStamped()
    msg.header.frame_id = WORLD_FRAME
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in translation)
    q = rotation_to_quaternion(rotation)
    msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = (float(v) for v in q)
    return msg


class DemoCamera(Node):
    def __init__(self, scenes: Sequence[DemoScene] | None = None, **node_kwargs: Any) -> None:
        """`scenes`: publish these instead of rendering `scenes` new ones (tests, tools)."""
        super().__init__("demo_camera", **node_kwargs)
        try:
            self.config = declare_config(self, DemoCameraConfig)
        except Exception:
            self.destroy_node()
            raise
        cfg = self.config
        if scenes is None:
            self.get_logger().info(f"rendering {cfg.scenes} scenes (seed {cfg.seed})")
            scenes = render_scenes(cfg.scenes, cfg.seed, models_per_category=cfg.models_per_category,
                                   min_depth_pixels=cfg.min_depth_pixels, sequence=cfg.sequence,
                                   shuffle_ids=cfg.shuffle_ids, objects_per_frame=cfg.objects_per_frame)
        self.scenes = list(scenes)
        self._messages = [scene_messages(s, cfg.frame_id, cfg.mask_mode) for s in self.scenes]
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self._pub_color = self.create_publisher(Image, "color/image_raw", qos)
        self._pub_depth = self.create_publisher(Image, "depth/image_raw", qos)
        self._pub_info = self.create_publisher(CameraInfo, "color/camera_info", qos)
        self._pub_mask = self.create_publisher(Image, "segmentation/mask", qos)
        self._pub_det = self.create_publisher(Detection2DArray, "segmentation/detections", qos)
        self._pub_truth = self.create_publisher(Detection3DArray, TOPIC_GROUND_TRUTH, qos)
        self._pub_pose = (self.create_publisher(PoseStamped, TOPIC_CAMERA_POSE, qos)
                          if any(m.camera_pose is not None for m in self._messages) else None)
        self.published = 0
        self.create_timer(1.0 / cfg.rate_hz, self._tick)
        self.get_logger().info(f"publishing {len(self.scenes)} scenes at {cfg.rate_hz} Hz in {cfg.frame_id!r}")

    def _tick(self) -> None:
        msgs = self._messages[self.published % len(self._messages)]
        msgs.stamp(self.get_clock().now().nanoseconds)
        # Camera info and truth first: a consumer that has the images already has what explains them.
        self._pub_info.publish(msgs.info)
        self._pub_truth.publish(msgs.truth)
        if self._pub_pose is not None and msgs.camera_pose is not None:
            self._pub_pose.publish(msgs.camera_pose)
        self._pub_color.publish(msgs.color)
        self._pub_depth.publish(msgs.depth)
        self._pub_mask.publish(msgs.mask)
        if msgs.detections is not None:
            self._pub_det.publish(msgs.detections)
        self.published += 1


def main(argv: Sequence[str] | None = None) -> int:
    return run_node(DemoCamera, "demo_camera", argv)


if __name__ == "__main__":
    sys.exit(main())
