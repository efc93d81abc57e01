#!/usr/bin/env bash
# inspect.sh — `diffuse inspect` exit codes and messages on good and bad
# inputs. Usage: bash tests/cli/inspect.sh /path/to/diffuse (from the repo root).
# Bad inputs are made here in a temporary directory; the tiny fixtures are
# used when tests/fixtures has them.
set -u
bin=${1:?usage: inspect.sh /path/to/diffuse}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect NAME EXIT_CODE PATTERN -- ARGS...: runs diffuse inspect ARGS, checks
# the exit code and that stdout+stderr match the extended regex PATTERN.
expect() {
    local name=$1 code=$2 pattern=$3
    shift 4
    local out rc
    out=$("$bin" inspect "$@" 2>&1)
    rc=$?
    if [ "$rc" -eq "$code" ] && grep -Eq -- "$pattern" <<< "$out"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc (want $code), output does not match /$pattern/ or code differs:"
        sed 's/^/     | /' <<< "$out" | head -n 20
    fi
}

# st FILE HEADER [DATA_HEX]: a safetensors file.
st() {
    local file=$1 header=$2 hex=${3:-} length=${#2}
    {
        printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' \
            $((length & 255)) $(((length >> 8) & 255)) $(((length >> 16) & 255)) $(((length >> 24) & 255)))"
        printf '%s' "$header"
        [ -n "$hex" ] && printf "$(echo "$hex" | sed 's/../\\x&/g')"
    } > "$file"
}

zeros() { printf '%0*d' $(($1 * 2)) 0; }

# usage errors: exit 2
expect "no arguments" 2 "missing PATH" --
expect "unknown option" 2 "unknown option '--bogus'" -- --bogus x
expect "two paths" 2 "one PATH only" -- a b
expect "help" 0 "usage: diffuse inspect" -- --help

# bad inputs: exit 1 with the reason
expect "missing path" 1 "$tmp/absent: No such file" -- "$tmp/absent"
: > "$tmp/empty.safetensors"
expect "empty file" 1 "empty.safetensors: file is empty" -- "$tmp/empty.safetensors"
printf '\xff\x00\x00\x00\x00\x00\x00\x00{"a":' > "$tmp/cut.safetensors"
expect "header beyond the file" 1 "cut.safetensors: header length 255 is beyond the end" -- "$tmp/cut.safetensors"
st "$tmp/garbage.safetensors" 'not json at all'
expect "header not JSON" 1 "garbage.safetensors: header is not valid JSON" -- "$tmp/garbage.safetensors"
st "$tmp/dtype.safetensors" '{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}' 00
expect "unknown dtype" 1 "unknown dtype 'Q4' for tensor 'w'" -- "$tmp/dtype.safetensors"
st "$tmp/size.safetensors" '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}' "$(zeros 8)"
expect "size mismatch" 1 "tensor 'w' spans 8 bytes but its shape and dtype F32 need 12" -- "$tmp/size.safetensors"
printf 'PK\x03\x04pickle' > "$tmp/model.ckpt"
expect "pickle refused" 1 "model.ckpt: pickle checkpoints .* not supported" -- "$tmp/model.ckpt"
st "$tmp/lora.safetensors" '{"lora_unet_x.lora_down.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' "$(zeros 4)"
expect "not stable diffusion" 1 "not a Stable Diffusion checkpoint" -- "$tmp/lora.safetensors"
mkdir "$tmp/emptydir"
expect "empty folder" 1 "not a diffusers model folder" -- "$tmp/emptydir"

# a small single file made here: CLIP names and a 1x1-conv proj_in make it SD1
st "$tmp/sd1.safetensors" '{"cond_stage_model.transformer.text_model.embeddings.token_embedding.weight":{"dtype":"F16","shape":[4,2],"data_offsets":[0,16]},"model.diffusion_model.input_blocks.1.1.proj_in.weight":{"dtype":"F32","shape":[2,2,1,1],"data_offsets":[16,32]}}' "$(zeros 32)"
expect "single file text" 0 "family: +sd1" -- "$tmp/sd1.safetensors"
expect "single file layout" 0 "layout: +single-file" -- "$tmp/sd1.safetensors"
expect "single file counts" 0 "unet: 1 tensors, 4 parameters" -- "$tmp/sd1.safetensors"
expect "single file dtypes" 0 "dtypes: F16 x1" -- "$tmp/sd1.safetensors"
expect "absent component" 0 "vae: absent" -- "$tmp/sd1.safetensors"
expect "json" 0 '"family": "sd1"' -- --json "$tmp/sd1.safetensors"
expect "json option after path" 0 '"layout": "single-file"' -- "$tmp/sd1.safetensors" --json

# the tiny fixtures, when present
fixtures=tests/fixtures
if [ -d "$fixtures/tiny-sd1" ]; then
    expect "tiny-sd1 folder" 0 "layout: +diffusers" -- "$fixtures/tiny-sd1"
    expect "tiny-sd1 family" 0 "family: +sd1" -- "$fixtures/tiny-sd1"
    expect "tiny-sd1 config" 0 "hidden_size=32 num_hidden_layers=5" -- "$fixtures/tiny-sd1"
fi
if [ -f "$fixtures/tiny-sd2.safetensors" ]; then
    expect "tiny-sd2 single file" 0 "family: +sd2" -- "$fixtures/tiny-sd2.safetensors"
    expect "tiny-sd2 dropped layer" 0 "OpenCLIP layer 5 of 6 dropped" -- "$fixtures/tiny-sd2.safetensors"
    expect "tiny-sd2 json" 0 '"text_encoder": \{' -- --json "$fixtures/tiny-sd2.safetensors"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
