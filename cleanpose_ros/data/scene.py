"""Scene layout and rendering of one synthetic RGB-D frame with its ground truth.

World frame: y up, table top at y = 0. Objects stand upright on the table (canonical y = world y)
with a random yaw; distractor clutter (boxes, cylinders, spheres, tori that belong to no NOCS
category) is scattered among them; the camera looks down at the table from 0.5-1.2 m like the
REAL275 recordings. Everything random comes from the generator passed in, so a seed fixes a frame.
"""
from __future__ import annotations

import colorsys
import logging
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import trimesh

from ..core.types import CATEGORIES, CameraIntrinsics
from .depth_noise import DepthNoiseConfig, apply_depth_noise
from .render import Lighting, Renderer, RenderItem
from .shapes import CategoryShape, make_shape

logger = logging.getLogger(__name__)

#: handle pixels needed to call a mug handle visible
HANDLE_VISIBLE_MIN_PIXELS = 20
#: instances with fewer valid depth pixels are left out of the label (NOCS / DPDN rule)
LABEL_MIN_DEPTH_PIXELS = 64


class ShapePool:
    """A fixed, seeded set of model instances per category (like the finite CAD sets of NOCS).

    Model k of a category is built from SeedSequence([seed, category index, k]) on first use and
    cached, so every worker process sees the same models without shipping meshes around.
    """

    def __init__(self, seed: int, models_per_category: int, categories: Sequence[str] = CATEGORIES) -> None:
        self.seed = int(seed)
        self.models_per_category = int(models_per_category)
        self.categories = tuple(categories)
        self._cache: dict[tuple[str, int], CategoryShape] = {}
        self._points: dict[tuple[str, int], np.ndarray] = {}

    def model_name(self, category: str, k: int) -> str:
        return f"{category}_s{self.seed}_{k:03d}_norm"

    def get(self, category: str, k: int) -> CategoryShape:
        key = (category, k)
        if key not in self._cache:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 7919, self.categories.index(category), k]))
            self._cache[key] = make_shape(category, rng, self.model_name(category, k))
        return self._cache[key]

    def all_models(self) -> list[CategoryShape]:
        return [self.get(c, k) for c in self.categories for k in range(self.models_per_category)]

    def model_points(self, shape: CategoryShape, count: int = 1024) -> np.ndarray:
        """(count, 3) canonical surface samples of a model, seeded by its name (obj_models pickle)."""
        key = (shape.name, count)
        if key not in self._points:
            digest = np.frombuffer(shape.name.encode(), dtype=np.uint8).astype(np.uint32)
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 104729, *digest.tolist()]))
            self._points[key] = shape.sample_surface(count, rng)
        return self._points[key]


@dataclass(frozen=True, eq=False)
class PlacedObject:
    shape: CategoryShape
    instance_id: int  # mask value, 1-based
    yaw: float  # rotation about world y
    position: np.ndarray  # box centre in the world frame (m)
    colors: np.ndarray
    stripe_color: np.ndarray
    pattern: int
    pattern_freq: float
    shininess: float

    @property
    def world_rotation(self) -> np.ndarray:
        return _rot_y(self.yaw)


@dataclass(frozen=True, eq=False)
class Distractor:
    vertices: np.ndarray
    faces: np.ndarray
    rotation: np.ndarray
    position: np.ndarray
    colors: np.ndarray
    pattern: int
    stripe_color: np.ndarray


@dataclass(frozen=True, eq=False)
class SceneLayout:
    objects: list[PlacedObject]
    distractors: list[Distractor]
    table_colors: np.ndarray
    table_stripe: np.ndarray
    table_pattern: int
    table_freq: float


