"""Procedural meshes of the six NOCS categories, in the NOCS canonical frame.

Every shape is built in metres with y up and its "front" on +x (NOCS convention, see
docs/data.md): the camera lens points to +x, the laptop keyboard/open side faces +x with the lid
hinged at -x, the mug handle sits on +x. The mesh is then centred on its tight bounding box and
divided by the box diagonal, so canonical coordinates lie in [-0.5, 0.5] and
scale (metres per NOCS unit) = the metric box diagonal, as in REAL275 / CAMERA.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np
import trimesh

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class CategoryShape:
    """One object model: a triangle mesh in the normalised NOCS frame plus its metric scale."""

    category: str
    name: str
    vertices: np.ndarray  # (V, 3) float32, canonical (tight box centred, diagonal 1)
    faces: np.ndarray  # (F, 3) int32
    scale: float  # metres per canonical unit = metric box diagonal
    part_ids: np.ndarray  # (F,) int8, material slot of each face (0 = main body, 1.. = parts)
    handle_min_x: float = np.inf  # canonical x beyond which a mug pixel belongs to the handle

    @property
    def size_m(self) -> np.ndarray:
        """Metric box extents along canonical x, y, z."""
        return (self.vertices.max(axis=0) - self.vertices.min(axis=0)).astype(np.float64) * self.scale

    @property
    def nocs_size(self) -> np.ndarray:
        """Normalised box extents (diagonal 1), what NOCS stores as gt_scales."""
        return (self.vertices.max(axis=0) - self.vertices.min(axis=0)).astype(np.float64)

    def sample_surface(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """Area-weighted uniform surface samples (count, 3) in the canonical frame."""
        tri = self.vertices[self.faces].astype(np.float64)
        areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
        idx = rng.choice(len(areas), size=count, p=areas / areas.sum())
        r1 = np.sqrt(rng.random(count))
        r2 = rng.random(count)
        a, b, c = tri[idx, 0], tri[idx, 1], tri[idx, 2]
        pts = (1 - r1)[:, None] * a + (r1 * (1 - r2))[:, None] * b + (r1 * r2)[:, None] * c
        return pts.astype(np.float32)


# --------------------------------------------------------------------------- mesh primitives
def _revolve(profile: np.ndarray, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Surface of revolution about +y of a polyline profile [(r, y), ...]; r = 0 ends close the surface."""
    profile = np.asarray(profile, dtype=np.float64)
    ang = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    ca, sa = np.cos(ang), np.sin(ang)
    verts = np.stack([profile[:, 0:1] * ca[None, :], np.repeat(profile[:, 1:2], segments, axis=1),
                      profile[:, 0:1] * sa[None, :]], axis=-1).reshape(-1, 3)
    faces = []
    n = len(profile)
    j = np.arange(segments)
    jn = (j + 1) % segments
    for i in range(n - 1):
        a = i * segments + j
        b = i * segments + jn
        c = (i + 1) * segments + j
        d = (i + 1) * segments + jn
        faces.append(np.stack([a, c, b], axis=1))
        faces.append(np.stack([b, c, d], axis=1))
    return verts, np.concatenate(faces).astype(np.int64)


def _box(extents: tuple[float, float, float], centre: tuple[float, float, float] = (0.0, 0.0, 0.0),
         rotation: np.ndarray | None = None) -> trimesh.Trimesh:
    m = trimesh.creation.box(extents=extents)
    if rotation is not None:
        t = np.eye(4)
        t[:3, :3] = rotation
        m.apply_transform(t)
    m.apply_translation(centre)
    return m


def _cylinder_x(radius: float, length: float, x0: float, y: float, z: float, sections: int = 40) -> trimesh.Trimesh:
    """Cylinder along +x from x0 to x0 + length."""
    m = trimesh.creation.cylinder(radius=radius, height=length, sections=sections)
    m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    m.apply_translation([x0 + length / 2, y, z])
    return m


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


# --------------------------------------------------------------------------- categories (metric, y up, front +x)
#: a builder returns its parts (vertices, faces, material slot) and, for mugs, the metric x beyond
#: which surface belongs to the handle (0 for the other categories)
Parts = list[tuple[np.ndarray, np.ndarray, int]]
BuildResult = tuple[Parts, float]

def _bottle(rng: np.random.Generator) -> BuildResult:
    height = rng.uniform(0.16, 0.32)
    radius = rng.uniform(0.028, 0.048) * (height / 0.24) ** 0.4
    neck_r = radius * rng.uniform(0.3, 0.5)
    shoulder_y = height * rng.uniform(0.55, 0.75)
    neck_y = shoulder_y + height * rng.uniform(0.1, 0.2)
    cap_r = neck_r * rng.uniform(1.0, 1.25)
    waist = rng.uniform(0.85, 1.0)  # optional waist for variety
    bulge = rng.uniform(0.0, 0.25)  # rounded vs. conical shoulder
    prof = [(0.0, 0.0), (radius * 0.92, 0.0), (radius, 0.012)]
    prof += [(radius * waist, shoulder_y * 0.45), (radius, shoulder_y * 0.9)]
    for f in np.linspace(0.0, 1.0, 6)[1:]:
        r = radius + (neck_r - radius) * (f ** (1.0 - bulge))
        prof.append((r, shoulder_y + (neck_y - shoulder_y) * f))
    cap_y = height - (height - neck_y) * rng.uniform(0.3, 0.6)
    prof += [(neck_r, cap_y), (cap_r, cap_y), (cap_r, height), (0.0, height)]
    v, f = _revolve(np.array(prof), 40)
    return [(v, f, 0)], 0.0


