"""Rotation helpers in torch: 6-number -> rotation matrix, symmetric ground-truth canonicalisation,
random small rotations for augmentation, geodesic angle."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def rotation_from_6d(x_raw: Tensor, y_raw: Tensor) -> Tensor:
    """Two 3-vectors (B, 3) -> rotation (B, 3, 3) whose second column is normalised y_raw.

    The y column (the NOCS symmetry axis) is taken as predicted; z = x_raw x y and x = y x z complete
    a right-handed orthonormal frame (det +1).
    """
    y = F.normalize(y_raw, dim=-1, eps=1e-8)
    z = F.normalize(torch.cross(x_raw, y, dim=-1), dim=-1, eps=1e-8)
    x = torch.cross(y, z, dim=-1)
    return torch.stack([x, y, z], dim=-1)


def canonicalise_symmetric(rotation: Tensor, symmetric: Tensor) -> Tensor:
    """Remove the rotation about the canonical y axis for symmetric instances.

    rotation (B, 3, 3), symmetric (B,) bool. The result depends only on the y column: it is
    R @ Ry(a) with the unique angle a that makes R'[0, 2] == R'[2, 0] and R'[0, 0] + R'[2, 2] >= 0.
    """
    r = rotation
    cx = r[:, 0, 0] + r[:, 2, 2]
    cy = r[:, 0, 2] - r[:, 2, 0]
    norm = torch.sqrt(cx * cx + cy * cy)
    # cx = cy = 0 only when the y axis points exactly down (upside down): every spin is then
    # equivalent for this formula, so keep the rotation as it is rather than divide by zero.
    degenerate = norm < 1e-9
    safe = torch.where(degenerate, torch.ones_like(norm), norm)
    c = torch.where(degenerate, torch.ones_like(cx), cx / safe)
    s = torch.where(degenerate, torch.zeros_like(cy), cy / safe)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    ry = torch.stack([torch.stack([c, zero, -s], -1), torch.stack([zero, one, zero], -1),
                      torch.stack([s, zero, c], -1)], dim=-2)
    return torch.where(symmetric.view(-1, 1, 1), r @ ry, r)


def rotation_about_y(angle: Tensor) -> Tensor:
    """(B,) radians -> (B, 3, 3) rotation about y."""
    c, s = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    return torch.stack([torch.stack([c, zero, s], -1), torch.stack([zero, one, zero], -1),
                        torch.stack([-s, zero, c], -1)], dim=-2)


def euler_xyz_to_matrix(angles: Tensor) -> Tensor:
    """(B, 3) radians about x, y, z -> Rz @ Ry @ Rx (B, 3, 3)."""
    cx, cy, cz = torch.cos(angles).unbind(-1)
    sx, sy, sz = torch.sin(angles).unbind(-1)
    zero, one = torch.zeros_like(cx), torch.ones_like(cx)
    rx = torch.stack([torch.stack([one, zero, zero], -1), torch.stack([zero, cx, -sx], -1),
                      torch.stack([zero, sx, cx], -1)], -2)
    ry = torch.stack([torch.stack([cy, zero, sy], -1), torch.stack([zero, one, zero], -1),
                      torch.stack([-sy, zero, cy], -1)], -2)
    rz = torch.stack([torch.stack([cz, -sz, zero], -1), torch.stack([sz, cz, zero], -1),
                      torch.stack([zero, zero, one], -1)], -2)
    return rz @ ry @ rx


def random_rotation(batch: int, max_deg: float, generator: torch.Generator | None = None) -> Tensor:
    """Rotations with each Euler angle uniform in [-max_deg, max_deg]."""
    angles = (torch.rand(batch, 3, generator=generator) * 2.0 - 1.0) * math.radians(max_deg)
    return euler_xyz_to_matrix(angles)


def rotation_angle_deg(a: Tensor, b: Tensor) -> Tensor:
    """Geodesic angle (B,) in degrees between rotations a and b (B, 3, 3)."""
    cos = ((a.transpose(1, 2) @ b).diagonal(dim1=1, dim2=2).sum(-1) - 1.0) / 2.0
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))
