#!/usr/bin/env bash
# Before scripts/gpu_campaign.sh runs on a lent GPU machine (no package registry there): download, here, the
# wheels the generator needs that the machine's image lacks, for its Python 3.12 on x86-64, into .whl/
# (git-ignored; name it in the device call's `carry`). gpu_campaign.sh installs them when .whl/ exists.
#   bash scripts/gpu_campaign_prepare.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p .whl
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PY="${PYTHON:-.venv/bin/python}"
for pkg in moderngl glcontext trimesh manifold3d mapbox-earcut; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d .whl "$pkg"
done
ls -l .whl
