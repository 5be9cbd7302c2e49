"""Network outputs -> PoseEstimate: the only place raw engine numbers become poses.

Every engine returns the same named float32 arrays (engines/base.py OUTPUT_SPECS):
rotation (B, 3, 3), translation (B, 3) metres in the camera frame, size (B, 3) metres.
Decoding is done in float64 so that two engines whose outputs agree to float32 precision
also agree after decoding.
"""
from __future__ import annotations

import logging
from typing import Mapping

import numpy as np

from .types import ObjectBatch, PoseEstimate

logger = logging.getLogger(__name__)

#: Rejection reasons produced here (FrameResult.rejected).
REJECT_NON_FINITE = "non_finite_output"  # NaN / inf anywhere in the object's outputs
REJECT_DEGENERATE_ROTATION = "degenerate_rotation"  # rotation output too far from any rotation
REJECT_INVALID_SIZE = "invalid_size"  # a box extent <= 0

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


def decode_poses(outputs: Mapping[str, np.ndarray], batch: ObjectBatch
                 ) -> tuple[list[PoseEstimate], list[tuple[int, str]]]:
    """Turn one engine call's outputs into poses; objects with unusable outputs are refused.

    Returns (poses in batch order, [(instance_id, reason)]). Scores pass through unchanged.
    """
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
        poses.append(PoseEstimate(
            instance_id=instance_id,
            category=batch.categories[i],
            score=float(batch.scores[i]),
            rotation=rotation,
            translation=t.copy(),
            size=s.copy(),
        ))
    if rejected:
        logger.debug("postprocess refused %d of %d objects: %s", len(rejected), len(batch), rejected)
    return poses, rejected
