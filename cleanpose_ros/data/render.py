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
uniform mat4 light_matrix;    // camera frame -> light clip space (orthographic)
uniform sampler2D shadow_map; // depth seen from the light
uniform int use_shadows;
in vec3 v_nocs;
in vec3 v_cam;
in vec3 v_normal;
flat in int v_part;
layout(location = 0) out vec4 out_color;
layout(location = 1) out float out_depth;
layout(location = 2) out vec4 out_nocs;

float hash(vec3 p) { return fract(sin(dot(p, vec3(12.9898, 78.233, 37.719))) * 43758.5453); }

float lit_fraction() {
    if (use_shadows == 0) return 1.0;
    vec4 lp = light_matrix * vec4(v_cam, 1.0);
    vec3 q = lp.xyz * 0.5 + 0.5;
    if (q.x < 0.0 || q.x > 1.0 || q.y < 0.0 || q.y > 1.0 || q.z > 1.0) return 1.0;
    vec2 texel = 1.0 / vec2(textureSize(shadow_map, 0));
    float lit = 0.0;
    for (int dx = -1; dx <= 1; ++dx)        // 3x3 percentage-closer filtering: soft edges
        for (int dy = -1; dy <= 1; ++dy)
            lit += (q.z - 0.0015 > texture(shadow_map, q.xy + vec2(dx, dy) * texel).r) ? 0.0 : 1.0;
    return lit / 9.0;
}

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
    float lit = lit_fraction();
    float diff = max(dot(n, l), 0.0) * lit;
    vec3 h = normalize(l + view);
    float spec = pow(max(dot(n, h), 0.0), shininess) * 0.35 * lit;
    vec3 c = base * (ambient + light_gain * diff) + vec3(spec * light_gain);
    out_color = vec4(clamp(c, 0.0, 1.0), 1.0);
    out_depth = v_cam.z;
    out_nocs = vec4(v_nocs + 0.5, instance_id / 255.0);
}
"""


_SHADOW_VERTEX = """
#version 330
uniform mat4 light_matrix;
uniform mat3 rot;
uniform vec3 trans;
uniform float scale;
in vec3 in_pos;
void main() {
    gl_Position = light_matrix * vec4(scale * (rot * in_pos) + trans, 1.0);
}
"""

_SHADOW_FRAGMENT = """
#version 330
void main() {}
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
    casts_shadow: bool = True  # the table only receives shadows


@dataclass(frozen=True)
class Lighting:
    direction: tuple[float, float, float] = (0.3, -1.0, -0.5)  # towards the light, camera frame
    ambient: float = 0.35
    gain: float = 0.75
    shadow_centre: tuple[float, float, float] | None = None  # camera frame; None = no shadows
    shadow_half_extent_m: float = 0.8  # half width of the area that receives shadows


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


