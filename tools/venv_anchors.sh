#!/usr/bin/env bash
# Creates the virtualenvs of the benchmark anchors that bench/run.sh times
# next to diffuse (ANCHORS=...,openvino,sdcpp). Idempotent: a venv whose
# imports already work is left alone. Developer tool only, never part of
# `make test`; everything comes from PyPI.
#
#   bash tools/venv_anchors.sh [openvino] [sdcpp]     (default: both)
#
#   OPENVINO_VENV (default .venv-openvino): optimum-intel + OpenVINO + NNCF.
#     Layered on .venv-tools (TOOLS_VENV): a .pth file puts its site-packages
#     after the venv's own, so the pinned PyTorch/diffusers stack is reused
#     (PyPI's default torch wheel is a multi-GB CUDA build, and PyTorch's CPU
#     index is not reachable); pip sees torch there and installs only what
#     optimum-intel adds (a few hundred MB).
#   SDCPP_VENV (default .venv-sdcpp): stable-diffusion-cpp-python, built from
#     source with cmake for this CPU (SDCPP_CMAKE_ARGS, default
#     -DGGML_NATIVE=ON); about 15-25 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OPENVINO_VENV=${OPENVINO_VENV:-.venv-openvino}
SDCPP_VENV=${SDCPP_VENV:-.venv-sdcpp}
TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
SDCPP_CMAKE_ARGS=${SDCPP_CMAKE_ARGS:--DGGML_NATIVE=ON}
# Versions that install and run together here (2026-12, Python 3.11).
OPTIMUM_INTEL=2.2.0
OPTIMUM=2.3.0
OPENVINO=2026.4.1
NNCF=3.4.0
TORCHVISION=0.24.1   # the one built for .venv-tools' torch 2.9.1
SDCPP=0.4.7

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(openvino sdcpp)

openvino() {
  bash tools/venv.sh   # the torch stack it layers on
  local tools_site
  tools_site=$("$TOOLS_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  [ -x "$OPENVINO_VENV/bin/python" ] || python3 -m venv "$OPENVINO_VENV"
  local site
  site=$("$OPENVINO_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # After the venv's own site-packages: what pip installs here wins.
  echo "$(cd "$tools_site" && pwd -P)" > "$site/zz-diffuse-venv-tools.pth"
  if ! "$OPENVINO_VENV/bin/python" -c "import openvino, nncf, optimum.intel, torch, diffusers" 2>/dev/null; then
    # Everything .venv-tools has stays at its version (else pip would pull
    # the newest torchvision and, for it, a newer CUDA torch of several GB).
    local constraints
    constraints=$(mktemp)
    "$TOOLS_VENV/bin/pip" freeze --exclude-editable > "$constraints"
    echo "torchvision==$TORCHVISION" >> "$constraints"
    "$OPENVINO_VENV/bin/pip" install -q -c "$constraints" "optimum-intel[openvino,diffusers]==$OPTIMUM_INTEL" \
      "optimum==$OPTIMUM" "openvino==$OPENVINO" "nncf==$NNCF"
    rm -f "$constraints"
  fi
  "$OPENVINO_VENV/bin/python" -c "import openvino, optimum.intel, nncf, torch; \
print('openvino', openvino.__version__, '| nncf', nncf.__version__, '| torch', torch.__version__)"
}

sdcpp() {
  [ -x "$SDCPP_VENV/bin/python" ] || python3 -m venv "$SDCPP_VENV"
  if ! "$SDCPP_VENV/bin/python" -c "import stable_diffusion_cpp" 2>/dev/null; then
    command -v cmake >/dev/null || { echo "stable-diffusion-cpp-python needs cmake" >&2; exit 1; }
    "$SDCPP_VENV/bin/pip" install -q --upgrade pip
    CMAKE_ARGS="$SDCPP_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
      "$SDCPP_VENV/bin/pip" install -v --no-cache-dir "stable-diffusion-cpp-python==$SDCPP"
  fi
  "$SDCPP_VENV/bin/python" -c "import importlib.metadata as m; \
print('stable-diffusion-cpp-python', m.version('stable-diffusion-cpp-python'))"
}

for p in "${parts[@]}"; do
  case $p in
    openvino) openvino ;;
    sdcpp) sdcpp ;;
    *) echo "usage: $0 [openvino] [sdcpp]" >&2; exit 2 ;;
  esac
done
