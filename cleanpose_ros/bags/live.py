"""Live replay: play a bag into a running node with its original timing (optionally faster) and
record what the node publishes, so the node itself (synchronisation, latest-wins frame dropping,
stale-frame checks) is evaluated, not just its pipeline.

The player also publishes the bag's time on /clock (as `ros2 bag play --clock`): run the node with
`use_sim_time:=true` so its stale-frame check and latencies use the bag's clock (a bag recorded
in the past is otherwise years old to the node; the alternative is `sync.max_age_ms:=0`).
The player publishes each stored message's CDR bytes unchanged (`publisher.publish(raw)` with the
compiled type); the recorder subscribes with `raw=True` and writes the bytes it receives into a
rosbag2 with rosbags. Call `cleanpose_ros.resources.ensure_fastdds_profile()` before rclpy.init
(main() does): camera images overflow Fast DDS's default shared memory.

  python -m cleanpose_ros.bags.live --bag BAG --record OUT_BAG [--rate 2.0] [--evaluate OUT_DIR]
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from rosbags.rosbag2 import Writer

from .errors import BagError
from .make_bag import BAG_VERSION, STORAGES
from .reader import check_bag, open_bag, iter_messages
from .topics import BagTopics
from .typestore import build_typestore

logger = logging.getLogger(__name__)

#: What the player publishes by default: the node's inputs (not the ground truth).
INPUT_STREAMS = ("camera_info", "color", "depth", "mask", "detections")
#: What the recorder records by default: the node's outputs and its health.
OUTPUT_STREAMS = ("poses", "markers", "tf")
DIAGNOSTICS = ("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray")


def message_class(msgtype: str) -> Any:
    """The compiled (rclpy) class of 'pkg/msg/Name'."""
    pkg, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError):
        raise BagError(f"message type {msgtype} is not installed for rclpy (no compiled {pkg} package)") from None


@dataclass(frozen=True)
class PlayStats:
    messages: int
    frames: int  # messages on the colour topic
    wall_s: float
    bag_s: float
    max_lag_ms: float  # how late the player published at worst (it cannot make up time)


class BagPlayer:
    """Publishes a bag's messages on their topics at their recorded times divided by `rate`."""

    def __init__(self, node: Any, bag: str | Path, topics: BagTopics = BagTopics(),
                 streams: Sequence[str] = INPUT_STREAMS, rate: float = 1.0, depth: int = 10, clock: bool = True) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        if not rate > 0:
            raise BagError(f"rate must be > 0, got {rate}")
        self.node = node
        self.bag = Path(bag)
        self.topics = topics
        self.rate = rate
        self._reader = open_bag(self.bag)
        found = check_bag(self._reader, topics, build_typestore(), use_detections="detections" in streams)
        wanted = {getattr(topics, s) for s in streams}
        self._connections = [c for c in self._reader.connections if c.topic in wanted]
        self._frames = found["color"].msgcount
        # Reliable, like a camera driver with a keep-last queue: the node's best-effort subscriptions
        # accept it, and a slow subscriber drops old frames instead of slowing the player.
        qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
        self._publishers = {c.topic: node.create_publisher(message_class(c.msgtype), c.topic, qos)
                            for c in self._connections}
        self._clock = None
        self._clock_lock = threading.Lock()
        self._clock_origin: tuple[float, int] | None = None  # (monotonic start, bag ns at start)
        self._clock_stop = threading.Event()
        self._clock_thread: threading.Thread | None = None
        if clock:
            from rosgraph_msgs.msg import Clock

            self._clock_msg = Clock()
            self._clock = node.create_publisher(Clock, "/clock", qos)

    def _publish_clock(self, log_ns: int) -> None:
        if self._clock is not None:
            with self._clock_lock:
                self._clock_msg.clock.sec, self._clock_msg.clock.nanosec = divmod(int(log_ns), 1_000_000_000)
                self._clock.publish(self._clock_msg)

    def _run_clock(self, period_s: float = 0.02) -> None:
        """Bag time keeps flowing between messages and after the last one (as `ros2 bag play
        --clock`), so the node's timers (diagnostics) and age checks keep running."""
        while not self._clock_stop.wait(period_s):
            if self._clock_origin is not None:
                start, first_ns = self._clock_origin
                self._publish_clock(first_ns + int((time.monotonic() - start) * self.rate * 1e9))

    def wait_for_subscribers(self, timeout_s: float = 10.0) -> bool:
        """True when every publisher is matched (the first frames are not lost to discovery)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in self._publishers.values()):
                return True
            time.sleep(0.05)
        return False

    def play(self, stop: threading.Event | None = None) -> PlayStats:
        """Blocking; returns when the bag ends or `stop` is set."""
        start = time.monotonic()
        first_ns: int | None = None
        count = 0
        max_lag = 0.0
        last_ns = 0
        for conn, log_ns, data in iter_messages(self._reader, self._connections):
            if stop is not None and stop.is_set():
                break
            if first_ns is None:
                first_ns = log_ns
                self._clock_origin = (start, first_ns)
                if self._clock is not None and self._clock_thread is None:
                    self._clock_thread = threading.Thread(target=self._run_clock, name="bag_clock", daemon=True)
                    self._clock_thread.start()
            due = start + (log_ns - first_ns) / 1e9 / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                max_lag = max(max_lag, -delay)
            self._publish_clock(log_ns)
            self._publishers[conn.topic].publish(data)
            count += 1
            last_ns = log_ns
        wall = time.monotonic() - start
        return PlayStats(messages=count, frames=self._frames, wall_s=wall,
                         bag_s=(last_ns - first_ns) / 1e9 if first_ns is not None else 0.0, max_lag_ms=1e3 * max_lag)

    def close(self) -> None:
        """Stops the clock and removes the publishers."""
        self._clock_stop.set()
        if self._clock_thread is not None:
            self._clock_thread.join(timeout=2.0)
        for p in [*self._publishers.values(), *([self._clock] if self._clock is not None else [])]:
            self.node.destroy_publisher(p)
        self._reader.close()


class OutputRecorder:
    """Records topics (raw CDR, receive time as log time, as `ros2 bag record` does) into a new bag."""

    def __init__(self, node: Any, out: str | Path, topics: Sequence[tuple[str, str]], storage: str = "mcap",
                 distro: str = "kilted") -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.node = node
        self.path = Path(out)
        if self.path.exists():
            raise BagError(f"{self.path} exists; choose another recording folder")
        store = build_typestore(distro)
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._writer.open()
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self._subscriptions = []
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        for topic, msgtype in topics:
            conn = self._writer.add_connection(topic, msgtype, typestore=store)
            self.counts[topic] = 0
            self._subscriptions.append(node.create_subscription(
                message_class(msgtype), topic, lambda data, c=conn: self._on_message(c, data), qos, raw=True))

    def _on_message(self, conn: Any, data: bytes) -> None:
        with self._lock:  # executors may call from several threads
            if self._writer is None:
                return
            self._writer.write(conn, time.time_ns(), data)
            self.counts[conn.topic] += 1

    def close(self) -> None:
        for sub in self._subscriptions:
            self.node.destroy_subscription(sub)
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None


def output_topics(topics: BagTopics = BagTopics(), diagnostics: bool = True) -> list[tuple[str, str]]:
    from . import messages as M

    out = [(topics.poses, M.DETECTION3D_ARRAY), (topics.markers, M.MARKER_ARRAY), (topics.tf, M.TF_MESSAGE)]
    return out + ([DIAGNOSTICS] if diagnostics else [])


def play_and_record(bag: str | Path, record: str | Path, rate: float = 1.0, topics: BagTopics = BagTopics(),
                    settle_s: float = 2.0, subscriber_timeout_s: float = 30.0) -> tuple[PlayStats, dict[str, int]]:
    """Play `bag` into whatever node listens (rclpy must be initialised) and record its outputs
    until `settle_s` after the last message. Returns the player's stats and messages recorded per topic."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    node = Node("cleanpose_bag_player")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    recorder = OutputRecorder(node, record, output_topics(topics))
    player = BagPlayer(node, bag, topics, rate=rate)
    try:
        spinner.start()
        if not player.wait_for_subscribers(subscriber_timeout_s):
            raise BagError(f"no subscriber on the input topics after {subscriber_timeout_s:.0f} s: is the node running "
                           f"(same ROS_DOMAIN_ID, topics {[t for t in player._publishers]})?")
        stats = player.play()
        time.sleep(settle_s)  # the node's last frame is still in the worker
    finally:
        player.close()
        recorder.close()
        executor.shutdown()
        node.destroy_node()
    if not rclpy.ok():
        logger.warning("rclpy context ended during playback")
    return stats, dict(recorder.counts)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cleanpose_ros.bags.live", description=__doc__.splitlines()[0])
    p.add_argument("--bag", type=Path, required=True, help="bag made by cleanpose-make-bag (or a recording)")
    p.add_argument("--record", type=Path, required=True, help="bag folder for the node's outputs (must not exist)")
    p.add_argument("--rate", type=float, default=1.0, help="playback speed factor (2.0 = twice as fast)")
    p.add_argument("--evaluate", type=Path, help="also write predictions + metrics of the recording here")
    p.add_argument("--topics", nargs="+", default=[], metavar="STREAM=/TOPIC")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..resources import ensure_fastdds_profile

    ensure_fastdds_profile()
    import rclpy

    rclpy.init()
    try:
        topics = BagTopics.with_overrides(args.topics)
        stats, counts = play_and_record(args.bag, args.record, args.rate, topics)
        print(f"played {stats.messages} messages ({stats.frames} frames, {stats.bag_s:.2f} s of bag) in "
              f"{stats.wall_s:.2f} s at rate {args.rate}; worst lag {stats.max_lag_ms:.1f} ms; recorded {counts}")
        if args.evaluate is not None:
            from .live_evaluation import evaluate_recording

            result = evaluate_recording(args.bag, args.record, args.evaluate, topics)
            print(result.describe())
    except BagError as e:
        print(f"cleanpose live replay: {e}", file=sys.stderr)
        return 2
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
