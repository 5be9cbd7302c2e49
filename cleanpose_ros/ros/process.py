"""Process set-up shared by the executables of the ROS layer."""
from __future__ import annotations

import signal
import sys
from typing import Callable, Sequence, TypeVar

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from ..core.errors import CleanPoseError
from ..resources import ensure_fastdds_profile

N = TypeVar("N", bound=Node)


class StopRequest:
    """Set by SIGINT / SIGTERM; the spin loop polls it. The handler only records the signal: raising
    KeyboardInterrupt from it (as before) could land inside rclpy's C++ message conversion, where pybind11
    turns it into a RuntimeError ("Unable to convert call argument '0'") that escaped spin with a
    traceback on a clean stop (seen once in test_faults after SIGTERM under a 200 Hz burst)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        self.signum = signum


def init_rclpy_keeping_context_on_signals(argv: Sequence[str] | None) -> StopRequest:
    """rclpy.init without rclpy's signal handlers: Ctrl-C / SIGTERM only request a stop, and the context
    stays valid until we have stopped the worker and logged, instead of being torn down under a worker
    that is publishing."""
    rclpy.init(args=list(argv) if argv is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = StopRequest()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stop


#: How often the spin loop looks at the stop request when nothing arrives (the stop latency at most).
STOP_POLL_S = 0.1


def run_node(make_node: Callable[[], N], name: str, argv: Sequence[str] | None = None,
             before_destroy: Callable[[N], None] | None = None) -> int:
    """The main() of every executable of the ROS layer: Fast DDS profile, rclpy without its signal
    handlers, the node (a CleanPoseError while building it -> one line on stderr and exit code 2, no
    traceback), spin until Ctrl-C / SIGTERM (polled, see StopRequest) / shutdown, `before_destroy(node)`
    (stop workers, log a summary) while the context is still valid, then a clean shutdown. Returns the exit code."""
    ensure_fastdds_profile()
    stop = init_rclpy_keeping_context_on_signals(argv)
    try:
        node = make_node()
    except CleanPoseError as e:  # config, weights, an unavailable device
        print(f"[{name}] cannot start: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while stop.signum is None and rclpy.ok():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except ExternalShutdownException:  # the context was shut down from outside; signals no longer raise
        pass
    finally:
        if before_destroy is not None:
            before_destroy(node)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
