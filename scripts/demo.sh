#!/usr/bin/env bash
# The main job (README): set up .venv if needed, then run the demo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export AMENT_PREFIX_PATH="$ROOT/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/out/ros_log}"
exec "$ROOT/.venv/bin/cleanpose-smoke" "$@"
