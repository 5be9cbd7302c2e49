"""Test-wide environment: keep every ROS participant of a test run local and apart.

Set before anything imports rclpy: rcl reads these at context creation.
"""
import os
import random
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="cleanpose-roslog-"))
# A random domain per test run keeps parallel runs (and developers' live nodes) apart.
os.environ["ROS_DOMAIN_ID"] = os.environ.get("CLEANPOSE_TEST_DOMAIN_ID", str(random.randint(1, 101)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_large_images.xml"))
os.environ.setdefault("OMP_NUM_THREADS", "2")
# ONNX files exported on the fly by tests go to a per-run temp dir, not the user's cache.
os.environ.setdefault("CLEANPOSE_CACHE_DIR", tempfile.mkdtemp(prefix="cleanpose-cache-"))
