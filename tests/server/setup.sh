#!/usr/bin/env bash
# Creates the server tests' virtual environment (.venv-test/ at the
# repository root, git-ignored) from requirements.txt, when it is missing or
# the requirements changed. Quiet when there is nothing to do.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${DF_TEST_VENV:-$root/.venv-test}
requirements=$root/tests/server/requirements.txt
stamp=$venv/.requirements
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
  exit 0
fi
echo "setup.sh: creating $venv" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
