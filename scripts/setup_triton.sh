#!/usr/bin/env bash
# .venv-triton: the Triton Inference Server (nvidia-pytriton 0.7.0: a real Triton 2.51 in a wheel) for
# `cleanpose-triton-serve`. A venv of its own because PyTriton pins numpy<2 (the main .venv has numpy 2).
# Holds requirements/triton-server.txt and this package in editable mode without its dependencies (the
# server's import chain needs only numpy, onnxruntime and pytriton). Idempotent: a second run checks stamps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CLEANPOSE_TRITON_VENV:-$ROOT/.venv-triton}"
PY="${PYTHON:-python3}"
log() { printf '[setup-triton] %s\n' "$*"; }

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { echo "[setup-triton] Python >= 3.10 is required (found $("$PY" --version))" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
VPY="$VENV/bin/python"
pipq() {
  set -o pipefail
  "$VPY" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
}
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

REQ_STAMP="$VENV/.cleanpose-requirements.$(stamp_of "$ROOT/requirements/triton-server.txt")"
if [ ! -f "$REQ_STAMP" ]; then
  log "installing the Triton server into $VENV (first run: about a minute)"
  pipq --upgrade pip
  pipq -r "$ROOT/requirements/triton-server.txt" setuptools wheel  # both: the editable install below
  rm -f "$VENV"/.cleanpose-requirements.*; touch "$REQ_STAMP"
fi

PKG_STAMP="$VENV/.cleanpose-package.$(stamp_of "$ROOT/setup.py" "$ROOT/setup.cfg")"
if [ ! -f "$PKG_STAMP" ]; then
  log "installing cleanpose_ros (editable, no dependencies) into $VENV"
  pipq --no-deps --no-build-isolation -e "$ROOT"
  rm -f "$VENV"/.cleanpose-package.*; touch "$PKG_STAMP"
fi

"$VPY" - <<'PY'
import numpy, onnxruntime, pytriton.triton  # noqa: F401
import cleanpose_ros.engines.triton_server  # noqa: F401
from importlib.metadata import version
print(f"[setup-triton] ok: nvidia-pytriton {version('nvidia-pytriton')}, onnxruntime {onnxruntime.__version__}, "
      f"numpy {numpy.__version__}")
PY
