#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS — runs every libFuzzer target built in BUILD_DIR
# (fuzz_* executables, see DF_FUZZ in CMakeLists.txt) for SECONDS each,
# starting from a seed corpus made here for that target (safetensors files
# for fuzz_safetensors, request bodies for fuzz_request). Writes the
# libFuzzer summary of each run to tests/fuzz/last-run.txt; exits non-zero
# when a target crashes (the reproducer is kept under BUILD_DIR/fuzz-artifacts/).
set -u
build=${1:?usage: run.sh BUILD_DIR SECONDS}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
report="$here/last-run.txt"
work="$build/fuzz-work"
artifacts="$build/fuzz-artifacts"
mkdir -p "$work" "$artifacts"

# A safetensors image from a header string and hex data: 8-byte LE length,
# header, data.
seed() { # seed NAME HEADER DATA_HEX
    local name=$1 header=$2 hex=${3:-} length
    length=${#header}
    {
        printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' \
            $((length & 255)) $(((length >> 8) & 255)) $(((length >> 16) & 255)) $(((length >> 24) & 255)))"
        printf '%s' "$header"
        [ -n "$hex" ] && printf "$(echo "$hex" | sed 's/../\\x&/g')"
    } > "$corpus/$name"
}

# A request body seed: the text as given.
body() { # body NAME TEXT
    printf '%s' "$2" > "$corpus/$1"
}

safetensors_seeds() {
    seed empty-header '{}'
    seed metadata '{"__metadata__":{"format":"pt","diffuse_config":"{}"}}'
    seed f32 '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 0000803f000000400000404000008040
    seed mixed '{"__metadata__":{"a":"b"},"model.diffusion_model.input_blocks.1.0.in_layers.2.weight":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"first_stage_model.decoder.up.0.block.0.nin_shortcut.weight":{"dtype":"BF16","shape":[1,1,1,1],"data_offsets":[4,6]},"cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight":{"dtype":"F32","shape":[3,1],"data_offsets":[6,18]},"position_ids":{"dtype":"I64","shape":[1],"data_offsets":[18,26]}}' 003c0040803f000000000000803f000000400100000000000000
    seed scalar '{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}}' 000000000000f03f
}

# Valid and invalid bodies of POST /v1/jobs; the PNGs are solid RGB images
# of 64x64 (an init image of the model's multiple), 2x2 (smaller than it)
# and 1152x64 (wider than the fuzzer's max_side once rounded).
png64='iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAIAAAAlC+aJAAAAT0lEQVR42u3PQQkAAAgEsEty/aMYywi+hcEKLNO+FgEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQGBywLKp0DxvxLbjwAAAABJRU5ErkJggg=='
png2='iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR42mM4IScHRAwQCgAfJgQRSo6NIAAAAABJRU5ErkJggg=='
png1152='iVBORw0KGgoAAAANSUhEUgAABIAAAABACAIAAADtbZuqAAABUElEQVR42u3XMQ0AAAzDsCIpfyiDNQq7dlkygnzJtAAAADyIBAAAAAYMAADAgAEAAGDAAAAADBgAAIABUwEAAMCAAQAAGDAAAAAMGAAAgAEDAAAwYCoAAAAYMAAAAAMGAACAAQMAADBgAAAABgwAAAADBgAAYMAAAAAwYAAAAAYMAADAgAEAAGDAAAAADBgAAAAGDAAAwIABAAAYMAAAAAwYAACAAQMAAMCAAQAAGDAAAAADBgAAgAEDAAAwYAAAABgwAAAAAwYAAGDAAAAAMGAAAAAGDAAAAAMGAABgwAAAAAwYAAAABgwAAMCAAQAAYMAAAAAMGAAAgAEDAADAgAEAABgwAAAADBgAAIABAwAAMGAAAAAYMAAAAAMGAACAAQMAADBgAAAABgwAAAADBgAAYMAAAAAwYAAAAAYMAADAgAEAAGDAAAAADBgAAAA3C2oekR2p5iA1AAAAAElFTkSuQmCC'
request_seeds() {
    body minimal '{"prompt":"a cat"}'
    body full '{"prompt":"a (red:1.2) cat, [blue] sky","negative_prompt":"blurry","width":512,"height":768,"steps":20,"guidance_scale":7.5,"sampler":"DPM++ 2M Karras","schedule":"karras","spacing":"trailing","seed":42,"seed_mode":"per-image","rng":"philox","batch":2,"clip_skip":2,"weighting":true,"eta":0.5,"prediction":"v_prediction","preview_every":5}'
    body alias-model '{"prompt":"","n":3,"model":"tiny-v","seed":-1,"eta":null,"sampler":"k_euler_a","rng":"cpu"}'
    body img2img "{\"prompt\":\"x\",\"init_image\":\"data:image/png;base64,$png64\",\"strength\":0.5}"
    body img2img-small "{\"prompt\":\"x\",\"init_image\":\"$png2\",\"width\":64,\"height\":128}"
    body img2img-wide "{\"prompt\":\"x\",\"init_image\":\"$png1152\"}"
    body unknown-field '{"prompt":"a","stpes":20}'
    body wrong-type '{"prompt":1,"width":"512"}'
    body not-object '["prompt","a"]'
    body size '{"prompt":"a","width":100,"height":4096}'
    body batch-and-n '{"prompt":"a","batch":1,"n":2}'
    body strength-alone '{"prompt":"a","strength":0.5,"guidance_scale":-1}'
    body bad-base64 '{"prompt":"a","init_image":"data:image/png;base64,!!!="}'
    body precision '{"prompt":"a","precision":"f32","model":"tiny-v"}'
    body precision-default '{"prompt":"a","model":"tiny-v.safetensors","precision":null}'
    body names '{"prompt":"\u00e9\u4e2d","sampler":"nope","schedule":"x","spacing":"y","seed":9223372036854775807,"seed_mode":"batch","model":"missing"}'
    body sdxl '{"prompt":"a","model":"xl","prompt_2":"b","negative_prompt_2":"c","original_width":1024,"original_height":768,"target_width":64,"target_height":64,"crop_top":8,"crop_left":0}'
    body refiner '{"prompt":"a","model":"xl","refiner":"xl-refiner","refiner_start":0.7,"aesthetic_score":7.5,"negative_aesthetic_score":2}'
    body refiner-misfit '{"prompt":"a","model":"tiny","prompt_2":"b","refiner":"xl"}'
    body refiner-img2img "{\"prompt\":\"x\",\"model\":\"xl-refiner\",\"init_image\":\"$png64\",\"aesthetic_score\":5}"
    body loras '{"prompt":"a","loras":[{"name":"style","scale":0.7},{"name":"detail.safetensors","unet_scale":-1,"text_scale":0.5}]}'
    body lora-tags '{"prompt":"a <lora:style:0.5>, <lyco:detail:1:0.2> <lora:detail:te=2:unet=-1> <hypernet:x:1>","weighting":true,"loras":[{"name":"style"}]}'
    body lora-tags-text '{"prompt":"a <lora:style:0.5>","weighting":false}'
    body lora-bad '{"prompt":"a <lo<lora:style>ra:detail> <lora::1> <lora:x:1:2:3>","weighting":true,"loras":[{"name":"../style","scale":11},"x"]}'
}

status=0
: > "$report"
echo "fuzz run $(date -u +%Y-%m-%dT%H:%M:%SZ), ${seconds}s per target" >> "$report"
found=0
for target in "$build"/fuzz_*; do
    [ -x "$target" ] || continue
    found=1
    name=$(basename "$target")
    corpus="$work/$name-corpus"
    rm -rf "$corpus"
    mkdir -p "$corpus"
    case $name in
        fuzz_request) request_seeds ;;
        fuzz_safetensors) safetensors_seeds ;;
        *) printf '' > "$corpus/empty" ;; # a new target starts from nothing
    esac
    dict=()
    [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
    log="$work/$name.log"
    echo "== $name" >> "$report"
    "$target" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 "${dict[@]}" "$corpus" > "$log" 2>&1
    rc=$?
    # libFuzzer's own summary: the last status line, "Done N runs", final stats.
    grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -n 1 >> "$report"
    grep -E '^Done [0-9]+ runs|^stat::' "$log" >> "$report"
    if [ $rc -ne 0 ]; then
        status=1
        echo "CRASH (exit $rc); reproducer(s):" >> "$report"
        ls "$artifacts" >> "$report"
        grep -E 'ERROR: |SUMMARY: ' "$log" | head -n 5 >> "$report"
    else
        echo "no crash" >> "$report"
    fi
done
if [ $found -eq 0 ]; then
    echo "no fuzz_* targets in $build (configure with -DDF_FUZZ=ON and clang)" | tee -a "$report" >&2
    exit 1
fi
cat "$report"
exit $status
