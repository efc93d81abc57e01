#!/usr/bin/env bash
# The bundled model's quality check (check_quality.py) with the test venv's
# Python (Pillow, numpy): bash tests/quality/run.sh [path/to/diffuse] [args...].
# CTest runs it as quality_shapes, in the release build only: it is a few
# hundred generations, and the C paths they take are the parity tests' ones.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$root/build/diffuse}
shift || true
case $binary in /*) ;; *) binary=$PWD/$binary ;; esac
bash "$root/tests/server/setup.sh"
venv=${DF_TEST_VENV:-$root/.venv-test}
exec "$venv/bin/python" "$root/tests/quality/check_quality.py" "$binary" "$@"
