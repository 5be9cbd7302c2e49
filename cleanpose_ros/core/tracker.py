"""Poses over time: a tracker that keeps one identity per physical object and steadies its pose.

Each frame's estimates are associated with the existing tracks by category and geometry, never by the
segmenter's instance id (a real segmenter renumbers its masks every frame): the cost of a pair is the
centre distance over the gate plus one minus the overlap of the boxes' axis-aligned extents, and the
assignment is the optimal one (`scipy.optimize.linear_sum_assignment`). Then per track:
- symmetry first: for bottle, bowl and can the estimate is replaced by its rotation about its own y axis
  that is closest to the track (those are the same physical pose), so symmetric spinning never moves it;
- flips are held back: an estimate more than `flip_gate_deg` from the track is not used until
  `flip_confirm` consecutive estimates agree with each other; then the track jumps to them;
- smoothing: centre and size by an exponential filter, rotation by slerp on SO(3), all with a gain that
  grows with the estimate's confidence (between `min_gain` and `max_gain`);
- life: a track is confirmed after `birth_hits` consecutive matched frames and dies after `max_missed`
  frames without a match.

Frames: given the camera's pose in a fixed frame (`update(poses, world_from_camera=(R, t))`, from odometry
or a robot's kinematics) the tracker filters there, where static objects stand still while the camera
moves, and returns poses in the current camera frame; without it, it filters in the camera frame, where a
moving camera makes static objects move too: the gate must cover their apparent motion per frame and the
filter lags behind it (by about (1 - gain) / gain frames of that motion). numpy + scipy only.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import ConfigError
from .types import SYMMETRIC_CATEGORIES, PoseEstimate


@dataclass(frozen=True)
class TrackerConfig:
    """Thresholds of core/tracker.py (all documented in docs/runtime.md)."""

    gate_m: float = 0.10  # an estimate farther than this from a track's centre cannot continue it
    birth_hits: int = 3  # consecutive matched frames before a track is confirmed (published)
    max_missed: int = 5  # frames without a match before a track dies
    flip_gate_deg: float = 45.0  # a rotation change beyond this is held back ...
    flip_confirm: int = 2  # ... until this many consecutive estimates agree on the new rotation
    min_gain: float = 0.10  # filter gain of an estimate with confidence 0 ...
    max_gain: float = 0.4  # ... and with confidence 1 (an estimate without a confidence counts as 1)
    symmetric_categories: tuple[str, ...] = tuple(sorted(SYMMETRIC_CATEGORIES))

    def __post_init__(self) -> None:
        if not (self.gate_m > 0 and self.birth_hits >= 1 and self.max_missed >= 0 and 0 < self.flip_gate_deg <= 180
                and self.flip_confirm >= 1 and 0 < self.min_gain <= self.max_gain <= 1):
            raise ConfigError(f"tracker thresholds out of range: {self}")


@dataclass
class Track:
    """One physical object over time; `pose` is the filtered pose (its instance_id = the track id)."""

    track_id: int
    pose: PoseEstimate
    hits: int = 1  # consecutive matched frames
    missed: int = 0  # consecutive frames without a match
    confirmed: bool = False
    last_instance_id: int = -1  # the segmenter's id of the last estimate (for reference only)
    pending: list[np.ndarray] = field(default_factory=list)  # held-back rotations of a possible flip


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Geodesic angle between two rotations, radians."""
    return float(np.arccos(np.clip((np.trace(a.T @ b) - 1.0) / 2.0, -1.0, 1.0)))


