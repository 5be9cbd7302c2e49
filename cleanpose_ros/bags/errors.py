"""The error of an unusable bag: what is wrong, said in one sentence for the command line."""
from __future__ import annotations

from ..core.errors import CleanPoseError


class BagError(CleanPoseError):
    """A bag that cannot be read or replayed: missing or truncated file, missing topics, unknown
    message types, no camera info. The message names what is missing; the tools print it and
    exit with status 2."""
