#!/usr/bin/env bash
# Train, evaluate and report the controlled studies of docs/ablation.md. Every step resumes: run the
# same command again after an interruption and it continues where it stopped.
#
#   bash scripts/run_studies.sh data                      # the generated splits and the teacher, if missing
#   bash scripts/run_studies.sh ablation [VARIANT ...]    # agpose causal kd full (default: all four)
#   bash scripts/run_studies.sh debias [VARIANT ...]      # agpose cleanpose (default: both)
#   bash scripts/run_studies.sh report                    # tables + plots -> $RUNS/report
#
# On a 2-core machine, run two variants side by side, e.g. `... ablation agpose causal &` and
# `... ablation kd full`. Environment: CLEANPOSE_STUDY_RUNS (default runs/studies),
# CLEANPOSE_STUDY_THREADS (torch threads per process, default 1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
BIN="$ROOT/.venv/bin"
RUNS="${CLEANPOSE_STUDY_RUNS:-runs/studies}"
THREADS="${CLEANPOSE_STUDY_THREADS:-1}"
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"

generate() {  # OUT ARGS...: generate a split unless its list file says it is complete
  local out="$1"; shift
  "$BIN/cleanpose-generate" --out "$out" --workers 2 --quiet "$@"
}

data() {
  generate data/gen_train --frames 5000 --seed 1
  generate data/gen_train_v2 --frames 3000 --seed 11
  generate data/gen_test --split test --frames 100 --seed 777 --segmentation
  generate data/gen_test_yaw --split test --frames 300 --seed 779
  [ -f runs/teacher_pointnet.pt ] || "$BIN/cleanpose-pretrain-teacher" --out runs/teacher_pointnet.pt --steps 300
}

train_and_evaluate() {  # STUDY VARIANT TEST_DATA
  local study="$1" variant="$2" test_data="$3" run="$RUNS/${1}_$2"
  echo "== $study/$variant: training ($run)"
  "$BIN/cleanpose-train" --config "config/train/$study/$variant.yaml" --out "$run" --export "$run/weights.pt"
  echo "== $study/$variant: evaluating on $test_data"
  "$BIN/cleanpose-evaluate" --data "$test_data" --split test --weights "$run/weights.pt" --threads "$THREADS" \
    --out "$run/eval"
}

report() {
  local args=() v
  for v in agpose causal kd full; do
    [ -f "$RUNS/ablation_$v/eval/metrics.json" ] && args+=(--ablation "$(label "$v")=$RUNS/ablation_$v/eval")
  done
  for v in agpose cleanpose; do
    [ -f "$RUNS/debias_$v/eval/metrics.json" ] && args+=(--debias "$(label "$v")=$RUNS/debias_$v/eval")
  done
  [ ${#args[@]} -gt 0 ] || { echo "no evaluated study runs under $RUNS" >&2; exit 2; }
  "$BIN/cleanpose-study-report" "${args[@]}" --yaw-range -45 45 --out "$RUNS/report"
}

label() {
  case "$1" in
    agpose) echo "AG-Pose baseline" ;; causal) echo "+ causal" ;; kd) echo "+ KD" ;;
    full) echo "CleanPose (full)" ;; cleanpose) echo "CleanPose" ;; *) echo "$1" ;;
  esac
}

study="${1:-}"
[ $# -gt 0 ] && shift
case "$study" in
  data) data ;;
  ablation)
    [ $# -gt 0 ] || set -- agpose causal kd full
    for v in "$@"; do train_and_evaluate ablation "$v" data/gen_test; done ;;
  debias)
    [ $# -gt 0 ] || set -- agpose cleanpose
    for v in "$@"; do train_and_evaluate debias "$v" data/gen_test_yaw; done ;;
  report) report ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
