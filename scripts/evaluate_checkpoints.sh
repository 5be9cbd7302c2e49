#!/usr/bin/env bash
# Evaluate a training run's checkpoints at the LR minima (every multiple of EVERY steps) on the held-out
# split, with the direct head and the NOCS-keypoint fit, for the learning curve of the model card:
#   bash scripts/evaluate_checkpoints.sh [RUN_DIR] [EVERY] [--watch | --export-only] [--sources "fused ..."]
# (defaults runs/lite_orient 2000). --watch keeps looking for new checkpoints every minute while training
# runs; --export-only (also with --watch) only copies the weights out, to evaluate later: an evaluation beside
# a 2-thread training run on 2 cores slows the training tenfold while it lasts. Results:
# RUN_DIR/evals/step_<N>.pt and RUN_DIR/evals/step_<N>_<source>/metrics.json; done work is skipped.
# The exported step weights have no confidence model, so their AP is the expectation over tie orders
# (every score 1.0), comparable across steps; --sources limits the pose sources (default all three).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN="${1:-runs/lite_orient}"
EVERY="${2:-2000}"
WATCH=""; EXPORT_ONLY=""; SOURCES="direct nocs_fit fused"
set -- "${@:3}"
while [ $# -gt 0 ]; do
  case "$1" in
    --watch) WATCH=1 ;;
    --export-only) EXPORT_ONLY=1 ;;
    --sources) SOURCES="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
BIN="$ROOT/.venv/bin"
while true; do
  for ckpt in "$RUN"/checkpoints/step_*.pt "$RUN"/evals/step_*.pt; do
    [ -f "$ckpt" ] || continue
    step=$((10#$(basename "$ckpt" .pt | sed 's/step_//')))
    [ $((step % EVERY)) -eq 0 ] || continue
    weights="$RUN/evals/step_${step}.pt"
    mkdir -p "$RUN/evals"
    [ -f "$weights" ] || "$BIN/python" -c "from cleanpose_ros.tools.train import export_weights; import sys; export_weights(sys.argv[1], sys.argv[2])" "$ckpt" "$weights"
    [ -n "$EXPORT_ONLY" ] && continue
    for source in $SOURCES; do
      out="$RUN/evals/step_${step}_${source}"
      [ -f "$out/metrics.json" ] && continue
      OMP_NUM_THREADS=1 "$BIN/cleanpose-evaluate" --data data/gen_test --split test --weights "$weights" \
        --pose-source "$source" --threads 1 --no-plots --out "$out" > "$out.log" 2>&1
      echo "step $step $source: $(grep -E '^mean' "$out/metrics.txt")"
    done
  done
  [ -n "$WATCH" ] || break
  sleep 60
done
