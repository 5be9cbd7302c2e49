"""Ground truth of a bag frame: what the NOCS metrics need, written as messages and read back.

Two topics carry it (docs/rosbag.md):
- `/ground_truth/detections`, vision_msgs/Detection3DArray: one Detection3D per object, id = the
  instance id, hypothesis class_id = category, score 1, pose = box centre + rotation, bbox size =
  metric box extents. Viewable in RViz/Foxglove, but a quaternion does not give the rotation
  matrix back bit for bit and it has no place for the mug's handle visibility;
- `/ground_truth/annotations`, std_msgs/String with one JSON object (schema below) per frame:
  the exact numbers (shortest round-trip floats) and the handle visibility. The replay tool
  evaluates against it and falls back to the Detection3DArray only when a bag lacks it.

JSON schema "cleanpose-ground-truth" version 1:
  {"schema": "cleanpose-ground-truth", "version": 1, "frame": "<frame name, e.g. test/scene_1/0000>",
   "stamp_ns": int, "objects": [{"instance_id": int, "category": str, "rotation": 3x3 nested list,
   "translation": [x, y, z] m, "size_m": [x, y, z] m, "handle_visible": bool}, ...]}
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..core.geometry import quaternion_to_rotation
from ..core.types import PoseEstimate, parse_ascii_int
from .errors import BagError

SCHEMA = "cleanpose-ground-truth"
VERSION = 1


@dataclass(frozen=True, eq=False)
class BagGroundTruth:
    """Ground truth of one frame; fits evaluation.runner.GroundTruthLike."""

    frame_name: str
    category_names: tuple[str, ...]
    instance_ids: np.ndarray  # (N,) int64
    rotations: np.ndarray  # (N, 3, 3) float64
    translations: np.ndarray  # (N, 3) float64 m
    sizes_m: np.ndarray  # (N, 3) float64 m
    handle_visibility: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.category_names)

    @classmethod
    def from_ground_truth(cls, frame_name: str, gt: Any) -> "BagGroundTruth":
        """From anything GroundTruthLike (data.nocs_reader.GroundTruth)."""
        n = len(gt.category_names)
        return cls(frame_name=frame_name, category_names=tuple(gt.category_names),
                   instance_ids=np.asarray(gt.instance_ids, np.int64).reshape(n),
                   rotations=np.asarray(gt.rotations, np.float64).reshape(n, 3, 3),
                   translations=np.asarray(gt.translations, np.float64).reshape(n, 3),
                   sizes_m=np.asarray(gt.sizes_m, np.float64).reshape(n, 3),
                   handle_visibility=np.asarray(gt.handle_visibility, np.int64).reshape(n))

    # ------------------------------------------------------------------ JSON topic
    def to_json(self, stamp_ns: int) -> str:
        objects = [{"instance_id": int(self.instance_ids[i]), "category": self.category_names[i],
                    "rotation": self.rotations[i].tolist(), "translation": self.translations[i].tolist(),
                    "size_m": self.sizes_m[i].tolist(), "handle_visible": bool(self.handle_visibility[i])}
                   for i in range(len(self))]
        return json.dumps({"schema": SCHEMA, "version": VERSION, "frame": self.frame_name, "stamp_ns": int(stamp_ns),
                           "objects": objects}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> tuple["BagGroundTruth", int]:
        """(ground truth, stamp_ns); BagError on a foreign or malformed annotation."""
        try:
            obj = json.loads(text)
            if obj.get("schema") != SCHEMA or obj.get("version") != VERSION:
                raise BagError(f"ground-truth annotation of schema {obj.get('schema')!r} version "
                               f"{obj.get('version')!r}; expected {SCHEMA!r} version {VERSION}")
            objects = obj["objects"]
            n = len(objects)
            gt = cls(frame_name=str(obj["frame"]), category_names=tuple(str(o["category"]) for o in objects),
                     instance_ids=np.array([int(o["instance_id"]) for o in objects], np.int64).reshape(n),
                     rotations=np.array([o["rotation"] for o in objects], np.float64).reshape(n, 3, 3),
                     translations=np.array([o["translation"] for o in objects], np.float64).reshape(n, 3),
                     sizes_m=np.array([o["size_m"] for o in objects], np.float64).reshape(n, 3),
                     handle_visibility=np.array([int(bool(o["handle_visible"])) for o in objects], np.int64).reshape(n))
            return gt, int(obj["stamp_ns"])
        except (ValueError, KeyError, TypeError) as e:
            if isinstance(e, BagError):
                raise
            raise BagError(f"malformed ground-truth annotation ({e!r}): {text[:120]}") from None

    # ------------------------------------------------------------------ Detection3DArray topic
    def detection3d_array(self, builder: Any, stamp_ns: int, frame_id: str) -> Any:
        """The truth as the node's Detection3DArray (score 1.0), built by `builder` (interop/messages.py)."""
        poses = [PoseEstimate(instance_id=int(self.instance_ids[i]), category=self.category_names[i], score=1.0,
                              rotation=np.asarray(self.rotations[i], np.float64),
                              translation=np.asarray(self.translations[i], np.float64),
                              size=np.asarray(self.sizes_m[i], np.float64)) for i in range(len(self))]
        return builder.detection3d_array(poses, stamp_ns, frame_id)

    @classmethod
    def from_detection3d_array(cls, msg: Any, frame_name: str, categories: Sequence[str]) -> "BagGroundTruth":
        """Truth from a Detection3DArray alone: rotations through quaternions (rounded), every
        handle counted visible. Detections without a hypothesis or with an id that is not an
        integer are a BagError."""
        names, ids, rots, trans, sizes = [], [], [], [], []
        for det in msg.detections:
            if not det.results:
                raise BagError(f"ground-truth detection {det.id!r} of frame {frame_name} has no hypothesis")
            instance_id = parse_ascii_int(det.id)
            if instance_id is None:
                raise BagError(f"ground-truth detection id {det.id!r} of frame {frame_name} is not an integer")
            ids.append(instance_id)
            class_id = det.results[0].hypothesis.class_id
            number = parse_ascii_int(class_id)
            names.append(categories[number - 1] if number is not None and 1 <= number <= len(categories) else class_id)
            c = det.bbox.center
            rots.append(quaternion_to_rotation([c.orientation.x, c.orientation.y, c.orientation.z, c.orientation.w]))
            trans.append([c.position.x, c.position.y, c.position.z])
            sizes.append([det.bbox.size.x, det.bbox.size.y, det.bbox.size.z])
        n = len(ids)
        return cls(frame_name=frame_name, category_names=tuple(names), instance_ids=np.array(ids, np.int64),
                   rotations=np.array(rots, np.float64).reshape(n, 3, 3),
                   translations=np.array(trans, np.float64).reshape(n, 3),
                   sizes_m=np.array(sizes, np.float64).reshape(n, 3), handle_visibility=np.ones(n, np.int64))
