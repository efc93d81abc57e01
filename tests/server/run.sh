#!/usr/bin/env bash
# Runs the server tests (pytest) against a built binary: bash tests/server/run.sh
# [path/to/diffuse] [pytest args...]. Creates the test venv when missing
# (tests/server/setup.sh). CTest runs this as server_pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$root/build/diffuse}
shift || true
case $binary in /*) ;; *) binary=$PWD/$binary ;; esac
bash "$root/tests/server/setup.sh"
venv=${DF_TEST_VENV:-$root/.venv-test}
cd "$root/tests/server"
DIFFUSE_BIN=$binary exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
