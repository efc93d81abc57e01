#!/usr/bin/env bash
# Side-by-side benchmarks of diffuse against PyTorch on the same weights, in
# one run. Generates the full-size random checkpoints first if they are not
# there (tools/make_fullsize.py, a few minutes and ~8 GB of disk), then runs
# each benchmark and appends its rows to bench/results.md.
#   THREADS (default: nproc), REPEAT (default 5), FULLSIZE_DIR (default
#   /tmp/diffuse-fullsize) override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
REPEAT=${REPEAT:-5}
FULLSIZE_DIR=${FULLSIZE_DIR:-/tmp/diffuse-fullsize}

bash tools/venv.sh
py=.venv-tools/bin/python
for model in sd15 sd21; do
  if [ ! -e "$FULLSIZE_DIR/$model/model_index.json" ] || [ ! -e "$FULLSIZE_DIR/$model.safetensors" ]; then
    HF_HUB_OFFLINE=1 $py tools/make_fullsize.py --model $model --layout both --dtype f16 --out "$FULLSIZE_DIR"
  fi
done
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) $(lscpu | sed -n 's/^Model name: *//p'), $THREADS threads"
} >> bench/results.md
for model in sd15 sd21; do
  for path in "$FULLSIZE_DIR/$model" "$FULLSIZE_DIR/$model.safetensors"; do
    HF_HUB_OFFLINE=1 $py bench/bench_text_encoder.py --model "$path" --threads "$THREADS" \
      --repeat "$REPEAT" --binary build/diffuse --markdown bench/results.md
  done
done
echo "results appended to bench/results.md"
