"""Offscreen rasteriser for synthetic RGB-D: moderngl on an EGL standalone context (Mesa llvmpipe).

One pass writes colour (RGBA8), linear camera depth (R32F, metres; a 24-bit depth buffer would lose
millimetres) and canonical NOCS coordinates + instance id (RGBA8: the coord PNG is 8-bit anyway, and
an 8-bit target reads back 4x faster than a float one). The projection uses OpenCV
intrinsics directly: OpenGL samples pixel i at i + 0.5, so the principal point is offset by 0.5,
and the y axis is arranged so that framebuffer row 0 is image row 0 (no flip on read-back).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..core.types import CameraIntrinsics

logger = logging.getLogger(__name__)

_VERTEX = """
#version 330
uniform mat4 proj;
uniform mat3 rot;
uniform vec3 trans;
uniform float scale;
in vec3 in_pos;
in vec3 in_normal;
in float in_part;
out vec3 v_nocs;
out vec3 v_cam;
out vec3 v_normal;
flat out int v_part;
void main() {
    vec3 pc = scale * (rot * in_pos) + trans;
    v_cam = pc;
    v_nocs = in_pos;
    v_normal = rot * in_normal;
    v_part = int(in_part + 0.5);
    gl_Position = proj * vec4(pc, 1.0);
}
"""

_FRAGMENT = """
#version 330
uniform vec3 colors[4];       // per material slot
uniform vec3 stripe_color;
uniform int pattern;          // 0 plain, 1 bands along y, 2 checker, 3 wood-like, 4 speckle
uniform float pattern_freq;
uniform float instance_id;    // 0 = not an annotated object; 1..254 stored exactly as id / 255 in 8 bits
uniform float shininess;
uniform vec3 light_dir;       // towards the light, camera frame
uniform float ambient;
uniform float light_gain;
in vec3 v_nocs;
in vec3 v_cam;
in vec3 v_normal;
flat in int v_part;
layout(location = 0) out vec4 out_color;
layout(location = 1) out float out_depth;
layout(location = 2) out vec4 out_nocs;

float hash(vec3 p) { return fract(sin(dot(p, vec3(12.9898, 78.233, 37.719))) * 43758.5453); }

