#!/usr/bin/env bash
# The README's table of the largest requests --max-memory allows: the
# engine's estimate (diffuse generate --estimate-memory) for full-size SD 1.5
# and 2.1 at each size and batch, on sparse checkpoints with their exact
# names, shapes and configs (tools/make_sparse_fullsize.py; needs
# tools/venv.sh once). Usage: bash bench/memory_table.sh [build/diffuse]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-build/diffuse}
sparse=${SPARSE_DIR:-/tmp/diffuse-sparse}
if [ ! -e "$sparse/sd21/unet/config.json" ]; then
  bash tools/venv.sh
  HF_HUB_OFFLINE=1 .venv-tools/bin/python tools/make_sparse_fullsize.py --out "$sparse" >/dev/null
fi
for model in sd15 sd21; do
  echo "$model (GiB; batch seeds)"
  echo "| size | batch 1 | batch 2 | batch 4 | batch 8 |"
  echo "|---|---|---|---|---|"
  for size in 512 768 1024 1536 2048; do
    row="| ${size}x${size} |"
    for batch in 1 2 4 8; do
      gib=$("$binary" generate -m "$sparse/$model" -p "a photograph of an astronaut riding a horse" \
        --width "$size" --height "$size" -n "$batch" --estimate-memory |
        sed -n 's/.*(\([0-9.]*\) GiB).*/\1/p')
      row="$row $gib |"
    done
    echo "$row"
  done
done