def _can(rng: np.random.Generator) -> BuildResult:
    height = rng.uniform(0.09, 0.17)
    radius = rng.uniform(0.030, 0.045)
    bevel = radius * rng.uniform(0.06, 0.15)
    prof = [(0.0, 0.004), (radius - bevel, 0.0), (radius, bevel * 1.5), (radius, height - bevel * 1.5),
            (radius - bevel, height), (radius - bevel * 1.4, height), (radius - bevel * 1.6, height - 0.004),
            (0.0, height - 0.004)]
    v, f = _revolve(np.array(prof), 40)
    return [(v, f, 0)], 0.0


def _bowl(rng: np.random.Generator) -> BuildResult:
    radius = rng.uniform(0.055, 0.09)
    height = radius * rng.uniform(0.45, 0.8)
    foot_r = radius * rng.uniform(0.35, 0.6)
    wall = rng.uniform(0.003, 0.007)
    power = rng.uniform(1.4, 2.6)  # wall curvature: larger -> rounder
    ts = np.linspace(0.0, 1.0, 10)
    outer = [(foot_r + (radius - foot_r) * (1 - (1 - t) ** power), height * t) for t in ts]
    inner = [(max(r - wall, 0.0), max(y, wall * 2)) for r, y in outer[::-1]]
    prof = [(0.0, 0.0), (foot_r, 0.0)] + outer[1:] + [(radius - wall * 0.5, height)] + inner + [(0.0, wall * 2)]
    v, f = _revolve(np.array(prof), 48)
    return [(v, f, 0)], 0.0


def _sweep_tube(path: np.ndarray, radius_xy: tuple[float, float], sections: int = 12
                ) -> tuple[np.ndarray, np.ndarray]:
    """Tube with an elliptical cross-section swept along a polyline lying in the x-y plane.

    The cross-section spans the in-plane normal (semi-axis radius_xy[0]) and z (radius_xy[1]).
    The ends stay open: they are buried in the mug wall.
    """
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0], np.zeros(len(path))], axis=1)
    ang = np.linspace(0.0, 2 * np.pi, sections, endpoint=False)
    ring = (np.cos(ang)[None, :, None] * radius_xy[0] * normal[:, None, :]
            + np.sin(ang)[None, :, None] * radius_xy[1] * np.array([0.0, 0.0, 1.0])[None, None, :])
    verts = (path[:, None, :] + ring).reshape(-1, 3)
    faces = []
    j = np.arange(sections)
    jn = (j + 1) % sections
    for i in range(len(path) - 1):
        a, b = i * sections + j, i * sections + jn
        c, d = (i + 1) * sections + j, (i + 1) * sections + jn
        faces += [np.stack([a, c, b], axis=1), np.stack([b, c, d], axis=1)]
    return verts, np.concatenate(faces)


def _mug_handle_path(rng: np.random.Generator, body_radius_at: Callable[[np.ndarray], np.ndarray],
                     height: float) -> np.ndarray:
    """Centre line of the handle: half a superellipse on +x (round, D-shaped or square-ish),
    starting and ending just inside the body wall."""
    top = height * rng.uniform(0.72, 0.9)
    bottom = height * rng.uniform(0.12, 0.35)
    reach = rng.uniform(0.022, 0.045)  # how far the handle sticks out from the wall
    exponent = rng.choice([2.0, 2.0, 3.0, 5.0])  # 2 = ellipse, larger = squarer
    t = np.linspace(-np.pi / 2, np.pi / 2, 28)
    c, s = np.cos(t), np.sin(t)
    yc, b = (top + bottom) / 2, (top - bottom) / 2
    y = yc + b * np.sign(s) * np.abs(s) ** (2.0 / exponent)
    x = body_radius_at(y) * 0.97 + reach * np.abs(c) ** (2.0 / exponent)
    return np.stack([x, y, np.zeros_like(x)], axis=1)


def _mug(rng: np.random.Generator) -> BuildResult:
    radius = rng.uniform(0.035, 0.05)
    height = rng.uniform(0.08, 0.115)
    wall = rng.uniform(0.003, 0.006)
    taper = rng.uniform(0.85, 1.0)  # bottom radius factor
    prof_out = [(0.0, 0.0), (radius * taper, 0.0), (radius, height)]
    prof = prof_out + [(radius - wall, height), (radius * taper - wall, wall * 2), (0.0, wall * 2)]
    body_v, body_f = _revolve(np.array(prof), 48)

    def body_radius_at(y: np.ndarray) -> np.ndarray:
        return radius * taper + (radius - radius * taper) * np.clip(y / height, 0.0, 1.0)

    path = _mug_handle_path(rng, body_radius_at, height)
    thickness = rng.uniform(0.004, 0.008)
    handle_v, handle_f = _sweep_tube(path, (thickness, thickness * rng.uniform(1.0, 1.8)))
    # handle pixels are those beyond the body's outer radius (canonical threshold set after normalising)
    return [(body_v, body_f, 0), (handle_v, handle_f, 1)], radius * 1.02


