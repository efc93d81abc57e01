#!/usr/bin/env bash
# Creates .venv-tools with the pinned PyTorch stack the fixture and benchmark
# tools use (a multi-GB download the first time). Never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-tools/bin/python ]; then
  python3 -m venv .venv-tools
fi
if ! .venv-tools/bin/python -c "import torch, transformers, diffusers, ftfy, peft" 2>/dev/null; then
  .venv-tools/bin/pip install -q -r tools/requirements.txt
fi
