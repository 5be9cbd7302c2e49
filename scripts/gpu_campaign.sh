#!/usr/bin/env bash
# One GPU training campaign inside a single command of a lent machine (an H200 with 16 cores, its own
# python3 with torch; no package registry; only the working tree travels):
#   bash scripts/gpu_campaign_prepare.sh          # here, once: the generator's wheels into .whl/
#   bash scripts/gpu_campaign.sh OUT_DIR [MINUTES]  # there, with .whl (and .gl) carried
# generates training data with all cores, pretrains the distillation teacher, trains `lite` (from the
# shipped phase-3 weights) and `mid` (config/model/mid.yaml, from scratch) for shares of MINUTES
# (default 9 in all), evaluates both on a held-out split, and writes to OUT_DIR:
#   cleanpose_lite_gpu.pt, cleanpose_mid_gpu.pt       weights (no optimiser state)
#   eval_lite/metrics.{json,txt}, eval_mid/...        NOCS metrics (order-independent AP)
#   learning_curve_{lite,mid}.png, metrics_{lite,mid}.csv, campaign.log
# Sizes come from the environment, so the same script is tested on a CPU with tiny ones
# (test/training/test_gpu_campaign.py): CAMPAIGN_FRAMES (default 12000), CAMPAIGN_TEST_FRAMES (100),
# CAMPAIGN_TEACHER_STEPS (300), CAMPAIGN_DEVICE (auto), CAMPAIGN_MODELS ("lite mid"), CAMPAIGN_TOTAL_S
# (MINUTES * 60), CAMPAIGN_PROBE_S (20: seconds of the step-rate probe), CAMPAIGN_STEPS (unset: steps from the
# probed rate and the time share; a number: exactly that many steps per model, no probe, no time limit),
# CAMPAIGN_TRAIN_ARGS (more cleanpose-train options for every training run, e.g. "--no-compile --workers 0" on a
# small CPU, where torch.compile alone takes minutes), PYTHON (python3, or .venv/bin/python here), CAMPAIGN_DATA
# (data/campaign: where the generated data goes). On the device: the generator needs moderngl + glcontext (carry them as
# wheels, see docs/training.md "GPU campaign") and the GL loaders of the device README.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$(mkdir -p "${1:?usage: gpu_campaign.sh OUT_DIR [MINUTES]}" && cd "$1" && pwd)"
MINUTES="${2:-9}"
TOTAL_S="${CAMPAIGN_TOTAL_S:-$(( MINUTES * 60 ))}"
PROBE_S="${CAMPAIGN_PROBE_S:-20}"
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# carried wheels (scripts/gpu_campaign_prepare.sh) and GL loaders (.gl/*.deb, the device README), when present
if [ -d .whl ] && ! "$PY" -c "import moderngl, trimesh, manifold3d" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/cleanpose_site \
    .whl/*.whl
  export PYTHONPATH="$PYTHONPATH:/tmp/cleanpose_site"
fi
if [ -d .gl ] && ls .gl/*.deb > /dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  [ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] && \
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
FRAMES="${CAMPAIGN_FRAMES:-12000}"
TEST_FRAMES="${CAMPAIGN_TEST_FRAMES:-100}"
TEACHER_STEPS="${CAMPAIGN_TEACHER_STEPS:-300}"
DEVICE="${CAMPAIGN_DEVICE:-auto}"
MODELS="${CAMPAIGN_MODELS:-lite mid}"
WORKERS="$(nproc)"
DATA="${CAMPAIGN_DATA:-data/campaign}"
START=$(date +%s)
log() { printf '[campaign %4ds] %s\n' "$(( $(date +%s) - START ))" "$*" | tee -a "$OUT/campaign.log"; }
left_s() { echo $(( TOTAL_S - ($(date +%s) - START) )); }

log "python $($PY -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())')"
log "generating $FRAMES training and $TEST_FRAMES test frames with $WORKERS workers"
"$PY" -m cleanpose_ros.tools.generate --out "$DATA/train" --frames "$FRAMES" --seed 31 --workers "$WORKERS" --quiet
"$PY" -m cleanpose_ros.tools.generate --out "$DATA/test" --split test --frames "$TEST_FRAMES" --seed 777 \
  --workers "$WORKERS" --quiet
[ -f "$DATA/teacher_pointnet.pt" ] || "$PY" -m cleanpose_ros.tools.pretrain_teacher --out "$DATA/teacher_pointnet.pt" \
  --steps "$TEACHER_STEPS" > "$OUT/teacher.log" 2>&1
log "data ready; $(left_s) s left"

n_models=$(echo "$MODELS" | wc -w)
i=0
skipped=""
for model in $MODELS; do
  i=$((i + 1))
  run="$OUT/runs/$model"
  cfg="config/train/gpu/$model.yaml"
  if [ -n "${CAMPAIGN_STEPS:-}" ]; then
    # a fixed number of steps: no probe and no time limit, so the result does not depend on the machine's speed
    steps="$CAMPAIGN_STEPS"
    minutes=()
    log "$model: fixed $steps steps"
  else
    # each model gets an equal share of what is left, minus a reserve for its evaluation
    budget_s=$(( ($(left_s) - 40 * (n_models - i + 1)) / (n_models - i + 1) ))
    [ "$budget_s" -gt 10 ] || { log "no time left for $model"; skipped="$skipped $model"; continue; }
    # probe the step rate, then size one LR triangle to end with the budget
    "$PY" -m cleanpose_ros.tools.train --config "$cfg" --out "$run.probe" --data "$DATA/train" \
      --teacher "$DATA/teacher_pointnet.pt" ${CAMPAIGN_TRAIN_ARGS:-} \
      --minutes "$("$PY" -c "import sys; print(int(sys.argv[1]) / 60)" "$PROBE_S")" --no-progress \
      --steps 100000 > "$OUT/probe_$model.log" 2>&1
    rate=$("$PY" -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(max(1e-3, 1/float(r[-1]['sec_per_step'])))" \
      "$run.probe/metrics.csv")
    steps=$("$PY" -c "import sys; print(max(4, int(float(sys.argv[1]) * (int(sys.argv[2]) - int(sys.argv[3])) * 0.9)))" \
      "$rate" "$budget_s" "$PROBE_S")
    rm -rf "$run.probe"
    minutes=(--minutes "$("$PY" -c "import sys; print(max(0.05, (int(sys.argv[1]) - int(sys.argv[2])) / 60))" "$budget_s" "$PROBE_S")")
    log "$model: $rate steps/s -> $steps steps in ${budget_s}s"
  fi
  "$PY" -m cleanpose_ros.tools.train --config "$cfg" --out "$run" --data "$DATA/train" \
    --teacher "$DATA/teacher_pointnet.pt" ${CAMPAIGN_TRAIN_ARGS:-} --steps "$steps" --half-cycle-steps $(( (steps + 1) / 2 )) \
    "${minutes[@]}" --no-progress --export "$OUT/cleanpose_${model}_gpu.pt" \
    > "$OUT/train_$model.log" 2>&1
  cp "$run/metrics.csv" "$OUT/metrics_$model.csv"
  "$PY" -m cleanpose_ros.tools.evaluate --data "$DATA/test" --split test --weights "$OUT/cleanpose_${model}_gpu.pt" \
    --device "$( [ "$DEVICE" = auto ] && "$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")' || echo "$DEVICE")" \
    --no-plots --out "$OUT/eval_$model" > "$OUT/eval_$model.log" 2>&1
  samples=$("$PY" -c "import csv,sys; print(list(csv.DictReader(open(sys.argv[1])))[-1]['object_samples'])" "$run/metrics.csv")
  "$PY" -m cleanpose_ros.tools.learning_curve --run "$run" --eval "$samples=$OUT/eval_$model" \
    --title "GPU campaign: $model" --out "$OUT/learning_curve_$model.png" > /dev/null
  rm -rf "$run/checkpoints"  # the exported weights stay; checkpoints would overflow what comes back
  log "$model done: $(grep -E '^mean' "$OUT/eval_$model/metrics.txt" | head -1)"
done
# a model that got no time is a failed campaign, said here rather than found missing later
[ -z "$skipped" ] || { log "campaign incomplete: no time for$skipped"; exit 1; }
log "campaign finished"
