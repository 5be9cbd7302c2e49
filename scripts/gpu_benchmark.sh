#!/usr/bin/env bash
# The GPU pipeline benchmark in one command, for a lent GPU machine (python3 with CUDA torch, no installs;
# Pillow, scipy, tqdm and numpy are on that image): ~4 minutes, capped at 5.
#   bash scripts/gpu_benchmark.sh OUT_DIR
# writes OUT_DIR/gpu_pipeline.md: pipeline p50/p95 per stage and frames/s for the `lite` and `paper`
# configs at 1/5/10/50 objects, torch fp32 / traced (jit) / fp16 (autocast), preprocessing on the CPU.
# Targets (docs/benchmarks.md): >= 300 frames/s at 5 objects for lite, >= 100 for paper.
# Sizes come from the environment so the same script is tested on a CPU with tiny ones
# (test/engines/test_gpu_benchmark_script.py): BENCH_DEVICE (cuda), BENCH_CONFIGS ("lite paper"),
# BENCH_OBJECTS ("1 5 10 50"), BENCH_FRAMES (60 timed frames per cell), BENCH_CELL_S (8 s cap per cell),
# BENCH_TIMEOUT_S (300), PYTHON (python3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$(mkdir -p "${1:?usage: gpu_benchmark.sh OUT_DIR}" && cd "$1" && pwd)"
PY="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck disable=SC2086  # word splitting of the lists is intended
timeout "${BENCH_TIMEOUT_S:-300}" "$PY" bench/bench_pipeline.py --device "${BENCH_DEVICE:-cuda}" \
  --configs ${BENCH_CONFIGS:-lite paper} --objects ${BENCH_OBJECTS:-1 5 10 50} --engines torch \
  --frames "${BENCH_FRAMES:-60}" --cell-seconds "${BENCH_CELL_S:-8}" --out "$OUT/gpu_pipeline.md"
echo "wrote $OUT/gpu_pipeline.md"