@dataclass(frozen=True, eq=False)
class ObjectAnnotation:
    """Ground truth of one annotated instance in one frame (camera frame)."""

    instance_id: int
    category: str
    model_name: str
    rotation: np.ndarray  # (3, 3) canonical -> camera
    translation: np.ndarray  # (3,) m
    scale: float  # metres per canonical unit
    size_m: np.ndarray  # (3,) metric box extents
    nocs_size: np.ndarray  # (3,) normalised extents (diag 1)
    bbox: np.ndarray  # (4,) int32 [y1, x1, y2, x2) from the mask
    mask_pixels: int
    valid_depth_pixels: int
    handle_visibility: int


@dataclass(frozen=True, eq=False)
class SyntheticFrame:
    rgb: np.ndarray  # (H, W, 3) uint8
    depth_m: np.ndarray  # (H, W) float32, noisy, mm-quantised, 0 = missing
    clean_depth_m: np.ndarray  # (H, W) float32 rendered depth
    mask: np.ndarray  # (H, W) uint8 instance ids, 255 = background
    nocs8: np.ndarray  # (H, W, 3) uint8 round(255 * (canonical + 0.5)); 0 off objects
    intrinsics: CameraIntrinsics
    annotations: list[ObjectAnnotation]  # instances visible in the mask, ascending id
    meta: list[tuple[int, int, str]]  # (inst_id, class_id, model_name) of every placed object
    camera_rotation: np.ndarray = field(default_factory=lambda: np.eye(3))  # world -> camera
    camera_translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def nocs(self) -> np.ndarray:
        """(H, W, 3) float32 canonical + 0.5 in [0, 1] (8-bit resolution, like the coord PNG)."""
        return self.nocs8.astype(np.float32) / 255.0


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _random_color(rng: np.random.Generator, sat: tuple[float, float] = (0.2, 0.9),
                  val: tuple[float, float] = (0.2, 0.95)) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val)))


def _object_materials(category: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, float, float]:
    """(colors (4,3), stripe colour, pattern, pattern frequency, shininess) typical of the category."""
    main = _random_color(rng)
    dark = np.full(3, rng.uniform(0.03, 0.15))
    grey = np.full(3, rng.uniform(0.4, 0.8))
    if category == "laptop":
        shell = grey if rng.random() < 0.6 else dark * 1.5
        colors = np.stack([shell, dark, np.array([0.02, 0.03, rng.uniform(0.05, 0.2)]), shell])
        pattern = 0
    elif category == "camera":
        body = dark if rng.random() < 0.6 else main
        colors = np.stack([body, dark * 0.5, grey, body])
        pattern = int(rng.choice([0, 4]))
    elif category == "mug":
        colors = np.stack([main, main, main, main])
        pattern = int(rng.choice([0, 0, 1, 2, 4]))
    else:
        colors = np.stack([main, main, main, main])
        pattern = int(rng.choice([0, 1, 1, 2, 3, 4]))
    return colors, _random_color(rng), pattern, float(rng.uniform(2.0, 8.0)), float(rng.uniform(8.0, 64.0))


def _distractor_mesh(rng: np.random.Generator) -> trimesh.Trimesh:
    kind = rng.integers(0, 4)
    if kind == 0:
        return trimesh.creation.box(extents=rng.uniform(0.03, 0.16, size=3))
    if kind == 1:
        return trimesh.creation.cylinder(radius=rng.uniform(0.02, 0.07), height=rng.uniform(0.02, 0.2), sections=24)
    if kind == 2:
        return trimesh.creation.icosphere(subdivisions=2, radius=rng.uniform(0.02, 0.06))
    return trimesh.creation.torus(major_radius=rng.uniform(0.03, 0.06), minor_radius=rng.uniform(0.008, 0.02),
                                  major_sections=24, minor_sections=10)


#: how many objects a random layout places on the table (fewer when there is no room), both ends included
OBJECTS_PER_LAYOUT = (3, 6)


