"""Exceptions of the core. Every input problem carries a short machine-readable reason code so
the node, the evaluation tool and the replay tool can count rejected inputs per reason."""
from __future__ import annotations


class CleanPoseError(Exception):
    """Base class of everything this package raises on purpose."""


class ConfigError(CleanPoseError, ValueError):
    """A configuration value is missing, unknown or out of range."""


class WeightsError(CleanPoseError):
    """A weights/checkpoint file is missing, corrupt, unsafe or incompatible."""


class InputError(CleanPoseError, ValueError):
    """Input data that cannot produce a trustworthy pose.

    `reason` is one of the REASONS codes below; it is what gets counted in diagnostics.
    """

    REASONS = (
        "empty_mask",          # mask has no pixels
        "too_few_points",      # mask AND valid depth leaves fewer than the minimum points
        "invalid_depth",       # depth all zero / NaN / saturated inside the mask or frame
        "size_mismatch",       # rgb, depth, mask or intrinsics disagree in resolution
        "unknown_encoding",    # image encoding we cannot convert
        "unknown_category",    # category name or id outside the configured set
        "missing_camera_info", # no intrinsics for the frame
        "missing_camera_pose", # tracking in a fixed frame, and no camera pose stamped like the frame
        "implausible_camera_info",  # intrinsics no real camera has (principal point off the image, field of view > 170 deg)
        "stale",               # frame older than the allowed age
        "future_stamp",        # frame stamped further ahead of the node's clock than allowed
        "out_of_order",        # stamp older than one already processed
        "bad_message",         # anything else structurally wrong with a message
        "invalid_score",       # a detection score that is NaN or outside [0, 1]
        "mask_without_detection",  # an instance id in the mask that no detection names (counted, not posed)
    )

    def __init__(self, reason: str, message: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown InputError reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason


class EngineError(CleanPoseError, RuntimeError):
    """An engine that runs the network elsewhere (engines/triton_engine.py) could not answer for a frame.

    `reason` is one of REASONS; callers refuse the frame under it (the node counts it in /diagnostics,
    the replay tool counts its objects as missed) and go on: the engine recovers by itself.
    """

    REASONS = (
        "engine_unavailable",  # the inference server cannot be reached or is not ready (retried with a backoff)
        "engine_timeout",      # no answer within the request timeout
        "engine_bad_output",   # an answer whose outputs are missing or have the wrong dtype or shape
        "engine_error",        # the server answered the request with an error
    )

    def __init__(self, reason: str, message: str) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown EngineError reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason
