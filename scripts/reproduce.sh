#!/usr/bin/env bash
# Reproduce the project's trained weights and studies from nothing. Every step resumes: run the same
# command again after an interruption and it continues where it stopped.
#
#   bash scripts/reproduce.sh data                      # generated splits + distillation teacher (~10 min)
#   bash scripts/reproduce.sh train [STEPS]             # phase 4 of the default weights from the committed state
#   bash scripts/reproduce.sh train-from-scratch        # phases 1-3 (legacy objective) + phase 4, all from nothing
#   bash scripts/reproduce.sh compare [VARIANT ...]     # the equal-budget objective comparison (docs/training.md)
#   bash scripts/reproduce.sh evaluate [WEIGHTS]        # NOCS metrics on the held-out split -> runs/eval_lite
#
#   bash scripts/reproduce.sh ablation [VARIANT ...]    # docs/ablation.md: agpose causal kd full (agpose_seed43)
#   bash scripts/reproduce.sh debias [VARIANT ...]      # docs/ablation.md: agpose cleanpose
#   bash scripts/reproduce.sh report                    # study tables + plots -> $CLEANPOSE_STUDY_RUNS/report
#
# On a 2-core machine run two study variants side by side (`... ablation agpose causal &` and
# `... ablation kd full`). Environment: CLEANPOSE_STUDY_RUNS (default runs/studies), CLEANPOSE_THREADS
# (torch threads per process; default 1 for the studies, the library default otherwise).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
BIN="$ROOT/.venv/bin"
RUNS="${CLEANPOSE_STUDY_RUNS:-runs/studies}"

data() {  # the generator skips frames that are already complete
  "$BIN/cleanpose-generate" --out data/gen_train --frames 5000 --seed 1 --workers 2 --quiet
  "$BIN/cleanpose-generate" --out data/gen_train_v2 --frames 3000 --seed 11 --workers 2 --quiet
  "$BIN/cleanpose-generate" --out data/gen_test --split test --frames 100 --seed 777 --workers 2 --segmentation --quiet
  "$BIN/cleanpose-generate" --out data/gen_test_yaw --split test --frames 300 --seed 779 --workers 2 --quiet
  "$BIN/cleanpose-generate" --out data/gen_calib --split test --frames 400 --seed 4242 --workers 2 --quiet  # confidence calibration
  [ -f runs/teacher_pointnet.pt ] || "$BIN/cleanpose-pretrain-teacher" --out runs/teacher_pointnet.pt --steps 300
}

# the phase-4 step of the shipped weights (weights/README.md); the committed training state is at this step
SHIPPED_STEP=44000

train() {  # phase 4 (reference objective) up to STEPS, resuming runs/lite_orient or the committed state
  local steps="${1:-$SHIPPED_STEP}"
  "$BIN/cleanpose-train" --config config/train/lite_orient.yaml --out runs/lite_orient --steps "$steps" \
    --resume-from weights/training_state/lite_orient.pt
  bash scripts/ship_weights.sh "$steps"
}

train_from_scratch() {  # phases 1-3 (legacy objective, runs/lite) give phase 4's starting weights, then phase 4
  "$BIN/cleanpose-train" --config config/train/lite_synthetic.yaml --out runs/lite
  "$BIN/cleanpose-train" --config config/train/lite_synthetic_phase2.yaml --out runs/lite
  "$BIN/cleanpose-train" --config config/train/lite_synthetic_phase3.yaml --out runs/lite \
    --export weights/history/cleanpose_lite_legacy_step6000.pt
  # phase 4 as it was trained: to 40,000, whose optimiser state was not kept, then on from its weights and queue
  # with fresh Adam moments (config/train/lite_orient.yaml, steps)
  "$BIN/cleanpose-train" --config config/train/lite_orient.yaml --out runs/lite_orient_to40000 --steps 40000 \
    --export weights/history/cleanpose_lite_orient_step40000.pt
  "$BIN/cleanpose-train" --config config/train/lite_orient.yaml --out runs/lite_orient --steps "$SHIPPED_STEP" \
    --resume-from weights/history/cleanpose_lite_orient_step40000.pt
  bash scripts/ship_weights.sh "$SHIPPED_STEP"
}

evaluate() {
  "$BIN/cleanpose-evaluate" --data data/gen_test --split test --weights "${1:-weights/cleanpose_lite.pt}" \
    --out runs/eval_lite
}

study_variant() {  # STUDY VARIANT TEST_DATA: train (resumable), export, evaluate (resumable)
  local study="$1" variant="$2" test_data="$3" run="$RUNS/${1}_$2" threads="${CLEANPOSE_THREADS:-1}"
  echo "== $study/$variant: training ($run)"
  OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" "$BIN/cleanpose-train" \
    --config "config/train/$study/$variant.yaml" --out "$run" --export "$run/weights.pt"
  echo "== $study/$variant: evaluating on $test_data"
  OMP_NUM_THREADS="$threads" "$BIN/cleanpose-evaluate" --data "$test_data" --split test --weights "$run/weights.pt" \
    --threads "$threads" --out "$run/eval"
}

label() {
  case "$1" in
    agpose) echo "AG-Pose baseline" ;; causal) echo "+ causal" ;; kd) echo "+ KD" ;;
    full) echo "CleanPose (causal + KD)" ;; cleanpose) echo "CleanPose" ;;
    agpose_seed43) echo "AG-Pose baseline, seed 43" ;; *) echo "$1" ;;
  esac
}

report() {
  local args=() v
  for v in agpose causal kd full agpose_seed43; do
    [ -f "$RUNS/ablation_$v/eval/metrics.json" ] && args+=(--ablation "$(label "$v")=$RUNS/ablation_$v/eval")
  done
  for v in agpose cleanpose; do
    [ -f "$RUNS/debias_$v/eval/metrics.json" ] && args+=(--debias "$(label "$v")=$RUNS/debias_$v/eval")
  done
  [ ${#args[@]} -gt 0 ] || { echo "no evaluated study runs under $RUNS" >&2; exit 2; }
  "$BIN/cleanpose-study-report" "${args[@]}" --yaw-range -45 45 --out "$RUNS/report"
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  data) data ;;
  train) train "$@" ;;
  train-from-scratch) train_from_scratch ;;
  compare) bash scripts/compare_objectives.sh "$@" ;;
  evaluate) evaluate "$@" ;;
  ablation)
    [ $# -gt 0 ] || set -- agpose causal kd full
    for v in "$@"; do study_variant ablation "$v" data/gen_test; done ;;
  debias)
    [ $# -gt 0 ] || set -- agpose cleanpose
    for v in "$@"; do study_variant debias "$v" data/gen_test_yaw; done ;;
  report) report ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