def make_layout(rng: np.random.Generator, pool: ShapePool, num_objects: tuple[int, int] = OBJECTS_PER_LAYOUT,
                num_distractors: tuple[int, int] = (2, 6), area_radius_m: float = 0.32) -> SceneLayout:
    """Random non-intersecting placement of objects and distractors on the table."""
    n_obj = int(rng.integers(num_objects[0], num_objects[1] + 1))
    footprints: list[tuple[np.ndarray, float]] = []

    def place(radius: float) -> np.ndarray | None:
        for _ in range(60):
            r = area_radius_m * np.sqrt(rng.random())
            a = rng.uniform(0, 2 * np.pi)
            xz = np.array([r * np.cos(a), r * np.sin(a)])
            if all(np.linalg.norm(xz - c) > radius + rc + 0.005 for c, rc in footprints):
                footprints.append((xz, radius))
                return xz
        return None

    objects: list[PlacedObject] = []
    for _ in range(n_obj):
        category = pool.categories[int(rng.integers(0, len(pool.categories)))]
        shape = pool.get(category, int(rng.integers(0, pool.models_per_category)))
        size = shape.size_m
        xz = place(0.5 * float(np.hypot(size[0], size[2])))
        mats = _object_materials(category, rng)
        if xz is None:
            continue
        objects.append(PlacedObject(shape=shape, instance_id=len(objects) + 1, yaw=float(rng.uniform(-np.pi, np.pi)),
                                    position=np.array([xz[0], size[1] / 2, xz[1]]), colors=mats[0],
                                    stripe_color=mats[1], pattern=mats[2], pattern_freq=mats[3], shininess=mats[4]))
    distractors: list[Distractor] = []
    for _ in range(int(rng.integers(num_distractors[0], num_distractors[1] + 1))):
        mesh = _distractor_mesh(rng)
        lo, hi = mesh.bounds
        rot = _rot_y(rng.uniform(-np.pi, np.pi))
        ext = hi - lo
        xz = place(0.5 * float(np.hypot(ext[0], ext[2])))
        color = _random_color(rng)
        pattern = int(rng.choice([0, 2, 3, 4]))
        stripe = _random_color(rng)
        if xz is None:
            continue
        distractors.append(Distractor(vertices=(mesh.vertices - (lo + hi) / 2).astype(np.float32),
                                      faces=mesh.faces.astype(np.int32), rotation=rot,
                                      position=np.array([xz[0], ext[1] / 2, xz[1]]), colors=np.stack([color] * 4),
                                      pattern=pattern, stripe_color=stripe))
    table = _random_color(rng, sat=(0.05, 0.5), val=(0.3, 0.9))
    return SceneLayout(objects=objects, distractors=distractors, table_colors=np.stack([table] * 4),
                       table_stripe=table * rng.uniform(0.6, 0.9), table_pattern=int(rng.choice([0, 2, 3, 4])),
                       table_freq=float(rng.uniform(2.0, 12.0)))


