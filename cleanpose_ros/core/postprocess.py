"""Network outputs -> PoseEstimate: the only place raw engine numbers become poses.

Every engine returns the same named float32 arrays (core/engine.py OUTPUT_SPECS):
rotation (B, 3, 3), translation (B, 3) metres in the camera frame, size (B, 3) metres, and
usually the keypoints' NOCS coordinates and camera positions (kpt_nocs, kpt_cam; (B, K, 3)).
Decoding is done in float64 so that two engines whose outputs agree to float32 precision
also agree after decoding.

Pose sources:
- "direct": rotation, translation and size all from the pose head;
- "nocs_fit": the least-squares similarity from kpt_nocs to kpt_cam (core.geometry.similarity_fit),
  the NOCS path's own estimate: its rotation, its translation (where the NOCS origin, the box centre,
  lands) and its scale (the box diagonal, since p_cam = ||size|| R p_nocs + t), with the box
  proportions of the pose head's size;
- "fused": the rotation is the chordal mean of the head's and the fit's (the rotation nearest to
  their sum); translation and scale follow from the keypoints under that rotation, as for nocs_fit.
Why the fit also places the box: on the held-out split the head's translation was off by 1.55 cm on
average (laptops 3.99 cm: their box centre lies in the air between lid and base), the keypoints' by
1.06 cm (laptops 2.85), with the same weights (weights/README.md).
"""
from __future__ import annotations

import logging
from typing import Mapping

import numpy as np

from .config import POSE_SOURCES
from .confidence import pose_features
from .geometry import similarity_fit
from .types import ObjectBatch, PoseEstimate

logger = logging.getLogger(__name__)

#: Rejection reasons produced here (FrameResult.rejected).
REJECT_NON_FINITE = "non_finite_output"  # NaN / inf anywhere in the object's outputs
REJECT_DEGENERATE_ROTATION = "degenerate_rotation"  # rotation output too far from any rotation
REJECT_INVALID_SIZE = "invalid_size"  # a box extent <= 0
REJECT_DEGENERATE_FIT = "degenerate_nocs_fit"  # the keypoint similarity fit has no unique rotation

#: A rotation output whose singular values leave [1 - tol, 1 + tol] is not a rotation the
#: network meant; projecting it would invent an orientation. The network's own 6D -> matrix
#: construction lands within float32 rounding of 1.
ROTATION_SINGULAR_VALUE_TOL = 0.1


def orthonormalize_rotation(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest proper rotation (Frobenius norm) of a 3x3 matrix via SVD, det forced to +1.

    Returns (rotation float64, singular values of the input) so callers can judge how far the
    input was from a rotation.
    """
    u, sv, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64))
    # Flip the axis of the smallest singular value when the input is a reflection, so the
    # result is the closest matrix with det +1 rather than the closest orthogonal one.
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt, sv


def nocs_fit(kpt_nocs: np.ndarray, kpt_cam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
    """(scale, rotation, translation) of the similarity fit NOCS -> camera of one object's keypoints
    (K, 3); None when the fit is degenerate (non-finite input, collapsed keypoints, or a non-positive scale)."""
    scale, rotation, translation = similarity_fit(kpt_nocs, kpt_cam)
    if not (np.isfinite(scale) and scale > 0 and np.isfinite(rotation).all()):
        return None
    return scale, rotation, translation


def place_box(kpt_nocs: np.ndarray, kpt_cam: np.ndarray, rotation: np.ndarray, scale: float,
              head_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Translation and size that the keypoints imply under `rotation` and the fit's `scale`: the
    centroid of kpt_cam minus the rotated, scaled centroid of kpt_nocs (least squares for a fixed
    rotation and scale), and the head's box proportions stretched to the diagonal `scale`."""
    translation = kpt_cam.mean(0) - scale * rotation @ kpt_nocs.mean(0)
    return translation, scale * head_size / np.linalg.norm(head_size)


def select_rotation(direct: np.ndarray, fit: np.ndarray, pose_source: str) -> np.ndarray:
    """The rotation `pose_source` asks for."""
    if pose_source == "direct":
        return direct
    if pose_source == "nocs_fit":
        return fit
    return orthonormalize_rotation(direct + fit)[0]  # fused: chordal L2 mean of two rotations


def decode_poses(outputs: Mapping[str, np.ndarray], batch: ObjectBatch, pose_source: str = "direct"
                 ) -> tuple[list[PoseEstimate], list[tuple[int, str]]]:
    """Turn one engine call's outputs into poses; objects with unusable outputs are refused.

    Returns (poses in batch order, [(instance_id, reason)]). Scores pass through unchanged.
    pose_source other than "direct" needs the keypoint outputs (ValueError without them).
    """
    if pose_source not in POSE_SOURCES:
        raise ValueError(f"pose_source must be one of {POSE_SOURCES}, got {pose_source!r}")
    has_keypoints = {"kpt_nocs", "kpt_cam"} <= set(outputs)
    if pose_source != "direct" and not has_keypoints:
        raise ValueError(f"pose_source {pose_source!r} needs the engine's kpt_nocs / kpt_cam outputs "
                         "(an ONNX file exported before they existed lacks them: re-export it)")
    rotations = np.asarray(outputs["rotation"], dtype=np.float64)
    translations = np.asarray(outputs["translation"], dtype=np.float64)
    sizes = np.asarray(outputs["size"], dtype=np.float64)
    poses: list[PoseEstimate] = []
    rejected: list[tuple[int, str]] = []
    for i, instance_id in enumerate(batch.instance_ids):
        r, t, s = rotations[i], translations[i], sizes[i]
        if not (np.isfinite(r).all() and np.isfinite(t).all() and np.isfinite(s).all()):
            rejected.append((instance_id, REJECT_NON_FINITE))
            continue
        rotation, singular_values = orthonormalize_rotation(r)
        if np.abs(singular_values - 1.0).max() > ROTATION_SINGULAR_VALUE_TOL:
            rejected.append((instance_id, REJECT_DEGENERATE_ROTATION))
            continue
        if (s <= 0).any():
            rejected.append((instance_id, REJECT_INVALID_SIZE))
            continue
        t, s = t.copy(), s.copy()
        features: tuple[float, ...] = ()
        if has_keypoints:
            kpt_nocs = np.asarray(outputs["kpt_nocs"][i], np.float64)
            kpt_cam = np.asarray(outputs["kpt_cam"][i], np.float64)
            fit = nocs_fit(kpt_nocs, kpt_cam)
            if fit is None and pose_source != "direct":
                rejected.append((instance_id, REJECT_DEGENERATE_FIT))
                continue
            if fit is not None:
                features = tuple(float(v) for v in pose_features(rotation, t, s, *fit, kpt_nocs, kpt_cam))
                if pose_source != "direct":
                    rotation = select_rotation(rotation, fit[1], pose_source)
                    t, s = place_box(kpt_nocs, kpt_cam, rotation, fit[0], s)
        poses.append(PoseEstimate(
            instance_id=instance_id,
            category=batch.categories[i],
            score=float(batch.scores[i]),
            rotation=rotation,
            translation=t,
            size=s,
            features=features,
        ))
    if rejected:
        logger.debug("postprocess refused %d of %d objects: %s", len(rejected), len(batch), rejected)
    return poses, rejected
