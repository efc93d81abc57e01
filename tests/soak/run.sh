#!/usr/bin/env bash
# The soak test of `diffuse serve` (tests/soak/soak.py) in the server tests'
# venv: bash tests/soak/run.sh [path/to/diffuse] [soak.py options...]
# (default build/diffuse; SOAK_SECONDS sets --duration, default 300). Writes
# tests/soak/last-run.txt; exits non-zero when a check failed. `make soak`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$root/build/diffuse}
shift || true
bash "$root/tests/server/setup.sh"
venv=${DF_TEST_VENV:-$root/.venv-test}
exec "$venv/bin/python" "$root/tests/soak/soak.py" "$binary" \
  --duration "${SOAK_SECONDS:-300}" "$@"
