"""Per-object confidence: how likely a pose is right, from how well the network's two estimates agree.

The network estimates every pose twice (core/postprocess.py): the pose head regresses rotation,
translation and size; the keypoints' predicted NOCS coordinates, fitted to the keypoints' camera
positions by a similarity, give a second rotation, centre and scale. Where the object is easy
the two agree and the keypoints sit on their fit; where it is ambiguous (a laptop seen edge on, a
mug whose handle hides) they part. `pose_features` turns that into five numbers; a
`ConfidenceModel` (per-category logistic regression, fitted by `cleanpose-calibrate-confidence` on
a generated split the weights never saw) maps them to the probability that the pose is within
10 deg / 5 cm of the truth (rotation about the symmetry axis ignored for bottle, bowl and can).

The model file is a small JSON next to the weights (`<weights stem>.confidence.json`), tied to
them by the SHA-256 of the weights file it was calibrated on (and of any export of them, e.g. the
.onnx, listed at calibration): other weights get no confidence rather than a wrong one. numpy + scipy only, like the rest of core.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .errors import ConfigError

logger = logging.getLogger(__name__)

#: The features, in order (all dimensionless, >= 0, 0 = the two estimates agree perfectly).
FEATURE_NAMES: tuple[str, ...] = (
    "rotation_disagreement_rad",  # angle between the head's rotation and the keypoint fit's
    "up_axis_disagreement_rad",   # angle between their y (up / symmetry) axes
    "keypoint_residual",          # median distance of a keypoint from its fitted position / fit scale
    "centre_disagreement",        # distance between the head's centre and the fit's / fit scale
    "scale_disagreement",         # |log(fit scale / head's box diagonal)|
)
#: Features enter the model as log(feature + FEATURE_FLOOR): their spread is multiplicative.
FEATURE_FLOOR = 1e-3
#: Covariance: confidence bins per category (quantiles of the calibration split), variance floors
#: (no pose is claimed better than 2 mm / 1 deg), and the variance that marks the free rotation about
#: the symmetry axis of bottle, bowl and can (rad^2; far beyond any real error, as ROS consumers expect).
COVARIANCE_BINS = 4
POSITION_VARIANCE_FLOOR_M2 = 0.002 ** 2
ROTATION_VARIANCE_FLOOR_RAD2 = math.radians(1.0) ** 2
UNCONSTRAINED_VARIANCE = 1.0e6
CONFIDENCE_SUFFIX = ".confidence.json"
SCHEMA = "cleanpose-confidence"


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.arccos(np.clip(cos, -1.0, 1.0)))


def pose_features(head_rotation: np.ndarray, head_translation: np.ndarray, head_size: np.ndarray,
                  fit_scale: float, fit_rotation: np.ndarray, fit_translation: np.ndarray,
                  kpt_nocs: np.ndarray, kpt_cam: np.ndarray) -> np.ndarray:
    """The five agreement features (FEATURE_NAMES) of one object, float64 (5,)."""
    residual = np.linalg.norm(fit_scale * kpt_nocs @ fit_rotation.T + fit_translation - kpt_cam, axis=1)
    up = float(np.arccos(np.clip(head_rotation[:, 1] @ fit_rotation[:, 1], -1.0, 1.0)))
    return np.array([
        _angle(head_rotation, fit_rotation),
        up,
        float(np.median(residual)) / fit_scale,
        float(np.linalg.norm(head_translation - fit_translation)) / fit_scale,
        abs(math.log(fit_scale / float(np.linalg.norm(head_size)))),
    ])


def _design(features: np.ndarray) -> np.ndarray:
    return np.log(np.asarray(features, np.float64) + FEATURE_FLOOR)


@dataclass(frozen=True)
class CategoryModel:
    """p = sigmoid(bias + weights . standardised(log(features + floor)))."""

    weights: tuple[float, ...]
    bias: float
    positives: int = 0  # calibration objects within the threshold / in all (for the record)
    objects: int = 0
    #: error model: interior confidence edges of the bins, and per bin the variance of the centre per
    #: camera axis (m^2, isotropic) and of the rotation error about the object's x, y, z axes (rad^2)
    confidence_edges: tuple[float, ...] = ()
    position_variance: tuple[float, ...] = ()
    rotation_variance: tuple[tuple[float, float, float], ...] = ()
    symmetric: bool = False  # rotation about the object's y axis is free (bottle, bowl, can)

    def variances(self, confidence: float) -> tuple[float, np.ndarray] | None:
        """(position variance per axis m^2, rotation variances about the object axes rad^2 (3,)) of the
        confidence bin `confidence` falls in; None without an error model."""
        if not self.position_variance:
            return None
        b = int(np.searchsorted(np.asarray(self.confidence_edges), confidence, side="right"))
        rot = np.array(self.rotation_variance[b], np.float64)
        if self.symmetric:
            rot[1] = UNCONSTRAINED_VARIANCE
        return float(self.position_variance[b]), rot


@dataclass(frozen=True)
class ConfidenceModel:
    """Per-category logistic regression on the agreement features; see the module docstring."""

    categories: Mapping[str, CategoryModel]
    mean: tuple[float, ...]  # standardisation of the design matrix, shared by all categories
    std: tuple[float, ...]
    weights_sha256: tuple[str, ...] = ()  # the weights files (.pt and its exports) it describes; () = not tied
    feature_names: tuple[str, ...] = FEATURE_NAMES
    label: str = "rotation <= 10 deg and translation <= 5 cm (symmetry-aware)"
    calibration: Mapping[str, object] = field(default_factory=dict)  # where and how it was fitted

    def __post_init__(self) -> None:
        if tuple(self.feature_names) != FEATURE_NAMES:
            raise ConfigError(f"confidence model features {list(self.feature_names)} are not this version's "
                              f"{list(FEATURE_NAMES)}: recalibrate with cleanpose-calibrate-confidence")
        for name, m in self.categories.items():
            if len(m.weights) != len(FEATURE_NAMES):
                raise ConfigError(f"confidence model for {name!r} has {len(m.weights)} weights, needs {len(FEATURE_NAMES)}")

    def covariance(self, category: str, confidence: float, rotation: np.ndarray) -> np.ndarray | None:
        """6x6 covariance of (x, y, z, rotation about x, y, z) in the camera frame, as
        geometry_msgs/PoseWithCovariance wants it: the position block diagonal; the rotation block
        diagonal in the object's frame, turned into the camera frame (R diag R^T), so the free axis of a
        symmetric object is marked as the object's own y axis. None without an error model."""
        m = self.categories.get(category)
        v = m.variances(confidence) if m is not None else None
        if v is None:
            return None
        cov = np.zeros((6, 6))
        cov[:3, :3] = np.eye(3) * v[0]
        cov[3:, 3:] = rotation @ np.diag(v[1]) @ rotation.T
        return cov

    def predict(self, category: str, features: Sequence[float]) -> float | None:
        """Probability in [0, 1] that the pose is within the label's thresholds; None for a category
        the model was not calibrated on or for non-finite features."""
        m = self.categories.get(category)
        f = np.asarray(features, np.float64)
        if m is None or f.shape != (len(FEATURE_NAMES),) or not np.isfinite(f).all():
            return None
        z = (_design(f) - np.asarray(self.mean)) / np.asarray(self.std)
        logit = float(m.bias + np.dot(m.weights, z))
        return float(1.0 / (1.0 + math.exp(-logit))) if logit > -700 else 0.0

    # -- fitting ---------------------------------------------------------------------------------
    @classmethod
    def fit(cls, categories: Sequence[str], features: np.ndarray, labels: np.ndarray, l2: float = 1.0,
            weights_sha256: Sequence[str] = (), calibration: Mapping[str, object] | None = None,
            translation_errors: np.ndarray | None = None, rotation_errors: np.ndarray | None = None,
            symmetric: Sequence[str] = ()) -> "ConfidenceModel":
        """Maximum-likelihood logistic regression per category with an L2 penalty `l2` on the weights
        (not the bias), on features standardised over all objects. Deterministic (L-BFGS from zero).

        With `translation_errors` (P, 3; m) and `rotation_errors` (P, 3; rotation vectors in the object
        frame, rad) also the error model of the covariance: per category, COVARIANCE_BINS bins at the
        quantiles of the fitted confidence, each with its mean squared errors (floored). `symmetric`
        names the categories whose rotation about y is free."""
        from scipy.optimize import minimize  # scipy is a runtime dependency; imported on use

        x = _design(np.asarray(features, np.float64).reshape(len(categories), len(FEATURE_NAMES)))
        y = np.asarray(labels, np.float64)
        mean, std = x.mean(0), x.std(0)
        std = np.where(std > 1e-12, std, 1.0)
        z = (x - mean) / std
        models: dict[str, CategoryModel] = {}
        cats = np.asarray(categories)
        for name in sorted(set(categories)):
            zi, yi = z[cats == name], y[cats == name]

            def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
                logits = zi @ theta[1:] + theta[0]
                # log(1 + e^l) - y l, stable for large |l|
                nll = np.logaddexp(0.0, logits) - yi * logits
                p = 0.5 * (1.0 + np.tanh(0.5 * logits))
                g = p - yi
                value = float(nll.sum() + 0.5 * l2 * theta[1:] @ theta[1:])
                grad = np.concatenate([[g.sum()], zi.T @ g + l2 * theta[1:]])
                return value, grad

            theta = minimize(loss, np.zeros(len(FEATURE_NAMES) + 1), jac=True, method="L-BFGS-B").x
            errors: dict[str, object] = {}
            if translation_errors is not None and rotation_errors is not None:
                conf = 1.0 / (1.0 + np.exp(-(zi @ theta[1:] + theta[0])))
                errors = _error_bins(conf, np.asarray(translation_errors, np.float64)[cats == name],
                                     np.asarray(rotation_errors, np.float64)[cats == name])
            models[name] = CategoryModel(weights=tuple(float(v) for v in theta[1:]), bias=float(theta[0]),
                                         positives=int(yi.sum()), objects=int(len(yi)), symmetric=name in symmetric,
                                         **errors)  # type: ignore[arg-type]
        return cls(categories=models, mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std),
                   weights_sha256=tuple(weights_sha256), calibration=dict(calibration or {}))

    # -- files -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, object]:
        return {"schema": SCHEMA, "version": 1, "label": self.label, "feature_names": list(self.feature_names),
                "feature_floor": FEATURE_FLOOR, "mean": list(self.mean), "std": list(self.std),
                "weights_sha256": list(self.weights_sha256), "calibration": dict(self.calibration),
                "categories": {k: {"weights": list(m.weights), "bias": m.bias, "positives": m.positives,
                                   "objects": m.objects, "confidence_edges": list(m.confidence_edges),
                                   "position_variance": list(m.position_variance),
                                   "rotation_variance": [list(r) for r in m.rotation_variance],
                                   "symmetric": m.symmetric} for k, m in sorted(self.categories.items())}}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(path)  # atomic: a reader never sees half a model
        return path

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> "ConfidenceModel":
        if obj.get("schema") != SCHEMA or obj.get("version") != 1:
            raise ConfigError(f"not a confidence model file (schema {obj.get('schema')!r}, version {obj.get('version')!r})")
        if float(obj.get("feature_floor", FEATURE_FLOOR)) != FEATURE_FLOOR:  # type: ignore[arg-type]
            raise ConfigError("confidence model was fitted with another feature floor: recalibrate")
        try:
            cats = {str(k): CategoryModel(weights=tuple(float(w) for w in v["weights"]), bias=float(v["bias"]),
                                          positives=int(v.get("positives", 0)), objects=int(v.get("objects", 0)),
                                          confidence_edges=tuple(float(e) for e in v.get("confidence_edges", ())),
                                          position_variance=tuple(float(e) for e in v.get("position_variance", ())),
                                          rotation_variance=tuple(tuple(float(x) for x in r)  # type: ignore[misc]
                                                                  for r in v.get("rotation_variance", ())),
                                          symmetric=bool(v.get("symmetric", False)))
                    for k, v in dict(obj["categories"]).items()}  # type: ignore[arg-type]
            return cls(categories=cats, mean=tuple(float(v) for v in obj["mean"]),  # type: ignore[union-attr]
                       std=tuple(float(v) for v in obj["std"]), weights_sha256=tuple(str(h) for h in obj.get("weights_sha256", ())),  # type: ignore[union-attr]
                       feature_names=tuple(obj.get("feature_names", ())), label=str(obj.get("label", "")),  # type: ignore[arg-type]
                       calibration=dict(obj.get("calibration", {})))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"malformed confidence model: {e!r}") from None

    @classmethod
    def load(cls, path: str | Path) -> "ConfidenceModel":
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read confidence model {path}: {e}") from None


