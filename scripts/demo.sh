#!/usr/bin/env bash
# The main job (README): set up .venv if needed, then run the whole system on the built-in demo camera:
# generated RGB-D scenes -> cleanpose_node (shipped weights) -> poses printed with their error against
# ground truth, and out/cleanpose_demo.png with the drawn boxes and axes. Extra arguments go to
# cleanpose-demo (e.g. --frames 10 --engine onnx).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
export AMENT_PREFIX_PATH="$ROOT/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/out/ros_log}"
mkdir -p "$ROOT/out"
exec "$ROOT/.venv/bin/cleanpose-demo" --output "$ROOT/out/cleanpose_demo.png" "$@"
