"""launch/cleanpose.launch.py builds the node it promises (needs launch_ros: a real ROS 2 install)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.launch
launch_ros = pytest.importorskip("launch_ros", reason="launch_ros is not on PyPI; runs on a real ROS 2 install")

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "cleanpose.launch.py"


def _load():
    spec = importlib.util.spec_from_file_location("cleanpose_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_launch_description_declares_arguments_and_nodes():
    from launch.actions import DeclareLaunchArgument
    from launch_ros.actions import Node

    module = _load()
    description = module.generate_launch_description()
    args = {a.name: a for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert {"namespace", "camera", "params_file", "weights", "engine", "device", "use_detections", "rviz"} <= set(args)
    assert args["engine"].default_value[0].text == "torch"
    nodes = [e for e in description.entities if isinstance(e, Node)]
    assert sorted(n.node_executable for n in nodes) == ["cleanpose_node", "rviz2"]
    pose_node = next(n for n in nodes if n.node_executable == "cleanpose_node")
    assert pose_node.node_package == "cleanpose_ros"
    remapped = {src for src, _ in pose_node._Node__remappings}  # launch_ros keeps them private
    assert remapped == {"color/image_raw", "depth/image_raw", "color/camera_info", "segmentation/mask",
                        "segmentation/detections"}
