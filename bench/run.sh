#!/usr/bin/env bash
# Side-by-side benchmarks of diffuse against PyTorch on the same weights, in
# one run: the text encoder, one UNet step (CFG batch 2) and a VAE decode at
# 256 and 512 px, and a whole 20-step Euler generation at 512 px. Generates
# the full-size random checkpoints first if they are not there
# (tools/make_fullsize.py: about a minute and 9 GB of disk). Rows are
# appended to bench/results.md; BENCHMARKS.md quotes them.
#   THREADS (default: nproc), REPEAT (default 3), FULLSIZE_DIR (default
#   /tmp/diffuse-fullsize), SKIP_GENERATE=1 (skip the ~20-minute generation).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
REPEAT=${REPEAT:-3}
FULLSIZE_DIR=${FULLSIZE_DIR:-/tmp/diffuse-fullsize}
export HF_HUB_OFFLINE=1

bash tools/venv.sh
py=.venv-tools/bin/python
make fullsize FULLSIZE_DIR="$FULLSIZE_DIR" >/dev/null
{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ) $(lscpu | sed -n 's/^Model name: *//p'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
} >> bench/results.md
for model in sd15 sd21; do
  for path in "$FULLSIZE_DIR/$model" "$FULLSIZE_DIR/$model.safetensors"; do
    $py bench/bench_text_encoder.py --model "$path" --threads "$THREADS" --repeat "$REPEAT" \
      --binary build/diffuse --markdown bench/results.md
  done
done
$py bench/bench_unet_vae.py --model "$FULLSIZE_DIR/sd15" --threads "$THREADS" --repeat "$REPEAT" \
  --size 256,512 --binary build/diffuse --markdown bench/results.md
$py bench/bench_unet_vae.py --model "$FULLSIZE_DIR/sd21" --threads "$THREADS" --repeat 1 \
  --size 512 --binary build/diffuse --markdown bench/results.md
if [ "${SKIP_GENERATE:-0}" != 1 ]; then
  $py bench/bench_generate.py --model "$FULLSIZE_DIR/sd15" --threads "$THREADS" --steps 20 \
    --size 512 --binary build/diffuse --check --markdown bench/results.md
fi
echo "results appended to bench/results.md"