def look_at(eye: np.ndarray, target: np.ndarray, roll_rad: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera (R, t) of a camera at `eye` looking at `target` (OpenCV axes, world y up)."""
    z_c = (target - eye) / np.linalg.norm(target - eye)
    x_c = np.cross(z_c, [0.0, 1.0, 0.0])
    x_c /= np.linalg.norm(x_c)
    y_c = np.cross(z_c, x_c)
    rot = np.stack([x_c, y_c, z_c])
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ rot
    return rot, -rot @ eye


def random_camera(rng: np.random.Generator, distance_m: tuple[float, float] = (0.5, 1.2),
                  elevation_deg: tuple[float, float] = (25.0, 80.0), target_jitter_m: float = 0.1
                  ) -> tuple[np.ndarray, np.ndarray]:
    """World -> camera (R, t) of a camera looking down at the table centre (OpenCV axes)."""
    dist = rng.uniform(*distance_m)
    elev = np.deg2rad(rng.uniform(*elevation_deg))
    azim = rng.uniform(0, 2 * np.pi)
    target = np.array([rng.uniform(-1, 1) * target_jitter_m, rng.uniform(0.0, 0.06), rng.uniform(-1, 1) * target_jitter_m])
    eye = target + dist * np.array([np.cos(elev) * np.cos(azim), np.sin(elev), np.cos(elev) * np.sin(azim)])
    return look_at(eye, target, np.deg2rad(rng.uniform(-10.0, 10.0)))


@dataclass(frozen=True)
class OrbitCamera:
    """A hand-held camera circling the table: a slow orbit (azimuth at a constant rate) with smooth
    hand jitter (sums of sinusoids of random phase, 0.5-2 Hz) on the eye, the target and the roll."""

    target: np.ndarray
    distance_m: float
    elevation_rad: float
    azimuth0_rad: float
    rate_rad_s: float
    jitter: np.ndarray  # (3 components, 3 sinusoids): amplitudes (m / m / rad) of eye, target, roll
    freqs_hz: np.ndarray  # (3, 3)
    phases: np.ndarray  # (3, 3, 3): per component, sinusoid, axis

    @classmethod
    def random(cls, rng: np.random.Generator) -> "OrbitCamera":
        return cls(target=np.array([rng.uniform(-0.05, 0.05), rng.uniform(0.0, 0.04), rng.uniform(-0.05, 0.05)]),
                   distance_m=float(rng.uniform(0.6, 1.0)), elevation_rad=float(np.deg2rad(rng.uniform(30.0, 65.0))),
                   azimuth0_rad=float(rng.uniform(0, 2 * np.pi)),
                   rate_rad_s=float(np.deg2rad(rng.uniform(6.0, 15.0)) * rng.choice([-1.0, 1.0])),
                   jitter=np.array([[0.004, 0.002, 0.001], [0.003, 0.0015, 0.001], [0.004, 0.002, 0.001]]),
                   freqs_hz=rng.uniform(0.5, 2.0, (3, 3)), phases=rng.uniform(0, 2 * np.pi, (3, 3, 3)))

    def _wobble(self, component: int, t_s: float) -> np.ndarray:
        waves = np.sin(2 * np.pi * self.freqs_hz[component][:, None] * t_s + self.phases[component])  # (3, 3)
        return (self.jitter[component][:, None] * waves).sum(0)

    def pose(self, t_s: float) -> tuple[np.ndarray, np.ndarray]:
        """World -> camera (R, t) at time t_s."""
        azim = self.azimuth0_rad + self.rate_rad_s * t_s
        e = self.elevation_rad
        eye = self.target + self.distance_m * np.array([np.cos(e) * np.cos(azim), np.sin(e), np.cos(e) * np.sin(azim)])
        return look_at(eye + self._wobble(0, t_s), self.target + self._wobble(1, t_s), float(self._wobble(2, t_s)[0]))


def random_light(rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
    """Light from above (world up) with a random tilt, ambient and gain."""
    direction = np.array([rng.uniform(-0.8, 0.8), 1.0, rng.uniform(-0.8, 0.8)])
    return direction, float(rng.uniform(0.2, 0.5)), float(rng.uniform(0.5, 0.9))


_TABLE_VERTS = np.array([[-5, 0, -5], [5, 0, -5], [5, 0, 5], [-5, 0, 5]], dtype=np.float32)
_TABLE_FACES = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int32)


def render_frame(renderer: Renderer, layout: SceneLayout, rng: np.random.Generator,
                 noise: DepthNoiseConfig | None = DepthNoiseConfig(), rgb_noise_std: float = 0.0,
                 camera: tuple[np.ndarray, np.ndarray] | None = None,
                 light: tuple[np.ndarray, float, float] | None = None) -> SyntheticFrame:
    """Render one view of a layout, apply the sensor model and derive the annotations.

    The view is random unless `camera` (world -> camera R, t) is given, the light random unless `light`
    (world direction, ambient, gain) is: a sequence passes both, so only the camera moves. Without them the
    random draws happen in the same order as always (existing splits stay byte-identical).
    rgb_noise_std (8-bit units) defaults to 0: pixel noise makes the colour PNG ~4x larger and
    ~2.5x slower to write; the training augmentation adds it on the fly instead.
    """
    k = renderer.intrinsics
    rot_wc, t_wc = camera if camera is not None else random_camera(rng)
    items: list[RenderItem] = [RenderItem(
        vertices=_TABLE_VERTS, faces=_TABLE_FACES, part_ids=np.zeros(2, np.int8), rotation=rot_wc,
        translation=t_wc, scale=1.0, colors=layout.table_colors, stripe_color=layout.table_stripe,
        pattern=layout.table_pattern, pattern_freq=layout.table_freq, shininess=16.0, casts_shadow=False)]
    for d in layout.distractors:
        items.append(RenderItem(vertices=d.vertices, faces=d.faces, part_ids=np.zeros(len(d.faces), np.int8),
                                rotation=rot_wc @ d.rotation, translation=rot_wc @ d.position + t_wc, scale=1.0,
                                colors=d.colors, stripe_color=d.stripe_color, pattern=d.pattern, pattern_freq=20.0))
    poses: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for o in layout.objects:
        r = rot_wc @ o.world_rotation
        t = rot_wc @ o.position + t_wc
        poses[o.instance_id] = (r, t)
        items.append(RenderItem(vertices=o.shape.vertices, faces=o.shape.faces, part_ids=o.shape.part_ids,
                                rotation=r, translation=t, scale=o.shape.scale, colors=o.colors,
                                stripe_color=o.stripe_color, pattern=o.pattern, pattern_freq=o.pattern_freq,
                                shininess=o.shininess, instance_id=o.instance_id))
    # light from above (world up seen from the camera) with a random tilt
    light_world, ambient, gain = light if light is not None else random_light(rng)
    light_cam = rot_wc @ light_world
    lighting = Lighting(direction=tuple(light_cam / np.linalg.norm(light_cam)), ambient=ambient, gain=gain,
                        shadow_centre=tuple(t_wc))  # world origin = table centre
    out = renderer.render(items, lighting)

    rgb = out.rgb
    if rgb_noise_std > 0:
        pixel_noise = rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(rgb_noise_std)
        rgb = np.clip(rgb.astype(np.float32) + pixel_noise, 0, 255).astype(np.uint8)
    depth = apply_depth_noise(out.depth_m, rng, noise, fx=k.fx) if noise is not None else out.depth_m.copy()
    mask = np.where(out.instance_ids > 0, out.instance_ids, 255).astype(np.uint8)

    annotations: list[ObjectAnnotation] = []
    by_id = {o.instance_id: o for o in layout.objects}
    for inst_id in sorted(int(i) for i in np.unique(out.instance_ids) if i > 0):
        o = by_id[inst_id]
        m = out.instance_ids == inst_id
        rows = np.flatnonzero(m.any(axis=1))
        cols = np.flatnonzero(m.any(axis=0))
        handle_visible = 1
        if o.shape.category == "mug":
            handle_px = int((out.nocs8[m][:, 0] / 255.0 - 0.5 > o.shape.handle_min_x).sum())
            handle_visible = int(handle_px >= HANDLE_VISIBLE_MIN_PIXELS)
        r, t = poses[inst_id]
        annotations.append(ObjectAnnotation(
            instance_id=inst_id, category=o.shape.category, model_name=o.shape.name, rotation=r, translation=t,
            scale=o.shape.scale, size_m=o.shape.size_m, nocs_size=o.shape.nocs_size,
            bbox=np.array([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1], dtype=np.int32),
            mask_pixels=int(m.sum()), valid_depth_pixels=int((m & (depth > 0)).sum()),
            handle_visibility=handle_visible))
    meta = [(o.instance_id, CATEGORIES.index(o.shape.category) + 1, o.shape.name) for o in layout.objects]
    return SyntheticFrame(rgb=rgb, depth_m=depth, clean_depth_m=out.depth_m, mask=mask, nocs8=out.nocs8,
                          intrinsics=k, annotations=annotations, meta=meta, camera_rotation=rot_wc,
                          camera_translation=t_wc)
