"""run_node's stop: SIGTERM and SIGINT, delivered while messages are being taken and published at a high
rate, end the process with exit code 0, after before_destroy, and without a traceback. (The signal handler
used to raise KeyboardInterrupt, which could land inside rclpy's message conversion and escape as a
RuntimeError; it now only records the signal and the spin loop polls it.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from test.ros.conftest import ROOT

pytestmark = pytest.mark.ros

CHILD = r"""
import sys
from rclpy.node import Node
from sensor_msgs.msg import Image
from cleanpose_ros.ros.process import run_node

class Echo(Node):
    def __init__(self):
        super().__init__("stop_probe")
        self.received = 0
        self.pub = self.create_publisher(Image, "stop_probe/image", 10)
        self.create_subscription(Image, "stop_probe/image", self.on_image, 10)
        self.msg = Image(height=240, width=320, encoding="rgb8", step=960, data=bytes(240 * 960))
        self.create_timer(0.001, lambda: self.pub.publish(self.msg))

    def on_image(self, _msg):
        self.received += 1
        if self.received == 50:
            print("flowing", flush=True)

def done(node):
    print(f"stopped cleanly after {node.received} messages", flush=True)

sys.exit(run_node(Echo, "stop_probe", before_destroy=done))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGTERM, signal.SIGTERM, signal.SIGINT])
def test_a_signal_under_load_stops_the_node_cleanly(signum: int) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=dict(os.environ),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60.0
        line = ""
        while "flowing" not in line and time.monotonic() < deadline and child.poll() is None:
            line = child.stdout.readline()
        assert "flowing" in line, "the probe node never received its own messages"
        child.send_signal(signum)
        out, _ = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, out[-2000:]
    assert "Traceback" not in out, out[-2000:]
    assert "stopped cleanly after" in out