def _laptop(rng: np.random.Generator) -> BuildResult:
    depth = rng.uniform(0.2, 0.26)  # along x
    width = rng.uniform(0.28, 0.38)  # along z
    base_t = rng.uniform(0.012, 0.022)
    lid_len = depth * rng.uniform(0.92, 1.0)
    lid_t = rng.uniform(0.005, 0.01)
    opening = np.deg2rad(rng.uniform(95.0, 135.0))  # angle between base (+x) and lid
    base = _box((depth, base_t, width), (0.0, base_t / 2, 0.0))
    hinge = np.array([-depth / 2, base_t, 0.0])
    lid = _box((lid_len, lid_t, width * 0.99), (lid_len / 2, lid_t / 2, 0.0))
    lid.apply_transform(np.vstack([np.hstack([_rot_z(opening), hinge[:, None]]), [0, 0, 0, 1]]))
    # keyboard plate + screen panel as separate material slots (dark)
    kb = _box((depth * 0.45, 0.001, width * 0.85), (depth * 0.05, base_t + 0.0005, 0.0))
    screen = _box((lid_len * 0.85, 0.001, width * 0.85), (lid_len * 0.5, -0.0005, 0.0))
    screen.apply_transform(np.vstack([np.hstack([_rot_z(opening), hinge[:, None]]), [0, 0, 0, 1]]))
    return [(base.vertices, base.faces, 0), (lid.vertices, lid.faces, 0), (kb.vertices, kb.faces, 1),
            (screen.vertices, screen.faces, 2)], 0.0


def _camera(rng: np.random.Generator) -> BuildResult:
    bx = rng.uniform(0.04, 0.08)  # body depth (x)
    by = rng.uniform(0.06, 0.1)  # height
    bz = rng.uniform(0.1, 0.15)  # width (z)
    body = _box((bx, by, bz), (0.0, by / 2, 0.0))
    lens_r = min(by, bz) * rng.uniform(0.25, 0.4)
    lens_len = rng.uniform(0.02, 0.09)
    lens_z = rng.uniform(-0.15, 0.15) * bz
    lens_y = by * rng.uniform(0.42, 0.52)
    lens = _cylinder_x(lens_r, lens_len, bx / 2 - 0.002, lens_y, lens_z)
    ring = _cylinder_x(lens_r * 0.8, 0.004, bx / 2 + lens_len - 0.002, lens_y, lens_z)
    parts = [(body.vertices, body.faces, 0), (lens.vertices, lens.faces, 1), (ring.vertices, ring.faces, 2)]
    if rng.random() < 0.7:  # hand grip on the front, at one side
        gz = bz * 0.22
        grip = _box((rng.uniform(0.015, 0.03), by * 0.85, gz), (bx / 2 + 0.008, by * 0.43, -bz / 2 + gz / 2))
        parts.append((grip.vertices, grip.faces, 0))
    if rng.random() < 0.7:  # viewfinder / flash hump on top
        hump = _box((bx * 0.7, rng.uniform(0.01, 0.025), bz * 0.3), (0.0, by + 0.008, lens_z))
        parts.append((hump.vertices, hump.faces, 0))
    return parts, 0.0


_BUILDERS = {"bottle": _bottle, "bowl": _bowl, "camera": _camera, "can": _can, "laptop": _laptop, "mug": _mug}


def make_shape(category: str, rng: np.random.Generator, name: str = "") -> CategoryShape:
    """A random instance of `category`, normalised to the NOCS canonical frame."""
    if category not in _BUILDERS:
        raise ValueError(f"no procedural builder for category {category!r}")
    parts, handle_r = _BUILDERS[category](rng)
    verts, faces, part_ids = [], [], []
    offset = 0
    for v, f, pid in parts:
        verts.append(np.asarray(v, dtype=np.float64))
        faces.append(np.asarray(f, dtype=np.int64) + offset)
        part_ids.append(np.full(len(f), pid, dtype=np.int8))
        offset += len(v)
    v = np.concatenate(verts)
    lo, hi = v.min(axis=0), v.max(axis=0)
    centre = (lo + hi) / 2
    diag = float(np.linalg.norm(hi - lo))
    v_norm = ((v - centre) / diag).astype(np.float32)
    handle_min_x = float((handle_r - centre[0]) / diag) if handle_r > 0 else np.inf
    return CategoryShape(category=category, name=name or f"{category}_norm", vertices=v_norm,
                         faces=np.concatenate(faces).astype(np.int32), scale=diag,
                         part_ids=np.concatenate(part_ids), handle_min_x=handle_min_x)
