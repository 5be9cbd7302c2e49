"""The package installs with plain pip, carries its ROS data files, and set-up is idempotent."""
import subprocess
import sys
import zipfile
from pathlib import Path

from test.support.processes import ROOT


def test_wheel_contains_ament_resources_and_data_files(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("cleanpose_ros-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    data = [n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n]
    assert "share/ament_index/resource_index/packages/cleanpose_ros" in data
    assert "share/cleanpose_ros/package.xml" in data
    assert "share/cleanpose_ros/config/fastdds_large_images.xml" in data
    assert "cleanpose_ros/core/types.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("cleanpose_node", "cleanpose-smoke", "cleanpose-evaluate", "cleanpose-replay"):
        assert f"{script} =" in text


def test_setup_script_second_run_installs_nothing():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True, check=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("[setup]")]
    assert len(lines) == 1 and lines[0].startswith("[setup] ok:"), out.stdout + out.stderr


def test_smoke_tool_round_trips_tf_and_detections():
    from test.support.processes import child_env
    out = subprocess.run([str(Path(sys.executable).parent / "cleanpose-smoke"), "--timeout", "30"],
                         capture_output=True, text=True, env=child_env(), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "DET mug score=1.00 size=(0.12, 0.09, 0.08) m" in out.stdout
    assert "camera_color_optical_frame -> cleanpose_mug_1: z=0.80 m" in out.stdout
