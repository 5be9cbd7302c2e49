#!/usr/bin/env bash
# Ship a step of the phase-4 run as the default weights and as the committed resumable training state:
#   bash scripts/ship_weights.sh STEP [RUN_DIR]
# writes weights/cleanpose_lite.pt (no optimiser state) and weights/training_state/lite_orient.pt
# (compact: Adam moments in bfloat16), from RUN_DIR/checkpoints/step_<STEP>.pt (default runs/lite_orient),
# then exports and pairs weights/cleanpose_lite.onnx (+ cleanpose_lite.manifest.json, the default engine's file),
# then calibrates their confidence model (weights/cleanpose_lite.confidence.json) on data/gen_calib
# (generated here when missing, the generator skips finished frames: 400 frames, seed 4242, never used for training or the model card's test).
# A fresh clone resumes the run with:
#   cleanpose-train --config config/train/lite_orient.yaml --out runs/lite_orient \
#     --resume-from weights/training_state/lite_orient.pt
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STEP="${1:?usage: ship_weights.sh STEP [RUN_DIR]}"
RUN="${2:-runs/lite_orient}"
CKPT="$(printf '%s/checkpoints/step_%08d.pt' "$RUN" "$STEP")"
[ -f "$CKPT" ] || { echo "no checkpoint $CKPT" >&2; exit 2; }
.venv/bin/python - "$CKPT" <<'PY'
import sys
from cleanpose_ros.tools.train import export_training_state, export_weights
print(export_weights(sys.argv[1], "weights/cleanpose_lite.pt"))
print(export_training_state(sys.argv[1], "weights/training_state/lite_orient.pt"))
PY
ls -l weights/cleanpose_lite.pt weights/training_state/lite_orient.pt
.venv/bin/cleanpose-export --weights weights/cleanpose_lite.pt --out weights/cleanpose_lite.onnx --pair \
  --threads "${CLEANPOSE_THREADS:-1}"
.venv/bin/cleanpose-generate --out data/gen_calib --split test --frames 400 --seed 4242 --workers 2 --quiet
.venv/bin/cleanpose-calibrate-confidence --data data/gen_calib --weights weights/cleanpose_lite.pt \
  --also-for weights/cleanpose_lite.onnx --out "runs/calibrate_lite_step$STEP" --threads "${CLEANPOSE_THREADS:-1}"
