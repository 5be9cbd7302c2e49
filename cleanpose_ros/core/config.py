"""Config dataclasses and a strict YAML loader.

Each concern has one frozen dataclass that validates itself in __post_init__ and raises
ConfigError with a message naming the field. `from_dict` builds nested dataclasses from
plain dicts (YAML) and refuses unknown keys, listing the allowed ones.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from .errors import ConfigError
from .plausibility import PlausibilityConfig
from .types import CATEGORIES

T = TypeVar("T")


def require(cond: bool, msg: str) -> None:
    """Raise ConfigError(msg) unless `cond`: the one-line validation used in __post_init__."""
    if not cond:
        raise ConfigError(msg)




def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} matches none of {args}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(tp)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        inner = args[0] if args else Any
        return origin(_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass `cls` from a mapping, recursively; unknown keys are an error."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(names))
    prefix = f"{where}." if where else ""
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {unknown}; allowed: {names}")
    kwargs = {k: _coerce(hints[k], v, f"{prefix}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain dict/list structure suitable for YAML/JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def merge_dicts(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` updated with `override`, recursively for nested mappings; lists and scalars are replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (empty file -> {}), or a ConfigError naming the file."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return dict(data)


def read_yaml_with_extends(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML mapping; a top-level `extends: other.yaml` (relative to the file) is loaded first and
    this file's keys are merged over it, so variants of a config name only what they change."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: `extends` cycle through {[str(p) for p in _seen]}")
    data = _read_yaml_mapping(path)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: `extends` must be a file path, got {base!r}")
    return merge_dicts(read_yaml_with_extends(path.parent / base, _seen + (path,)), data)


def load_yaml(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load dataclass `cls` from a YAML file (optionally one top-level section of it)."""
    path = Path(path)
    data = _read_yaml_mapping(path)
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: no top-level section {section!r}")
        data = data[section]
    return from_dict(cls, data, where=str(path) if section is None else f"{path}:{section}")


@dataclass(frozen=True)
class PreprocessConfig:
    """The one preprocessing shared by training, evaluation and the node (core/preprocess.py)."""

    crop_size: int = 224  # network input side, pixels
    num_points: int = 1024  # points sampled per object
    crop_multiple: int = 40  # crop side rounded up to a multiple of this (model.md)
    crop_max: int = 440  # crop side cap, pixels
    min_depth_m: float = 0.1  # depths outside [min, max] count as missing
    max_depth_m: float = 3.0
    min_points: int = 32  # fewer valid (mask AND depth) pixels -> the instance is refused
    hole_fill: typing.Literal["none", "fast", "multiscale"] = "none"
    outlier_removal: bool = True  # drop points far from the median depth of the object
    outlier_max_dev_m: float = 0.3  # along the viewing axis; larger than any NOCS object

    def __post_init__(self) -> None:
        require(self.crop_size >= 16, f"crop_size must be >= 16, got {self.crop_size}")
        require(self.num_points >= 16, f"num_points must be >= 16, got {self.num_points}")
        require(self.crop_multiple >= 1, f"crop_multiple must be >= 1, got {self.crop_multiple}")
        require(self.crop_max >= self.crop_multiple, "crop_max must be >= crop_multiple")
        require(0 <= self.min_depth_m < self.max_depth_m, f"need 0 <= min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}")
        require(self.min_points >= 4, f"min_points must be >= 4, got {self.min_points}")
        require(self.outlier_max_dev_m > 0, "outlier_max_dev_m must be > 0")


#: where a pose's rotation may come from (core/postprocess.py explains each)
POSE_SOURCES: tuple[str, ...] = ("direct", "nocs_fit", "fused")


@dataclass(frozen=True)
class PipelineConfig:
    """What the pipeline keeps or refuses, around the network."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    categories: tuple[str, ...] = CATEGORIES  # categories the model knows, in class-id order
    enabled_categories: tuple[str, ...] = CATEGORIES  # subset the pipeline reports
    score_threshold: float = 0.0  # instances with a lower detection score are skipped
    max_objects: int = 32  # per frame, highest score first
    # where a pose's rotation comes from (core/postprocess.py POSE_SOURCES): the direct pose head,
    # a similarity fit of the predicted keypoint NOCS to the 3D keypoints, or the mean of both
    pose_source: str = "direct"
    # which decoded poses agree with their own points (core/plausibility.py); the others are refused
    plausibility: PlausibilityConfig = field(default_factory=PlausibilityConfig)

    def __post_init__(self) -> None:
        require(self.pose_source in POSE_SOURCES, f"pose_source must be one of {POSE_SOURCES}, got {self.pose_source!r}")
        require(len(self.categories) > 0, "categories must not be empty")
        unknown = sorted(set(self.enabled_categories) - set(self.categories))
        require(not unknown, f"enabled_categories {unknown} are not in categories {list(self.categories)}")
        require(0.0 <= self.score_threshold <= 1.0, f"score_threshold must be in [0, 1], got {self.score_threshold}")
        require(self.max_objects >= 1, f"max_objects must be >= 1, got {self.max_objects}")
