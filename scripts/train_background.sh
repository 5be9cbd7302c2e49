#!/usr/bin/env bash
# Start (or resume) the long training run of the default weights in the background, niced, with a
# log, so tests and other work can run beside it on a 2-core machine:
#   bash scripts/train_background.sh [CONFIG] [RUN_DIR]     (defaults: config/train/lite_orient.yaml runs/lite_orient)
# Stop it with: kill $(cat RUN_DIR/train.pid). Re-running resumes from the newest checkpoint.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG="${1:-config/train/lite_orient.yaml}"
RUN="${2:-runs/lite_orient}"
THREADS="${CLEANPOSE_THREADS:-2}"
# OpenMP waits: alone on the machine, spinning threads are fastest (lite, cached data, 2 threads: ~3 steps/s
# with the default or OMP_WAIT_POLICY=ACTIVE, 1.9 with PASSIVE); beside another multi-threaded job they starve
# each other (19.6 s a step was measured), so then run both with CLEANPOSE_THREADS=1 or OMP_WAIT_POLICY=PASSIVE.
[ -n "${OMP_WAIT_POLICY:-}" ] && export OMP_WAIT_POLICY
mkdir -p "$RUN"
# a fresh machine continues the default run from the committed training state (used only while RUN is empty)
STATE="${CLEANPOSE_RESUME_FROM:-weights/training_state/lite_orient.pt}"
RESUME=()
[ "$CONFIG" = config/train/lite_orient.yaml ] && [ -f "$STATE" ] && RESUME=(--resume-from "$STATE")
TORCHINDUCTOR_COMPILE_THREADS="$THREADS" OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" nohup nice -n 10 .venv/bin/cleanpose-train \
  --config "$CONFIG" --out "$RUN" "${RESUME[@]}" >> "$RUN/train.log" 2>&1 &
echo $! > "$RUN/train.pid"
echo "training in the background: pid $(cat "$RUN/train.pid"), log $RUN/train.log"