def light_matrix(direction: np.ndarray, centre: np.ndarray, half_extent: float, depth_range: float = 1.5
                 ) -> np.ndarray:
    """Orthographic camera-frame -> clip matrix looking along the light (towards -direction)."""
    forward = -np.asarray(direction, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    helper = np.array([0.0, 0.0, 1.0]) if abs(forward[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    right = np.cross(forward, helper)
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = right / half_extent, up / half_extent, forward / depth_range
    m[:3, 3] = -m[:3, :3] @ np.asarray(centre, dtype=np.float64)
    return m


def flat_shaded_arrays(vertices: np.ndarray, faces: np.ndarray, part_ids: np.ndarray) -> np.ndarray:
    """Interleaved (3F, 7) float32 [pos, normal, part] with one normal per face (crisp box edges)."""
    tri = vertices[faces].astype(np.float32)  # (F, 3, 3)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    normals = np.repeat(n[:, None, :], 3, axis=1)
    parts = np.repeat(part_ids.astype(np.float32)[:, None, None], 3, axis=1)
    return np.concatenate([tri, normals, parts], axis=2).reshape(-1, 7).astype(np.float32)


class RendererUnavailable(RuntimeError):
    """No offscreen OpenGL context can be created on this machine."""


class Renderer:
    """Owns one GL context and framebuffer; not thread-safe (use one per worker process)."""

    def __init__(self, intrinsics: CameraIntrinsics, near: float = 0.05, far: float = 10.0) -> None:
        import moderngl  # imported here: only the generator needs it

        self.intrinsics = intrinsics
        try:
            self.ctx = moderngl.create_context(standalone=True, backend="egl")
        except Exception as e:  # moderngl/glcontext raise plain Exceptions
            raise RendererUnavailable(
                f"no EGL OpenGL context ({e}); install the Mesa EGL driver "
                "(Debian: libegl1 libegl-mesa0 libgl1-mesa-dri, see scripts/setup.sh)") from e
        self.prog = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        size = (intrinsics.width, intrinsics.height)
        self._color = self.ctx.texture(size, 4, dtype="f1")
        self._depth = self.ctx.texture(size, 1, dtype="f4")
        self._nocs = self.ctx.texture(size, 4, dtype="f1")
        self._zbuf = self.ctx.depth_renderbuffer(size)
        self.fbo = self.ctx.framebuffer(color_attachments=[self._color, self._depth, self._nocs],
                                        depth_attachment=self._zbuf)
        self.prog["proj"].write(projection_matrix(intrinsics, near, far).T.astype("f4").tobytes())
        self.shadow_prog = self.ctx.program(vertex_shader=_SHADOW_VERTEX, fragment_shader=_SHADOW_FRAGMENT)
        self._shadow_map = self.ctx.depth_texture((1024, 1024))
        self._shadow_map.compare_func = ""  # plain depth reads; the shader compares
        self._shadow_map.repeat_x = self._shadow_map.repeat_y = False
        self.shadow_fbo = self.ctx.framebuffer(depth_attachment=self._shadow_map)
        self._moderngl = moderngl
        logger.debug("renderer: %s", self.ctx.info.get("GL_RENDERER"))

    def render(self, items: list[RenderItem], lighting: Lighting) -> RenderOutput:
        ctx = self.ctx
        mgl = self._moderngl
        ctx.enable(mgl.DEPTH_TEST)
        ctx.disable(mgl.CULL_FACE)
        buffers = [ctx.buffer(flat_shaded_arrays(it.vertices, it.faces, it.part_ids).tobytes()) for it in items]
        use_shadows = lighting.shadow_centre is not None
        prog = self.prog
        if use_shadows:
            lm = light_matrix(np.asarray(lighting.direction), np.asarray(lighting.shadow_centre),
                              lighting.shadow_half_extent_m)
            lm_bytes = lm.T.astype("f4").tobytes()
            self.shadow_fbo.use()
            self.shadow_fbo.clear(depth=1.0)
            self.shadow_prog["light_matrix"].write(lm_bytes)
            for item, vbo in zip(items, buffers):
                if not item.casts_shadow:
                    continue
                vao = ctx.vertex_array(self.shadow_prog, [(vbo, "3f 12x 4x", "in_pos")])
                self.shadow_prog["rot"].write(np.asarray(item.rotation, dtype="f4").T.tobytes())
                self.shadow_prog["trans"].value = tuple(float(x) for x in item.translation)
                self.shadow_prog["scale"].value = float(item.scale)
                vao.render(mgl.TRIANGLES)
                vao.release()
            prog["light_matrix"].write(lm_bytes)
            self._shadow_map.use(location=0)
            prog["shadow_map"].value = 0
        prog["use_shadows"].value = int(use_shadows)
        self.fbo.use()
        # one clear for all targets: depth 0, ids 0 and NOCS 0 where nothing is drawn
        self.fbo.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        prog["light_dir"].value = tuple(float(x) for x in lighting.direction)
        prog["ambient"].value = float(lighting.ambient)
        prog["light_gain"].value = float(lighting.gain)
        for item, vbo in zip(items, buffers):
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
            vao.render(mgl.TRIANGLES)
            vao.release()
        for vbo in buffers:
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
