#!/usr/bin/env bash
# The equal-budget comparison of docs/training.md ("Which fixes mattered"): each variant of
# config/train/compare/ trains 600 steps from the phase-3 weights (resumable), then is evaluated on the
# held-out split with the direct head and with the NOCS-keypoint fit:
#   bash scripts/compare_objectives.sh [VARIANT ...]     (default: all four; results in runs/compare/)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
[ $# -gt 0 ] || set -- reference legacy reference_clip10 reference_no_mug_symmetry
for v in "$@"; do
  run="runs/compare/$v"
  OMP_NUM_THREADS=1 "$BIN/cleanpose-train" --config "config/train/compare/$v.yaml" --out "$run" --no-progress \
    --export "$run/weights.pt"
  for source in direct nocs_fit; do
    OMP_NUM_THREADS=1 "$BIN/cleanpose-evaluate" --data data/gen_test --split test --weights "$run/weights.pt" \
      --pose-source "$source" --threads 1 --no-plots --out "$run/eval_$source" > "$run/eval_$source.log"
  done
done
