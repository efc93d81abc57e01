#!/usr/bin/env bash
# Side-by-side benchmarks of diffuse in one run, on the same full-size random
# weights and thread count:
#  1. detail against PyTorch (SKIP_DETAIL=1 skips it): the text encoders, one
#     UNet step (CFG batch 2) and a VAE decode at 256 and 512 px, SD 2.1 at 512;
#  2. every anchor (bench/bench_anchors.py): diffuse (f32 and the --precision
#     values its binary offers), diffusers, OpenVINO (optimum-intel, f32 and
#     int8-weight exports, static shapes) and stable-diffusion.cpp: UNet CFG
#     step and VAE decode at SIZE, a whole STEPS-step generation, and a 1-step
#     SD-Turbo-shaped generation decoded by TAESD.
# Generates the full-size checkpoints first if they are not there (make
# fullsize: about 5 minutes and 9 GB of disk) and the anchors' venvs
# (tools/venv_anchors.sh; sd.cpp builds from source, 15-25 minutes on 2
# cores). Rows are appended to bench/results.md; BENCHMARKS.md quotes them.
#   THREADS (default: nproc), REPEAT (default 3), FULLSIZE_DIR (default
#   /tmp/diffuse-fullsize), ANCHORS (default diffuse,torch,openvino,sdcpp;
#   openvino = openvino-f32,openvino-int8; openvino-bf16 too on request),
#   PRECISIONS (diffuse's, default f32,bf16,int8), PARTS (default
#   unet,vae,generate,turbo), SIZE (default 512), STEPS (default 20),
#   SDCPP_STEPS (default STEPS; fewer is scaled by its mean step time),
#   SKIP_DETAIL=1, SKIP_GENERATE=1 (no whole STEPS-step generation),
#   SKIP_TURBO=1, SKIP_ENV=1 (do not create missing anchor venvs: those
#   anchors are reported as skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-$(nproc)}
REPEAT=${REPEAT:-3}
FULLSIZE_DIR=${FULLSIZE_DIR:-/tmp/diffuse-fullsize}
ANCHORS=${ANCHORS:-diffuse,torch,openvino,sdcpp}
PRECISIONS=${PRECISIONS:-f32,bf16,int8}
PARTS=${PARTS:-unet,vae,generate,turbo}
SIZE=${SIZE:-512}
STEPS=${STEPS:-20}
SDCPP_STEPS=${SDCPP_STEPS:-$STEPS}
export HF_HUB_OFFLINE=1

bash tools/venv.sh
py=.venv-tools/bin/python
make fullsize FULLSIZE_DIR="$FULLSIZE_DIR" >/dev/null
if [ "${SKIP_ENV:-0}" != 1 ]; then
  case ",$ANCHORS," in *,openvino*) bash tools/venv_anchors.sh openvino ;; esac
  case ",$ANCHORS," in *,sdcpp,*) bash tools/venv_anchors.sh sdcpp ;; esac
fi
if [ "${SKIP_DETAIL:-0}" != 1 ]; then
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
fi
parts=$PARTS
[ "${SKIP_GENERATE:-0}" != 1 ] || parts=$(echo ",$parts," | sed 's/,generate,/,/g; s/^,//; s/,$//')
[ "${SKIP_TURBO:-0}" != 1 ] || parts=$(echo ",$parts," | sed 's/,turbo,/,/g; s/^,//; s/,$//')
if [ -n "$parts" ]; then
  $py bench/bench_anchors.py --dir "$FULLSIZE_DIR" --anchors "$ANCHORS" --precisions "$PRECISIONS" \
    --parts "$parts" --threads "$THREADS" --size "$SIZE" --steps "$STEPS" --sdcpp-steps "$SDCPP_STEPS" \
    --repeat "$REPEAT" --binary build/diffuse --markdown bench/results.md
fi
echo "results appended to bench/results.md"