def closest_about_y(reference: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """rotation @ Ry(theta) closest to `reference`: the same symmetric object's pose, turned about its
    own y axis. theta maximises trace(reference^T rotation Ry(theta)), which has a closed form."""
    m = reference.T @ rotation
    theta = math.atan2(m[2, 0] - m[0, 2], m[0, 0] + m[2, 2])
    c, s = math.cos(theta), math.sin(theta)
    return rotation @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The rotation a fraction t of the way from a to b along the geodesic.

    Hand-written log / exp maps (Rodrigues) instead of scipy's Rotation: on this per-track hot path the
    scipy objects cost ~60 us a call against ~10 us here (bench/bench_tracker.py); tested against scipy.
    """
    m = a.T @ b
    angle = math.acos(max(-1.0, min(1.0, (m[0, 0] + m[1, 1] + m[2, 2] - 1.0) / 2.0)))
    if angle < 1e-9:
        return a.copy()
    axis = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]])
    norm = float(np.linalg.norm(axis))
    if norm < 1e-9:  # angle ~ pi: the axis is the eigenvector of m for eigenvalue 1
        w, v = np.linalg.eigh(0.5 * (m + m.T))
        axis = v[:, int(np.argmax(w))]
    else:
        axis = axis / norm
    theta = t * angle
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return a @ (np.eye(3) + math.sin(theta) * k + (1.0 - math.cos(theta)) * (k @ k))


def _extent(pose: PoseEstimate) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned (camera frame) bounds of the pose's box."""
    half = 0.5 * np.abs(pose.rotation) @ np.asarray(pose.size, np.float64)
    return pose.translation - half, pose.translation + half


def aabb_overlap(a: PoseEstimate, b: PoseEstimate) -> float:
    """Intersection over union of the two boxes' axis-aligned camera-frame extents, in [0, 1]."""
    lo_a, hi_a = _extent(a)
    lo_b, hi_b = _extent(b)
    inter = np.prod(np.clip(np.minimum(hi_a, hi_b) - np.maximum(lo_a, lo_b), 0.0, None))
    union = np.prod(hi_a - lo_a) + np.prod(hi_b - lo_b) - inter
    return float(inter / union) if union > 0 else 0.0


class Tracker:
    """`tracker.update(poses)` once per frame -> the live tracks (confirmed or not), in track-id order."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 1
        self._world_from_camera: tuple[np.ndarray, np.ndarray] | None = None  # of the latest update

    def _associate(self, poses: Sequence[PoseEstimate]) -> list[tuple[int, int]]:
        from scipy.optimize import linear_sum_assignment

        if not self.tracks or not poses:
            return []
        # centre distances and categories for all pairs at once; the box overlap only for gated pairs
        centres_t = np.array([t.pose.translation for t in self.tracks])
        centres_p = np.array([p.translation for p in poses])
        distance = np.linalg.norm(centres_t[:, None] - centres_p[None], axis=-1)
        same = np.array([[t.pose.category == p.category for p in poses] for t in self.tracks])
        cost = np.full(distance.shape, math.inf)
        for r, c in zip(*np.nonzero(same & (distance <= self.config.gate_m))):
            cost[r, c] = distance[r, c] / self.config.gate_m + (1.0 - aabb_overlap(self.tracks[r].pose, poses[c]))
        big = 1e6  # gated pairs: assignable only if nothing else is, then dropped below
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, big))
        return [(int(r), int(c)) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])]

    def _gain(self, pose: PoseEstimate) -> float:
        c = 1.0 if pose.confidence is None else float(np.clip(pose.confidence, 0.0, 1.0))
        return self.config.min_gain + (self.config.max_gain - self.config.min_gain) * c

    def _continue(self, track: Track, pose: PoseEstimate) -> None:
        cfg = self.config
        rotation = pose.rotation
        if pose.category in cfg.symmetric_categories:
            rotation = closest_about_y(track.pose.rotation, rotation)
        jump = math.degrees(rotation_angle(track.pose.rotation, rotation))
        gain = self._gain(pose)
        if jump > cfg.flip_gate_deg:
            consistent = all(math.degrees(rotation_angle(r, rotation)) <= cfg.flip_gate_deg for r in track.pending)
            track.pending = [*track.pending, rotation] if consistent else [rotation]
            if len(track.pending) < cfg.flip_confirm:
                rotation = track.pose.rotation  # held back: keep the orientation, still follow the position
                gain_rotation = 0.0
            else:  # the new orientation repeated: jump to it
                track.pending = []
                gain_rotation = 1.0
        else:
            track.pending = []
            gain_rotation = gain
        new_rotation = slerp(track.pose.rotation, rotation, gain_rotation) if gain_rotation > 0 else track.pose.rotation
        track.pose = dataclasses.replace(
            track.pose, rotation=new_rotation,
            translation=(1 - gain) * track.pose.translation + gain * pose.translation,
            size=(1 - gain) * track.pose.size + gain * pose.size,
            score=pose.score, confidence=pose.confidence, detection_score=pose.detection_score,
            covariance=pose.covariance, features=pose.features)
        track.hits += 1
        track.missed = 0
        track.last_instance_id = pose.instance_id
        track.confirmed = track.confirmed or track.hits >= cfg.birth_hits

    def update(self, poses: Sequence[PoseEstimate],
               world_from_camera: tuple[np.ndarray, np.ndarray] | None = None) -> list[Track]:
        """One frame's estimates (camera frame). With `world_from_camera` (R, t: p_world = R p_cam + t) the
        tracks live in that fixed frame; `confirmed()` returns them in this frame's camera frame."""
        self._world_from_camera = world_from_camera
        if world_from_camera is not None:
            r, t = world_from_camera
            poses = [dataclasses.replace(p, rotation=r @ p.rotation, translation=r @ p.translation + t) for p in poses]
        matched_tracks, matched_poses = set(), set()
        for r, c in self._associate(poses):
            self._continue(self.tracks[r], poses[c])
            matched_tracks.add(r)
            matched_poses.add(c)
        for r, track in enumerate(self.tracks):
            if r not in matched_tracks:
                track.missed += 1
                track.hits = 0 if not track.confirmed else track.hits
        self.tracks = [t for t in self.tracks if t.missed <= self.config.max_missed
                       and (t.confirmed or t.missed == 0)]  # an unconfirmed track dies at its first miss
        for c, pose in enumerate(poses):
            if c not in matched_poses:
                track_id = self._next_id
                self._next_id += 1
                self.tracks.append(Track(track_id=track_id, pose=dataclasses.replace(pose, instance_id=track_id),
                                         last_instance_id=pose.instance_id,
                                         confirmed=self.config.birth_hits <= 1))
        return sorted(self.tracks, key=lambda t: t.track_id)

    def confirmed(self) -> list[PoseEstimate]:
        """The filtered poses of the confirmed tracks seen this frame (instance_id = track id), in the camera
        frame of the latest update."""
        poses = [t.pose for t in sorted(self.tracks, key=lambda t: t.track_id) if t.confirmed and t.missed == 0]
        if self._world_from_camera is None:
            return poses
        r, t = self._world_from_camera
        return [dataclasses.replace(p, rotation=r.T @ p.rotation, translation=r.T @ (p.translation - t)) for p in poses]


__all__ = ["Track", "Tracker", "TrackerConfig", "aabb_overlap", "closest_about_y", "rotation_angle", "slerp"]