void main() {
    vec3 base = colors[clamp(v_part, 0, 3)];
    if (v_part == 0) {
        vec3 p = v_nocs * pattern_freq;
        float t = 0.0;
        if (pattern == 1) t = step(0.5, fract(p.y));
        else if (pattern == 2) t = mod(floor(p.x) + floor(p.y) + floor(p.z), 2.0);
        else if (pattern == 3) t = 0.5 + 0.5 * sin(p.x * 6.0 + 2.0 * sin(p.z * 3.0));
        else if (pattern == 4) t = step(0.7, hash(floor(p * 8.0)));
        base = mix(base, stripe_color, t * 0.8);
    }
    vec3 n = normalize(v_normal);
    vec3 view = normalize(-v_cam);
    if (dot(n, view) < 0.0) n = -n;  // two-sided lighting (open meshes, inside of bowls and mugs)
    vec3 l = normalize(light_dir);
    float diff = max(dot(n, l), 0.0);
    vec3 h = normalize(l + view);
    float spec = pow(max(dot(n, h), 0.0), shininess) * 0.35;
    vec3 c = base * (ambient + light_gain * diff) + vec3(spec * light_gain);
    out_color = vec4(clamp(c, 0.0, 1.0), 1.0);
    out_depth = v_cam.z;
    out_nocs = vec4(v_nocs + 0.5, instance_id / 255.0);
}
"""


@dataclass(frozen=True, eq=False)
class RenderItem:
    """A mesh placed in the camera frame: p_cam = scale * rotation @ p + translation."""

    vertices: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int32
    part_ids: np.ndarray  # (F,) int8 material slot
    rotation: np.ndarray
    translation: np.ndarray
    scale: float
    colors: np.ndarray  # (4, 3) float in [0, 1], one per material slot
    stripe_color: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pattern: int = 0
    pattern_freq: float = 4.0
    shininess: float = 32.0
    instance_id: int = 0


@dataclass(frozen=True)
class Lighting:
    direction: tuple[float, float, float] = (0.3, -1.0, -0.5)  # towards the light, camera frame
    ambient: float = 0.35
    gain: float = 0.75


@dataclass(frozen=True, eq=False)
class RenderOutput:
    rgb: np.ndarray  # (H, W, 3) uint8
    depth_m: np.ndarray  # (H, W) float32, 0 = nothing rendered
    nocs8: np.ndarray  # (H, W, 3) uint8 = round(255 * (canonical + 0.5)), 0 where not an object

    @property
    def nocs(self) -> np.ndarray:
        """(H, W, 3) float32 canonical + 0.5 in [0, 1] (8-bit resolution)."""
        return self.nocs8.astype(np.float32) / 255.0
    instance_ids: np.ndarray  # (H, W) int32, 0 = background / distractor


def projection_matrix(k: CameraIntrinsics, near: float, far: float) -> np.ndarray:
    """OpenCV camera frame -> clip space; framebuffer row j = image row j; pixel centres at integers."""
    w, h = k.width, k.height
    a = (far + near) / (far - near)
    b = -2.0 * far * near / (far - near)
    return np.array([
        [2.0 * k.fx / w, 0.0, 2.0 * (k.cx + 0.5) / w - 1.0, 0.0],
        [0.0, 2.0 * k.fy / h, 2.0 * (k.cy + 0.5) / h - 1.0, 0.0],
        [0.0, 0.0, a, b],
        [0.0, 0.0, 1.0, 0.0],
    ])


def flat_shaded_arrays(vertices: np.ndarray, faces: np.ndarray, part_ids: np.ndarray) -> np.ndarray:
    """Interleaved (3F, 7) float32 [pos, normal, part] with one normal per face (crisp box edges)."""
    tri = vertices[faces].astype(np.float32)  # (F, 3, 3)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    normals = np.repeat(n[:, None, :], 3, axis=1)
    parts = np.repeat(part_ids.astype(np.float32)[:, None, None], 3, axis=1)
    return np.concatenate([tri, normals, parts], axis=2).reshape(-1, 7).astype(np.float32)


class Renderer:
    """Owns one GL context and framebuffer; not thread-safe (use one per worker process)."""

    def __init__(self, intrinsics: CameraIntrinsics, near: float = 0.05, far: float = 10.0) -> None:
        import moderngl  # imported here: only the generator needs it

        self.intrinsics = intrinsics
        self.ctx = moderngl.create_context(standalone=True, backend="egl")
        self.prog = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        size = (intrinsics.width, intrinsics.height)
        self._color = self.ctx.texture(size, 4, dtype="f1")
        self._depth = self.ctx.texture(size, 1, dtype="f4")
        self._nocs = self.ctx.texture(size, 4, dtype="f1")
        self._zbuf = self.ctx.depth_renderbuffer(size)
        self.fbo = self.ctx.framebuffer(color_attachments=[self._color, self._depth, self._nocs],
                                        depth_attachment=self._zbuf)
        self.prog["proj"].write(projection_matrix(intrinsics, near, far).T.astype("f4").tobytes())
        self._moderngl = moderngl
        logger.debug("renderer: %s", self.ctx.info.get("GL_RENDERER"))

    def render(self, items: list[RenderItem], lighting: Lighting) -> RenderOutput:
        ctx = self.ctx
        self.fbo.use()
        ctx.enable(self._moderngl.DEPTH_TEST)
        ctx.disable(self._moderngl.CULL_FACE)
        # one clear for all targets: depth 0, ids 0 and NOCS 0 where nothing is drawn
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        prog = self.prog
        prog["light_dir"].value = tuple(float(x) for x in lighting.direction)
        prog["ambient"].value = float(lighting.ambient)
        prog["light_gain"].value = float(lighting.gain)
        for item in items:
            data = flat_shaded_arrays(item.vertices, item.faces, item.part_ids)
            vbo = ctx.buffer(data.tobytes())
            vao = ctx.vertex_array(prog, [(vbo, "3f 3f 1f", "in_pos", "in_normal", "in_part")])
            prog["rot"].write(np.asarray(item.rotation, dtype="f4").T.tobytes())
            prog["trans"].value = tuple(float(x) for x in item.translation)
            prog["scale"].value = float(item.scale)
            prog["colors"].write(np.asarray(item.colors, dtype="f4").reshape(4, 3).tobytes())
            prog["stripe_color"].value = tuple(float(x) for x in item.stripe_color)
            prog["pattern"].value = int(item.pattern)
            prog["pattern_freq"].value = float(item.pattern_freq)
            prog["shininess"].value = float(item.shininess)
            prog["instance_id"].value = float(item.instance_id)
            vao.render(self._moderngl.TRIANGLES)
            vao.release()
            vbo.release()
        w, h = self.intrinsics.width, self.intrinsics.height
        rgba = np.frombuffer(self._color.read(), dtype=np.uint8).reshape(h, w, 4)
        depth = np.frombuffer(self._depth.read(), dtype=np.float32).reshape(h, w).copy()
        nocs_id = np.frombuffer(self._nocs.read(), dtype=np.uint8).reshape(h, w, 4)
        ids = nocs_id[:, :, 3].astype(np.int32)
        nocs8 = np.where((ids > 0)[:, :, None], nocs_id[:, :, :3], 0).astype(np.uint8)
        return RenderOutput(rgb=np.ascontiguousarray(rgba[:, :, :3]), depth_m=depth, nocs8=nocs8, instance_ids=ids)

    def release(self) -> None:
        self.ctx.release()