def _error_bins(confidence: np.ndarray, translation_errors: np.ndarray, rotation_errors: np.ndarray
                ) -> dict[str, tuple]:
    """CategoryModel error-model fields: bins at the confidence quantiles, mean squared errors per bin."""
    bins = max(1, min(COVARIANCE_BINS, len(confidence) // 10))  # at least ~10 objects a bin
    edges = np.quantile(confidence, np.arange(1, bins) / bins) if bins > 1 else np.zeros(0)
    index = np.searchsorted(edges, confidence, side="right")
    position, rotation = [], []
    for b in range(bins):
        sel = index == b
        t = translation_errors[sel] if sel.any() else translation_errors
        r = rotation_errors[sel] if sel.any() else rotation_errors
        position.append(max(float((t ** 2).sum(1).mean()) / 3.0, POSITION_VARIANCE_FLOOR_M2))
        rotation.append(tuple(max(float(v), ROTATION_VARIANCE_FLOOR_RAD2) for v in (r ** 2).mean(0)))
    return {"confidence_edges": tuple(float(e) for e in edges), "position_variance": tuple(position),
            "rotation_variance": tuple(rotation)}


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(weights: str | Path) -> Path:
    """Where the confidence model of a weights file lives: <folder>/<stem>.confidence.json."""
    weights = Path(weights)
    return weights.with_name(weights.stem + CONFIDENCE_SUFFIX)


def load_for_weights(weights: str | Path, path: str | Path | None = None) -> ConfidenceModel | None:
    """The confidence model for `weights`: `path` if given (must exist and match), else the sidecar
    next to the weights when there is one. A model calibrated on other weights is not used (warning:
    its probabilities would describe another network); a given path that does not match is an error."""
    candidate = Path(path) if path else sidecar_path(weights)
    if not candidate.is_file():
        if path:
            raise ConfigError(f"confidence model {candidate} does not exist")
        return None
    model = ConfidenceModel.load(candidate)
    digest = file_sha256(weights) if Path(weights).is_file() else ""
    if model.weights_sha256 and digest not in model.weights_sha256:
        message = (f"confidence model {candidate} was calibrated on other weights ({Path(weights).name} has sha256 "
                   f"{digest[:12]}..., the model lists {[h[:12] for h in model.weights_sha256]}); recalibrate with "
                   "cleanpose-calibrate-confidence")
        if path:
            raise ConfigError(message)
        logger.warning("%s; poses get no confidence", message)
        return None
    return model


def carry_to_export(weights: str | Path, export: str | Path) -> Path | None:
    """Give an export of `weights` (the same network, e.g. its .onnx) the weights' confidence model: a copy
    next to the export that also lists the export's SHA-256. None when the weights have no valid model."""
    model = load_for_weights(weights)
    if model is None:
        return None
    extended = dataclasses.replace(model, weights_sha256=(*model.weights_sha256, file_sha256(export)))
    return extended.save(sidecar_path(export))


__all__ = ["carry_to_export", "CONFIDENCE_SUFFIX", "CategoryModel", "ConfidenceModel", "FEATURE_NAMES", "file_sha256",
           "load_for_weights", "pose_features", "sidecar_path"]
