#!/usr/bin/env bash
# The main job (README): set up .venv if needed, then run the whole system on the built-in demo camera:
# generated RGB-D scenes -> cleanpose_node (shipped weights) -> poses printed with their error against
# ground truth, and out/cleanpose_demo.png with the drawn boxes and axes. Extra arguments go to
# cleanpose-demo (e.g. --frames 10 --engine onnx).
# `--engine triton` without `--triton-url`: also sets up .venv-triton and starts cleanpose-triton-serve on
# loopback (gRPC port $CLEANPOSE_DEMO_TRITON_PORT, default 8001; log out/triton_serve.log) for the node to
# use, and stops it at the end. With `--triton-url HOST:PORT` the demo uses that running server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
export AMENT_PREFIX_PATH="$ROOT/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$ROOT/out/ros_log}"
mkdir -p "$ROOT/out"

engine="" url_given=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --engine) engine="${args[i + 1]:-}" ;;
    --engine=*) engine="${args[i]#--engine=}" ;;
    --triton-url | --triton-url=*) url_given=1 ;;
  esac
done
if [ "$engine" != triton ] || [ -n "$url_given" ]; then
  exec "$ROOT/.venv/bin/cleanpose-demo" --output "$ROOT/out/cleanpose_demo.png" "$@"
fi

bash "$ROOT/scripts/setup_triton.sh"
port="${CLEANPOSE_DEMO_TRITON_PORT:-8001}"
log="$ROOT/out/triton_serve.log"
echo "[demo] starting cleanpose-triton-serve (gRPC 127.0.0.1:$port, log $log)"
"$ROOT/.venv-triton/bin/cleanpose-triton-serve" --grpc-port "$port" --http-port $((port - 1)) \
  --metrics-port $((port + 1)) >"$log" 2>&1 &
server=$!
stop_server() { kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; }
trap stop_server EXIT
for _ in $(seq 1 240); do
  grep -q "ready: " "$log" && break
  kill -0 "$server" 2>/dev/null || { echo "[demo] the Triton server exited:" >&2; tail -20 "$log" >&2; exit 1; }
  sleep 0.5
done
grep -q "ready: " "$log" || { echo "[demo] the Triton server did not get ready in 120 s; see $log" >&2; exit 1; }
status=0
"$ROOT/.venv/bin/cleanpose-demo" --output "$ROOT/out/cleanpose_demo.png" "$@" --triton-url "127.0.0.1:$port" || status=$?
exit "$status"
