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
