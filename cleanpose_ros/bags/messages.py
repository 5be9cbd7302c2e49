"""rosbags message objects for the bag tools: the node's inputs and its outputs.

Outputs are built by interop/messages.py, the builder the node uses with rclpy's classes (here with the
typestore's), so a replayed bag holds what the node would have published. Pixel layouts follow
interop/converters.py PIXEL_FORMATS.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from rosbags.typesys.store import Typestore

from ..core.types import CameraIntrinsics, PoseEstimate
from ..interop.converters import PIXEL_FORMATS
from ..interop.messages import DETECTION3D_ARRAY, MARKER_ARRAY, TF_MESSAGE, MarkerArrays, OutputMessages  # noqa: F401
from ..interop.output_spec import MarkerStyle
from .typestore import new_message

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
DETECTION2D_ARRAY = "vision_msgs/msg/Detection2DArray"
STRING = "std_msgs/msg/String"


class MessageBuilder(OutputMessages):
    """Messages of one typestore (see typestore.build_typestore): the inputs below, the outputs of
    interop/messages.py OutputMessages."""

    def __init__(self, store: Typestore) -> None:
        super().__init__(lambda msgtype, **fields: new_message(store, msgtype, **fields))
        self.store = store
        self._types = store.types

    def _t(self, msgtype: str) -> Any:
        return self._types[msgtype]

    # ------------------------------------------------------------------ inputs
    def image(self, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
        """Little-endian, unpadded rows (what cameras and cv_bridge publish)."""
        fmt = PIXEL_FORMATS[encoding]
        arr = np.asarray(array)
        h, w = arr.shape[:2]
        rows = np.ascontiguousarray(arr.astype(fmt.dtype.newbyteorder("<"), copy=False)).view(np.uint8).reshape(h, -1)
        return self._t(IMAGE)(header=self.header(stamp_ns, frame_id), height=h, width=w, encoding=encoding,
                              is_bigendian=0, step=int(rows.shape[1]), data=rows.reshape(-1))

    def camera_info(self, intrinsics: CameraIntrinsics, stamp_ns: int, frame_id: str) -> Any:
        """Rectified pinhole camera: K = the intrinsics, no distortion, P = [K | 0]."""
        k = intrinsics.matrix
        p = np.zeros((3, 4))
        p[:, :3] = k
        return self._t(CAMERA_INFO)(
            header=self.header(stamp_ns, frame_id), height=intrinsics.height, width=intrinsics.width,
            distortion_model="plumb_bob", d=np.zeros(5), k=k.reshape(-1).astype(np.float64),
            r=np.eye(3).reshape(-1), p=p.reshape(-1), binning_x=0, binning_y=0,
            roi=self._t("sensor_msgs/msg/RegionOfInterest")(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))

    def detection2d_array(self, detections: Sequence[tuple[int, str, float, np.ndarray]], stamp_ns: int,
                          frame_id: str) -> Any:
        """(instance id = mask value, category name, score, mask) -> Detection2DArray; the 2D box
        is the mask's bounding box (centre and size in pixels)."""
        out = []
        for instance_id, category, score, mask in detections:
            ys, xs = np.nonzero(mask)
            if len(xs):
                cx, cy = (xs.min() + xs.max() + 1) / 2.0, (ys.min() + ys.max() + 1) / 2.0
                sx, sy = float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())
            else:
                cx = cy = sx = sy = 0.0
            bbox = self._t("vision_msgs/msg/BoundingBox2D")(
                center=self._t("vision_msgs/msg/Pose2D")(position=self._t("vision_msgs/msg/Point2D")(x=float(cx), y=float(cy)),
                                                         theta=0.0),
                size_x=sx, size_y=sy)
            hyp = self.hypothesis(category, score, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
            out.append(self._t("vision_msgs/msg/Detection2D")(header=self.header(stamp_ns, frame_id), results=[hyp],
                                                              bbox=bbox, id=str(int(instance_id))))
        return self._t(DETECTION2D_ARRAY)(header=self.header(stamp_ns, frame_id), detections=out)

    def string(self, text: str) -> Any:
        return self._t(STRING)(data=text)



class MarkerArrayBuilder(MarkerArrays):
    """The rosbags twin of ros/outputs.py MarkerTracker: the same interop/messages.py MarkerArrays."""

    def __init__(self, builder: MessageBuilder, style: MarkerStyle = MarkerStyle()) -> None:
        super().__init__(builder, style)
        self.builder = builder
