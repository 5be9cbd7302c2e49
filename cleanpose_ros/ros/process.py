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


def init_rclpy_keeping_context_on_signals(argv: Sequence[str] | None) -> None:
    """rclpy.init without rclpy's signal handlers: Ctrl-C / SIGTERM raise KeyboardInterrupt in the
    main thread and the context stays valid until we have stopped the worker and logged, instead of
    being torn down under a worker that is publishing."""
    rclpy.init(args=list(argv) if argv is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def run_node(make_node: Callable[[], N], name: str, argv: Sequence[str] | None = None,
             before_destroy: Callable[[N], None] | None = None) -> int:
    """The main() of every executable of the ROS layer: Fast DDS profile, rclpy without its signal
    handlers, the node (a CleanPoseError while building it -> one line on stderr and exit code 2, no
    traceback), spin until Ctrl-C / SIGTERM / shutdown, `before_destroy(node)` (stop workers, log a
    summary) while the context is still valid, then a clean shutdown. Returns the exit code."""
    ensure_fastdds_profile()
    init_rclpy_keeping_context_on_signals(argv)
    try:
        node = make_node()
    except CleanPoseError as e:  # config, weights, an unavailable device
        print(f"[{name}] cannot start: {e}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if before_destroy is not None:
            before_destroy(node)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
