"""cleanpose-demo, the README's main command: camera + node + observer, report and image."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
from test.support.processes import start_python  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_demo_reports_errors_per_object_and_writes_the_image(node_weights: Path, tmp_path: Path):
    from PIL import Image

    out_png = tmp_path / "demo.png"
    proc = start_python(["-m", "cleanpose_ros.tools.demo", "--weights", str(node_weights), "--frames", "2",
                         "--scenes", "2", "--seed", "4", "--output", str(out_png), "--timeout", "90"])
    out, _ = proc.communicate(timeout=150)
    assert proc.returncode == 0, out[-3000:]
    # One table row per object: id, category, score, x, y, z, size, errors with units.
    rows = re.findall(r"^\s+(\d+) (\w+)\s+([\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+\S+\s+([\d.]+)deg\s+([\d.]+)cm\s+([\d.]+)cm$",
                      out, flags=re.MULTILINE)
    assert len(rows) >= 2, out[-3000:]
    assert all(float(r[5]) > 0.1 for r in rows)  # objects in front of the camera
    assert len(re.findall(r"^frame \d+: stamp", out, flags=re.MULTILINE)) == 2
    assert "summary:" in out and "median rotation error" in out
    image = np.asarray(Image.open(out_png))
    assert image.shape == (480, 640, 3)
    # Ground-truth boxes are drawn in pure white: the image must contain such lines.
    assert (image == 255).all(axis=2).sum() > 200


def test_tracking_demo_keeps_names_while_ids_are_renumbered_and_steadies_the_poses(node_weights: Path, tmp_path: Path):
    """cleanpose-demo --tracking: a moving camera with renumbered segmenter ids; far fewer track names than raw
    ids, and the tracked translation jitter below the raw one (with trained weights also the rotation jitter)."""
    proc = start_python(["-m", "cleanpose_ros.tools.demo", "--weights", str(node_weights), "--tracking", "--frames", "16",
                         "--output", str(tmp_path / "tracking.png"), "--timeout", "150"])
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out[-3000:]
    names = re.search(r"carried (\d+) different instance ids; the node published (\d+) track names", out)
    assert names, out[-3000:]
    raw_ids, tracks = int(names.group(1)), int(names.group(2))
    assert 1 <= tracks <= 12 and raw_ids >= 2 * tracks, out[-3000:]
    jitter = re.search(r"translation ([\d.]+) mm -> ([\d.]+) mm", out)
    assert jitter and float(jitter.group(2)) < float(jitter.group(1)), out[-3000:]
    assert (tmp_path / "tracking.png").is_file()
