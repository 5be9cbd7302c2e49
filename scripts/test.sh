#!/usr/bin/env bash
# The test command (README, .ci/run): set up .venv from nothing if needed, then run the suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh test/core -q`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
# .venv-triton: the Triton server the triton-engine tests start (test/engines/test_triton_engine.py)
bash "$ROOT/scripts/setup_triton.sh"
cd "$ROOT"
export AMENT_PREFIX_PATH="$ROOT/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# Tests pick their own ROS_DOMAIN_ID / ROS_LOG_DIR (test/conftest.py).
exec "$ROOT/.venv/bin/python" -m pytest "${@:--q}"
