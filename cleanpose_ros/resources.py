"""Locating the package's data files (config/, weights/) in a checkout or an install.

A source checkout (pip -e, CI) has them next to the package; a colcon/pip install puts them
under <prefix>/share/cleanpose_ros (setup.py data_files). The checkout wins when both exist.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "cleanpose_ros"
_CHECKOUT = Path(__file__).resolve().parents[1]


def share_dirs() -> list[Path]:
    """Candidate roots holding config/ and weights/, most specific first."""
    roots = [_CHECKOUT] if (_CHECKOUT / "package.xml").is_file() else []
    prefixes = [sys.prefix] + [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    roots += [Path(p) / "share" / PACKAGE for p in prefixes]
    return roots


def find_resource(relative: str) -> Path:
    """First existing `<root>/<relative>`; FileNotFoundError naming every place looked in."""
    tried = []
    for root in share_dirs():
        candidate = root / relative
        if candidate.exists():
            return candidate
        tried.append(str(candidate))
    raise FileNotFoundError(f"{relative} not found; looked in: {', '.join(tried)}")


def ensure_fastdds_profile() -> str | None:
    """Point Fast DDS at our large-image profile unless the user chose one.

    Must run before rclpy.init(): the profile is read when the participant is created.
    Without it, 640x480 images overflow the default shared-memory segment and frames drop.
    """
    if os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        return os.environ["FASTDDS_DEFAULT_PROFILES_FILE"]
    try:
        path = str(find_resource("config/fastdds_large_images.xml"))
    except FileNotFoundError:
        return None
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = path
    return path
