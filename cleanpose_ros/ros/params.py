"""The node's parameters: one frozen dataclass tree, declared as ROS parameters once.

Every field of `NodeConfig` becomes a read-only ROS parameter named by its dotted path
(`sync.slop_ms`, `output.tf_prefix`, ...). The values the node receives are turned back into a
`NodeConfig` with core.config.from_dict, so the ROS node, the demo tool and the YAML file share
one validation; a bad value stops the node at start with a message naming the parameter.
Defaults live here and, for people reading config files, in config/cleanpose.yaml (a test keeps
the two equal).
"""
from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, TypeVar

import yaml

from ..core.config import POSE_SOURCES, from_dict, require
from ..core.errors import ConfigError
from ..core.tracker import TrackerConfig
from ..core.types import CATEGORIES

C = TypeVar("C")


def param_field(default: Any, help: str) -> Any:
    """A field with a default and the description shown by `ros2 param describe`."""
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: tuple(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


_CAMERA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class TritonParams:
    """inference.triton.*: the Triton server of inference.engine triton (engines/triton_engine.py)."""

    url: str = param_field("127.0.0.1:8001", "gRPC endpoint host:port of the Triton server (cleanpose-triton-serve)")
    model: str = param_field("cleanpose_lite", "model name on the server")
    timeout_s: float = param_field(2.0, "deadline of one inference request; a frame answered later is refused "
                                        "(engine_timeout)")
    connect_timeout_s: float = param_field(10.0, "how long the node waits for the server at start before giving up; "
                                                 "later outages are retried by themselves")

    def __post_init__(self) -> None:
        require(self.timeout_s > 0, f"timeout_s must be > 0, got {self.timeout_s}")
        require(self.connect_timeout_s > 0, f"connect_timeout_s must be > 0, got {self.connect_timeout_s}")
        require(bool(self.url.strip()) and bool(self.model.strip()), "url and model must not be empty")

    def engine_options(self) -> dict[str, Any]:
        """As EngineConfig fields (validated there: the url's form, the model name)."""
        return {"triton_url": self.url, "triton_model": self.model, "triton_timeout_s": float(self.timeout_s),
                "triton_connect_timeout_s": float(self.connect_timeout_s)}


@dataclass(frozen=True)
class InferenceParams:
    weights: str = param_field("", "weights file (.pt checkpoint or .onnx); empty = the shipped weights/cleanpose_lite.pt")
    engine: Literal["torch", "onnx", "triton"] = param_field("onnx", "inference engine: onnx (onnxruntime; runs the .onnx shipped with a checkpoint, else exports one into the cache), torch, or triton (a Triton server runs that .onnx: inference.triton.*)")
    device: str = param_field("cpu", "torch device, e.g. cpu or cuda:0 (onnx: cpu or cuda)")
    num_threads: int = param_field(0, "CPU threads for inference; 0 = library default")
    parallel_batches: int = param_field(2, "onnx on CPU: run a frame's objects as this many parts at once, one thread "
                                           "each (measured on 2 cores: 15 Hz input fully processed instead of 76 %, same "
                                           "outputs); 1 = one call with inference.num_threads threads")
    device_fallback: bool = param_field(False, "when inference.device (e.g. cuda:0) is unavailable, run on the CPU "
                                               "with a warning instead of refusing to start")
    seed: int = param_field(0, "seed of the point sampling, so a frame always gives the same poses")
    # fused is measured best with the shipped weights (weights/README.md, "Where the rotation comes from")
    pose_source: str = param_field("fused", "pose from: direct (pose head), nocs_fit (keypoint NOCS fit: rotation, centre, scale) or fused (mean rotation, keypoint centre and scale)")
    confidence: str = param_field("auto", "confidence model: auto (the weights' <stem>.confidence.json when present), "
                                  "a file path, or empty for none (scores are then the segmenter's)")
    triton: TritonParams = field(default_factory=TritonParams)

    def __post_init__(self) -> None:
        require(self.pose_source in POSE_SOURCES, f"pose_source must be one of {POSE_SOURCES}, got {self.pose_source!r}")
        require(self.num_threads >= 0, f"num_threads must be >= 0, got {self.num_threads}")
        require(self.parallel_batches >= 1, f"parallel_batches must be >= 1, got {self.parallel_batches}")
        require(bool(self.device.strip()), "device must not be empty")


@dataclass(frozen=True)
class FilterParams:
    score_threshold: float = param_field(0.0, "detections with a lower score are skipped")
    max_objects: int = param_field(32, "objects per frame at most, highest scores first")
    enabled_categories: tuple[str, ...] = param_field(CATEGORIES, "categories to report (subset of the model's)")
    min_depth_m: float = param_field(0.1, "depths below this count as missing")
    max_depth_m: float = param_field(3.0, "depths above this count as missing")
    min_points: int = param_field(32, "instances with fewer valid depth pixels are refused")
    plausibility: bool = param_field(True, "refuse poses that disagree with their own points: implausible_centre, "
                                           "implausible_size, unsupported_box (core/plausibility.py)")

    def __post_init__(self) -> None:
        require(0.0 <= self.score_threshold <= 1.0, f"score_threshold must be in [0, 1], got {self.score_threshold}")
        require(self.max_objects >= 1, f"max_objects must be >= 1, got {self.max_objects}")
        require(len(self.enabled_categories) > 0, "enabled_categories must not be empty")
        require(0.0 <= self.min_depth_m < self.max_depth_m,
                f"need 0 <= min_depth_m < max_depth_m, got {self.min_depth_m}, {self.max_depth_m}")
        require(self.min_points >= 4, f"min_points must be >= 4, got {self.min_points}")


@dataclass(frozen=True)
class SyncParams:
    slop_ms: float = param_field(20.0, "largest stamp difference between the messages of one frame")
    queue_size: int = param_field(10, "messages kept per input topic while waiting for a match")
    max_age_ms: float = param_field(1000.0, "frames older than this when the worker takes them are dropped; 0 = never")
    max_future_ms: float = param_field(500.0, "frames stamped further ahead of the node's clock are refused "
                                               "(future_stamp: a wrong clock would put them on TF ahead of time); 0 = never")
    input_qos: Literal["sensor_data", "reliable"] = param_field("sensor_data", "QoS of the input subscriptions")
    input_depth: int = param_field(5, "history depth of the input subscriptions")

    def __post_init__(self) -> None:
        require(0.0 <= self.slop_ms <= 10_000.0, f"slop_ms must be in [0, 10000], got {self.slop_ms}")
        require(1 <= self.queue_size <= 1000, f"queue_size must be in [1, 1000], got {self.queue_size}")
        require(self.max_age_ms >= 0.0, f"max_age_ms must be >= 0, got {self.max_age_ms}")
        require(self.max_future_ms >= 0.0, f"max_future_ms must be >= 0, got {self.max_future_ms}")
        require(self.input_depth >= 1, f"input_depth must be >= 1, got {self.input_depth}")


@dataclass(frozen=True)
class OutputParams:
    frame_id: str = param_field("", "frame of the outputs; empty = the colour image's header.frame_id")
    fallback_frame_id: str = param_field("camera_color_optical_frame",
                                         "frame of the outputs when frame_id is empty and the colour image has none (with a warning)")
    tf_prefix: str = param_field("cleanpose_", "TF child frame = <tf_prefix><category>_<instance id>")
    publish_tf: bool = param_field(True, "publish one TF frame per object on /tf")
    publish_markers: bool = param_field(True, "publish RViz markers (boxes, axes, labels)")
    publish_points: bool = param_field(False, "publish the objects' sampled points as PointCloud2")
    points_per_object: int = param_field(256, "points per object in the PointCloud2")
    marker_line_width_m: float = param_field(0.004, "line width of box and axis markers")
    marker_text_height_m: float = param_field(0.025, "height of the label text")
    output_depth: int = param_field(10, "history depth of the (reliable) output publishers")

    def __post_init__(self) -> None:
        require(not self.tf_prefix.startswith("/"), f"tf_prefix must not start with '/', got {self.tf_prefix!r}")
        require(bool(self.fallback_frame_id.strip()), "fallback_frame_id must not be empty")
        require(self.points_per_object >= 1, f"points_per_object must be >= 1, got {self.points_per_object}")
        require(self.marker_line_width_m > 0, f"marker_line_width_m must be > 0, got {self.marker_line_width_m}")
        require(self.marker_text_height_m > 0, f"marker_text_height_m must be > 0, got {self.marker_text_height_m}")
        require(self.output_depth >= 1, f"output_depth must be >= 1, got {self.output_depth}")


@dataclass(frozen=True)
class HealthParams:
    diagnostics_period_s: float = param_field(1.0, "period of /diagnostics")
    log_period_s: float = param_field(10.0, "period of the status log line; 0 = off")
    min_rate_hz: float = param_field(1.0, "diagnostics level WARN below this input rate")

    def __post_init__(self) -> None:
        require(self.diagnostics_period_s > 0, f"diagnostics_period_s must be > 0, got {self.diagnostics_period_s}")
        require(self.log_period_s >= 0, f"log_period_s must be >= 0, got {self.log_period_s}")
        require(self.min_rate_hz >= 0, f"min_rate_hz must be >= 0, got {self.min_rate_hz}")


@dataclass(frozen=True)
class TrackingParams:
    """core/tracker.py TrackerConfig as node parameters (defaults: TrackerConfig's)."""

    enabled: bool = param_field(False, "track objects over frames: outputs keyed by track id, steadier poses, "
                                       "raw per-frame estimates on pose_estimation/detections_raw")
    gate_m: float = param_field(0.10, "an estimate farther than this from a track's centre cannot continue it")
    birth_hits: int = param_field(3, "consecutive matched frames before a track is published")
    max_missed: int = param_field(5, "frames without a match before a track dies (its markers are deleted)")
    flip_gate_deg: float = param_field(45.0, "rotation changes beyond this are held back ...")
    flip_confirm: int = param_field(2, "... until this many consecutive estimates agree")
    min_gain: float = param_field(0.1, "filter gain of an estimate with confidence 0")
    max_gain: float = param_field(0.4, "filter gain of an estimate with confidence 1")
    camera_pose_topic: str = param_field("", "geometry_msgs/PoseStamped of the colour image's optical frame in a fixed "
                                             "frame (odometry, SLAM, a TF relay): tracks are then filtered in that frame, "
                                             "so a moving camera does not drag them; a relative name gets the camera's "
                                             "prefix; empty = filter in the camera frame")

    def __post_init__(self) -> None:
        self.tracker_config()  # the tracker's own validation, with its message

    def tracker_config(self) -> TrackerConfig:
        try:
            return TrackerConfig(gate_m=self.gate_m, birth_hits=self.birth_hits, max_missed=self.max_missed,
                                 flip_gate_deg=self.flip_gate_deg, flip_confirm=self.flip_confirm,
                                 min_gain=self.min_gain, max_gain=self.max_gain)
        except ConfigError as e:
            raise ConfigError(f"tracking: {e}") from None


@dataclass(frozen=True)
class NodeConfig:
    use_detections: bool = param_field(True, "true: Detection2DArray names each mask id's category; "
                                    "false: mask value = NOCS class id (1-based), one object per category")
    cameras: tuple[str, ...] = param_field(("",), "cameras served by this node: [''] = one camera, topics as named; "
                                           "[cam0, cam1, ...] = inputs and outputs under each name (cam0/color/image_raw -> "
                                           "cam0/pose_estimation/detections), the objects of all cameras' newest frames in one "
                                           "engine call")
    inference: InferenceParams = field(default_factory=InferenceParams)
    filters: FilterParams = field(default_factory=FilterParams)
    sync: SyncParams = field(default_factory=SyncParams)
    output: OutputParams = field(default_factory=OutputParams)
    health: HealthParams = field(default_factory=HealthParams)
    tracking: TrackingParams = field(default_factory=TrackingParams)

    def __post_init__(self) -> None:
        names = tuple(self.cameras)
        require(len(names) >= 1, "cameras must name at least one camera ([''] for one camera without a prefix)")
        if names != ("",):
            bad = [n for n in names if not _CAMERA_NAME.fullmatch(n)]
            require(not bad, f"cameras: {bad} are not relative ROS names (letters, digits, _ and / between parts, "
                             "not starting with a digit)")
            require(len(set(names)) == len(names), f"cameras: {list(names)} names a camera twice")


@dataclass(frozen=True)
class ParamSpec:
    name: str  # dotted ROS parameter name
    default: Any  # plain ROS-compatible value (lists for tuples)
    help: str
    type_hint: Any


def parameter_specs(cls: type = NodeConfig, prefix: str = "") -> Iterator[ParamSpec]:
    """Every leaf field of the config tree as (dotted name, default, help, type)."""
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from parameter_specs(tp, f"{prefix}{f.name}.")
            continue
        value = getattr(defaults, f.name)
        yield ParamSpec(f"{prefix}{f.name}", list(value) if isinstance(value, tuple) else value,
                        f.metadata.get("help", ""), tp)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{'sync.slop_ms': 5} -> {'sync': {'slop_ms': 5}}."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def config_from_parameters(values: Mapping[str, Any], cls: type[C] = NodeConfig) -> C:  # type: ignore[assignment]
    """Dotted parameter values -> validated config (ConfigError names the bad parameter)."""
    return from_dict(cls, nest(values), where="parameters")


def declare_config(node: Any, cls: type[C] = NodeConfig) -> C:  # type: ignore[assignment]
    """Declare every leaf of `cls` as a read-only parameter of `node` and return the validated config.

    Dynamic typing is on so that the dataclass validation decides: `slop_ms:=5` (an integer)
    is accepted for a float, and a wrong type gets the same clear message as a bad value.
    """
    from rcl_interfaces.msg import ParameterDescriptor  # here: the rest of this module is ROS-free

    values = {}
    for spec in parameter_specs(cls):
        descriptor = ParameterDescriptor(description=spec.help, read_only=True, dynamic_typing=True)
        values[spec.name] = node.declare_parameter(spec.name, spec.default, descriptor).value
    return config_from_parameters(values, cls)


def tool_node_config(params: str | Path | None = None, triton: Mapping[str, Any] | None = None,
                     **inference: Any) -> NodeConfig:
    """The node's parameters as the offline tools use them: the node's defaults or a params file, with
    the `inference` fields the command line gave (None = not given, the file's or default value stays),
    and likewise the `triton` ones (inference.triton.*: url, model, timeout_s, connect_timeout_s).
    The one builder of cleanpose-evaluate, cleanpose-replay and cleanpose-calibrate-confidence."""
    config = load_node_config(params) if params else NodeConfig()
    given = {k: v for k, v in inference.items() if v is not None}
    given_triton = {k: v for k, v in (triton or {}).items() if v is not None}
    if given_triton:
        try:
            given["triton"] = dataclasses.replace(config.inference.triton, **given_triton)
        except ConfigError as e:
            raise ConfigError(f"inference.triton: {e}") from None
    return dataclasses.replace(config, inference=dataclasses.replace(config.inference, **given))


def add_triton_arguments(parser: Any) -> None:
    """--triton-url / --triton-model / --triton-timeout of the tools that take --engine (inference.triton.*)."""
    parser.add_argument("--triton-url", help="with --engine triton: the server's gRPC host:port "
                        "(default: inference.triton.url, 127.0.0.1:8001)")
    parser.add_argument("--triton-model", help="with --engine triton: the model name on the server (default cleanpose_lite)")
    parser.add_argument("--triton-timeout", type=float, help="with --engine triton: deadline of one request, s (default 2)")


def triton_arguments(args: Any) -> dict[str, Any]:
    """The inference.triton fields add_triton_arguments' options gave (None = not given)."""
    return {"url": args.triton_url, "model": args.triton_model, "timeout_s": args.triton_timeout}


#: Parameters every rclpy node has, which NodeConfig does not declare.
ROS_OWN_PARAMETERS = ("use_sim_time", "start_type_description_service")


def undeclared_parameters(node: Any, cls: type = NodeConfig) -> list[str]:
    """Names given to the node at start (-p, --params-file) that it does not declare: a misspelt
    `sync.slopms:=5` would otherwise be ignored without a word. rclpy keeps the start-up overrides only
    in the private `_parameter_overrides` (no public accessor as of Kilted), hence getattr with a default."""
    given = set(getattr(node, "_parameter_overrides", {}) or {})
    known = {spec.name for spec in parameter_specs(cls)} | set(ROS_OWN_PARAMETERS)
    return sorted(n for n in given - known if not n.startswith("qos_overrides."))


def load_node_config(path: str | Path, node_name: str = "cleanpose_node") -> NodeConfig:
    """Read a ROS 2 params file (`<node or /**>: ros__parameters: ...`) into a NodeConfig."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read parameters: {e}") from None
    for key in (node_name, f"/{node_name}", "/**"):
        section = data.get(key)
        if isinstance(section, Mapping) and "ros__parameters" in section:
            return from_dict(NodeConfig, section["ros__parameters"], where=str(path))
    raise ConfigError(f"{path}: no '{node_name}' or '/**' section with ros__parameters")
