"""Process set-up shared by the executables of the ROS layer."""
from __future__ import annotations

import signal
import sys
from typing import Sequence

import rclpy
from rclpy.signals import SignalHandlerOptions


def init_rclpy_keeping_context_on_signals(argv: Sequence[str] | None) -> None:
    """rclpy.init without rclpy's signal handlers: Ctrl-C / SIGTERM raise KeyboardInterrupt in the
    main thread and the context stays valid until we have stopped the worker and logged, instead of
    being torn down under a worker that is publishing."""
    rclpy.init(args=list(argv) if argv is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
