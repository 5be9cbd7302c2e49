"""A rosbags typestore with every message type the bags of this package carry.

rosbags ships the standard interfaces of each ROS 2 distribution (sensor_msgs, tf2_msgs,
visualization_msgs, ...) but not vision_msgs; those are registered from the same `.msg` files our
compiled vision_msgs package is built from, so the type hashes in a bag equal the node's.
`new_message` builds a message with every field defaulted (rosbags classes have no defaults).
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from ..resources import share_dirs
from .errors import BagError

logger = logging.getLogger(__name__)

DISTROS = {"kilted": Stores.ROS2_KILTED, "jazzy": Stores.ROS2_JAZZY}
VISION_MSGS = "vision_msgs"

_NUMPY_BASE = {"bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "byte": np.uint8, "char": np.uint8,
               "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
               "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64}


#: Field defaults that .msg files declare (rosbags' field definitions do not keep them) and that
#: matter for the messages we build: an identity quaternion, as every rclpy Pose() has.
MSG_DEFAULTS: dict[str, dict[str, Any]] = {"geometry_msgs/msg/Quaternion": {"w": 1.0}}


def vision_msgs_definition_dir() -> Path:
    """The `.msg` folder of vision_msgs: interfaces/vision_msgs/msg in a checkout,
    <prefix>/share/vision_msgs/msg in an install."""
    candidates = []
    for root in share_dirs():
        candidates.append(root / "interfaces" / VISION_MSGS / "msg")  # source checkout
        candidates.append(root.parent / VISION_MSGS / "msg")  # <prefix>/share/cleanpose_ros -> <prefix>/share
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.msg")):
            return folder
    raise BagError(f"vision_msgs message definitions not found; looked in: {', '.join(map(str, candidates))}")


@functools.lru_cache(maxsize=None)
def build_typestore(distro: str = "kilted") -> Typestore:
    """The distribution's standard types plus vision_msgs (cached: types are immutable)."""
    if distro not in DISTROS:
        raise BagError(f"unknown ROS distribution {distro!r}; known: {sorted(DISTROS)}")
    store = get_typestore(DISTROS[distro])
    types: dict[str, Any] = {}
    for path in sorted(vision_msgs_definition_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{VISION_MSGS}/msg/{path.stem}"))
    store.register(types)
    return store


def _default(store: Typestore, node: tuple[Any, Any]) -> Any:
    kind, spec = node
    kind = int(kind)
    if kind == 1:  # base type: (name, string bound)
        name = spec[0]
        if name == "string" or name == "wstring":
            return ""
        if name == "bool":
            return False
        return 0.0 if name.startswith("float") else 0
    if kind == 2:  # another message
        return new_message(store, spec)
    element, length = spec
    if int(element[0]) == 1 and element[1][0] in _NUMPY_BASE:  # numeric arrays are numpy in rosbags
        return np.zeros(length if kind == 3 else 0, dtype=_NUMPY_BASE[element[1][0]])
    return [_default(store, element) for _ in range(length)] if kind == 3 else []


def new_message(store: Typestore, msgtype: str, **fields: Any) -> Any:
    """A `msgtype` message with the given fields and every other field at its .msg default
    (zero / empty unless MSG_DEFAULTS says otherwise)."""
    try:
        _, fielddefs = store.fielddefs[msgtype]
    except KeyError:
        raise BagError(f"message type {msgtype} is not in the typestore") from None
    declared = MSG_DEFAULTS.get(msgtype, {})
    values = {name: fields.pop(name) if name in fields else declared[name] if name in declared else _default(store, node)
              for name, node in fielddefs}
    if fields:
        raise TypeError(f"{msgtype} has no field(s) {sorted(fields)}")
    return store.types[msgtype](**values)
