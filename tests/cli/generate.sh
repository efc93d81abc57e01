# generate.sh — `diffuse generate`: outputs, metadata, seeds, progress,
# Ctrl-C and bad input. The tiny model's default size (16x16) keeps each
# generation well under a second; larger sizes get slow fast on it.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$last_stdout" "$last_stderr"' EXIT
sd1=tests/fixtures/tiny-sd1
images=tests/fixtures/images
gen() { "$DIFFUSE" generate -m $sd1 "$@"; }

expect "help" 0 "" -- "$DIFFUSE" generate --help
expect_stdout "help lists options" "--init-image"
expect_stdout "help gives defaults" "default: 20"

# Outputs. The default name is diffuse-SEED.png in the current directory.
expect "default output" 0 "" -- sh -c "cd '$tmp' && '$DIFFUSE' generate -m '$PWD/$sd1' -p 'a cat' --seed 7 -q"
expect "default output exists" 0 "" -- test -s "$tmp/diffuse-7.png"
expect "png parameters" 0 "" -- grep -aq "Steps: 20" "$tmp/diffuse-7.png"
expect "png prompt in parameters" 0 "" -- grep -aq "a cat" "$tmp/diffuse-7.png"
expect "-o png" 0 "" -- gen -p "a cat" --seed 1 -o "$tmp/a.png"
expect_stdout "prints path and seed" "a\.png +seed 1$"
expect "jpeg" 0 "" -- gen -p "a cat" --seed 1 -o "$tmp/a.jpg"
expect "jpeg magic" 0 "" -- sh -c "head -c 3 '$tmp/a.jpg' | od -An -tx1 | grep -q 'ff d8 ff'"
expect "webp" 0 "" -- gen -p "a cat" --seed 1 -o "$tmp/a.webp" --quality 101
expect "webp magic" 0 "" -- grep -aq WEBP "$tmp/a.webp"
expect "batch of 2" 0 "" -- gen -p "a cat" --seed 1 -n 2 -o "$tmp/b.png"
expect_stdout "batch prints both" "b-2\.png"
expect "batch file 1" 0 "" -- test -s "$tmp/b-1.png"
expect "batch file 2" 0 "" -- test -s "$tmp/b-2.png"
expect "no unsuffixed batch file" 1 "" -- test -e "$tmp/b.png"
expect "per-image seeds" 0 "" -- gen -p "a cat" --seed 5 -n 2 --seed-mode per-image -o "$tmp/p.png"
expect_stdout "second image seed + 1" "p-2\.png +seed 6$"

# Seeds: the same seed gives the same file, another seed another file.
expect "seed run 1" 0 "" -- gen -p "a red cat" --seed 42 -o "$tmp/s1.png"
expect "seed run 2" 0 "" -- gen -p "a red cat" --seed 42 -o "$tmp/s2.png"
expect "seed run 3" 0 "" -- gen -p "a red cat" --seed 43 -o "$tmp/s3.png"
expect "same seed, same image" 0 "" -- cmp -s "$tmp/s1.png" "$tmp/s2.png"
expect "other seed, other image" 1 "" -- cmp -s "$tmp/s1.png" "$tmp/s3.png"
expect "random seed printed" 0 "" -- gen -p "a cat" -o "$tmp/r.png"
expect_stdout "random seed" "r\.png +seed [0-9]+$"

# Options that reach the engine.
expect "sampler a1111 name" 0 "" -- gen -p "a cat" --sampler "DPM++ 2M Karras" --steps 4 -o "$tmp/o.png"
expect "sampler diffusers name" 0 "" -- gen -p "a cat" --sampler EulerAncestralDiscreteScheduler --steps 4 -o "$tmp/o.png"
expect "infotext names sampler" 0 "" -- grep -aq "Sampler: Euler a" "$tmp/o.png"
expect "cfg, clip skip, weighting, negative" 0 "" -- gen -p "(a cat:1.2)" --negative "dog" --cfg 3.5 --clip-skip 2 --weighting --steps 3 -o "$tmp/o.png"
expect "size" 0 "" -- gen -p "a cat" -W 24 -H 16 --steps 2 -o "$tmp/size.png"
expect "philox rng" 0 "" -- gen -p "a cat" --rng philox --steps 2 -o "$tmp/o.png"
expect "img2img" 0 "" -- gen -p "a cat" --init-image $images/rgb.png --strength 0.5 --steps 4 -o "$tmp/i.png"
expect "img2img infotext" 0 "" -- grep -aq "Denoising strength: 0.5" "$tmp/i.png"
expect "preview" 0 "" -- gen -p "a cat" --taesd tests/fixtures/tiny-taesd --preview "$tmp/preview.png" --preview-every 1 --steps 3 -o "$tmp/o.png"
expect "preview written" 0 "" -- test -s "$tmp/preview.png"
expect "vae" 0 "" -- gen -p "a cat" --vae $sd1/vae --steps 2 -o "$tmp/o.png"
# --decoder taesd: the final image from TAESD (the tiny VAE's 16x16 default
# size is 2x2 latents at TAESD's 8x), unlike the VAE's from the same seed.
expect "decoder taesd" 0 "" -- gen -p "a cat" --taesd tests/fixtures/tiny-taesd --decoder taesd --seed 3 --steps 2 -o "$tmp/taesd.png"
expect "decoder taesd png" 0 "" -- sh -c "head -c 8 '$tmp/taesd.png' | od -An -tx1 | grep -q '89 50 4e 47'"
expect "decoder taesd (original file)" 0 "" -- gen -p "a cat" --taesd tests/fixtures/tiny-taesd-decoder.safetensors --decoder taesd --seed 3 --steps 2 -o "$tmp/taesd2.png"
expect "decoder vae" 0 "" -- gen -p "a cat" --taesd tests/fixtures/tiny-taesd --decoder vae --seed 3 --steps 2 -o "$tmp/vae.png"
expect "taesd differs from vae" 1 "" -- cmp -s "$tmp/taesd.png" "$tmp/vae.png"
expect "decoder taesd estimate" 0 "" -- gen -p x --taesd tests/fixtures/tiny-taesd --decoder taesd --estimate-memory
expect_stdout "decoder taesd estimate printed" "^[0-9]+ bytes"
# --preset: the recommended few-step settings, for the options not given.
expect "preset turbo" 0 "" -- gen -p "a cat" --preset turbo --seed 1 -o "$tmp/turbo.png"
expect "preset turbo: 1 step, cfg 0" 0 "" -- grep -aq "Steps: 1, Sampler: .*CFG scale: 0," "$tmp/turbo.png"
expect "preset turbo, explicit steps and cfg win" 0 "" -- gen -p "a cat" --preset turbo --steps 3 --cfg 1.5 --seed 1 -o "$tmp/turbo3.png"
expect "explicit values in the infotext" 0 "" -- grep -aq "Steps: 3, Sampler: .*CFG scale: 1.5," "$tmp/turbo3.png"
expect "preset lcm" 0 "" -- gen -p "a cat" --preset lcm --seed 1 -o "$tmp/lcm.png"
expect "preset lcm: LCM, 4 steps, cfg 1" 0 "" -- grep -aq "Steps: 4, Sampler: LCM, CFG scale: 1," "$tmp/lcm.png"
expect "single-file sd2" 0 "" -- "$DIFFUSE" generate -m tests/fixtures/tiny-sd2.safetensors -p "a cat" --steps 2 -o "$tmp/o.png"
expect "quiet" 0 "" -- sh -c "'$DIFFUSE' generate -m $sd1 -q -p 'a cat' --steps 2 -o '$tmp/o.png' 2>'$tmp/quiet.err'"
expect "quiet is silent" 1 "" -- test -s "$tmp/quiet.err"
expect "progress lines when piped" 0 "step [0-9]+/[0-9]+, [0-9.]+ it/s, ETA [0-9]+s" -- gen -p "a cat" --steps 2 -o "$tmp/o.png"
long=$(printf 'a red cat, %.0s' $(seq 1 1000))
expect "10,000-character prompt" 0 "" -- gen -p "$long" --steps 2 -o "$tmp/long.png"
expect "long prompt in parameters" 0 "" -- grep -aq "a red cat, a red cat, a red cat" "$tmp/long.png"

# Ctrl-C: stops within a step, exit 130, nothing written.
cancel() {
  # Not through gen(): $! must be diffuse itself, not a subshell.
  "$DIFFUSE" generate -m $sd1 -p "a cat" --steps 1000 -n 2 -o "$tmp/cancel.png" 2>"$tmp/cancel.err" &
  local pid=$! i
  for i in $(seq 1 200); do grep -q "step" "$tmp/cancel.err" 2>/dev/null && break; sleep 0.05; done
  kill -INT $pid
  wait $pid
  local code=$?
  cat "$tmp/cancel.err" >&2
  [ $code -eq 130 ] && ! ls "$tmp"/cancel-*.png >/dev/null 2>&1
}
expect "ctrl-c cancels" 0 "diffuse generate: cancelled" -- cancel

# Usage errors: exit 2, before loading anything.
expect "unknown option" 2 "" -- gen -p x --frobnicate
expect "missing prompt" 2 "give a prompt" -- gen
expect "steps 0" 2 "--steps" -- gen -p x --steps 0
expect "steps 5000" 2 "--steps" -- gen -p x --steps 5000
expect "steps not a number" 2 "--steps" -- gen -p x --steps many
expect "cfg nan" 2 "--cfg" -- gen -p x --cfg nan
expect "cfg 1000" 2 "--cfg" -- gen -p x --cfg 1000
expect "batch 65" 2 "--batch" -- gen -p x -n 65
expect "width not a multiple" 2 "not a multiple of [0-9]+" -- gen -p x --width 66
expect "width 5000" 2 "--width" -- gen -p x --width 5000
expect "clip skip 0" 2 "--clip-skip" -- gen -p x --clip-skip 0
expect "strength 1.5" 2 "--strength" -- gen -p x --init-image $images/rgb.png --strength 1.5
expect "strength without init image" 2 "--init-image" -- gen -p x --strength 0.5
expect "quality 0" 2 "--quality" -- gen -p x --quality 0 -o "$tmp/q.jpg"
expect "lossless jpeg" 2 "WebP" -- gen -p x --quality 101 -o "$tmp/q.jpg"
expect "bad seed" 2 "--seed" -- gen -p x --seed -5
expect "bad rng" 2 "philox" -- gen -p x --rng gpu
expect "bad seed mode" 2 "per-image" -- gen -p x --seed-mode each
expect "unknown extension" 2 "\.gif" -- gen -p x -o "$tmp/out.gif"
expect "no extension" 2 "extension" -- gen -p x -o "$tmp/out"
expect "preview without taesd" 2 "--taesd" -- gen -p x --preview "$tmp/pv.png"
expect "decoder taesd without taesd" 2 "--decoder taesd needs a TAESD decoder \(--taesd PATH" -- gen -p x --decoder taesd -o "$tmp/f.png"
expect "bad decoder" 2 "--decoder expects one of vae, taesd; got 'tiny'" -- gen -p x --decoder tiny
expect "bad preset" 2 "preset 'fast' is not one of: turbo, lcm" -- gen -p x --preset fast
expect "two prompts" 2 "unexpected argument" -- gen "a" "b"

# Failures: exit 1, the message names the problem; no output file.
expect "unknown sampler" 1 "Euler a" -- gen -p x --sampler "Nope 3000" -o "$tmp/f.png"
expect "unknown sampler: no file" 1 "" -- test -e "$tmp/f.png"
expect "unknown schedule" 1 "" -- gen -p x --schedule wobbly -o "$tmp/f.png"
expect "missing init image" 1 "no-such\.png" -- gen -p x --init-image "$tmp/no-such.png" -o "$tmp/f.png"
expect "truncated init image" 1 "truncated\.png" -- gen -p x --init-image $images/truncated.png -o "$tmp/f.png"
expect "junk init image" 1 "junk\.jpg" -- gen -p x --init-image $images/junk.jpg -o "$tmp/f.png"
expect "empty init image" 1 "empty\.png" -- gen -p x --init-image $images/empty.png -o "$tmp/f.png"
expect "bomb init image" 1 "bomb\.png" -- gen -p x --init-image $images/bomb.png -o "$tmp/f.png"
expect "gif init image" 1 "tiny\.gif" -- gen -p x --init-image $images/tiny.gif -o "$tmp/f.png"
expect "unwritable output" 1 "cannot write /proc/nope/x\.png" -- gen -p x -o /proc/nope/x.png
# --no-winograd: the direct convolutions (kernel tests hold the two within
# 1e-4 of the output scale) still make the image.
expect "help lists --no-winograd" 0 "" -- "$DIFFUSE" generate --help
expect_stdout "help explains --no-winograd" "--no-winograd +direct 3x3 convolutions"
expect "no winograd" 0 "" -- gen -p "a cat" --seed 3 --steps 4 --no-winograd -o "$tmp/nw.png"
expect "no winograd image" 0 "" -- test -s "$tmp/nw.png"
# --precision: bf16 and int8 make an image (on a CPU without AVX512-BF16 /
# VNNI, or with them turned off by DF_CPU_DISABLE, in f32 with a message and
# never an illegal instruction); a bad value is a usage error.
expect "help lists --precision" 0 "" -- "$DIFFUSE" generate --help
expect_stdout "help explains --precision" "--precision NAME +f32, bf16 or int8"
expect "precision f32" 0 "" -- gen -p "a cat" --seed 3 --steps 4 --precision f32 -o "$tmp/pf.png"
expect "precision bf16" 0 "" -- gen -p "a cat" --seed 3 --steps 4 --precision bf16 -o "$tmp/pb.png"
expect "precision bf16 image" 0 "" -- test -s "$tmp/pb.png"
expect "precision int8" 0 "" -- gen -p "a cat" --seed 3 --steps 4 --precision int8 -o "$tmp/pi.png"
expect "precision int8 image" 0 "" -- test -s "$tmp/pi.png"
expect "precision in the parameters" 0 "" -- grep -aq "Precision: int8" "$tmp/pi.png"
expect "f32 leaves it out" 1 "" -- grep -aq "Precision:" "$tmp/pf.png"
expect "precision bad value" 2 "--precision expects one of f32, bf16, int8; got 'fp7'" -- gen -p x --precision fp7 -o "$tmp/pbad.png"
expect "precision bad value wrote nothing" 1 "" -- test -e "$tmp/pbad.png"
expect "bf16 fallback" 0 "--precision bf16: this CPU has no AVX512-BF16" -- env DF_CPU_DISABLE=avx512_bf16 "$DIFFUSE" generate -m $sd1 -p "a cat" --seed 3 --steps 4 --precision bf16 -o "$tmp/pfb.png"
expect "bf16 fallback is the f32 image" 0 "" -- cmp -s "$tmp/pf.png" "$tmp/pfb.png"
expect "int8 fallback" 0 "--precision int8: this CPU has neither AVX512-VNNI nor AVX-VNNI" -- env DF_CPU_DISABLE=avx512_vnni,avx_vnni "$DIFFUSE" generate -m $sd1 -p "a cat" --seed 3 --steps 4 --precision int8 -o "$tmp/pfi.png"
expect "fallback without AVX-512 or AVX-VNNI" 0 "computing in f32" -- env DF_CPU_DISABLE=avx512f,avx_vnni "$DIFFUSE" generate -m $sd1 -p "a cat" --seed 3 --steps 4 --precision int8 -o "$tmp/pfa.png"
expect "int8 on AVX-VNNI without AVX-512" 0 "" -- env DF_CPU_DISABLE=avx512f "$DIFFUSE" generate -m $sd1 -p "a cat" --seed 3 --steps 4 --precision int8 -o "$tmp/pfv.png"
cp "$last_stderr" "$tmp/vnni.err"
if grep -q avx_vnni /proc/cpuinfo; then
  expect "int8 on AVX-VNNI ran int8 (no fallback)" 1 "" -- grep -q "computing in f32" "$tmp/vnni.err"
fi
expect "fallback with AVX2 off too" 0 "computing in f32" -- env DF_CPU_DISABLE=all "$DIFFUSE" generate -m $sd1 -p "a cat" --seed 3 --steps 4 --precision bf16 -o "$tmp/pfg.png"

mkdir "$tmp/dir.png"
expect "output is a directory" 1 "dir\.png: it is a directory" -- gen -p x -o "$tmp/dir.png"
expect "unwritable preview" 1 "/proc/nope/p\.png" -- gen -p x --taesd tests/fixtures/tiny-taesd --preview /proc/nope/p.png -o "$tmp/f.png"
expect "missing model" 1 "does-not-exist" -- gen -m "$tmp/does-not-exist" -p x -o "$tmp/f.png"
expect "missing taesd" 1 "--taesd" -- gen -p x --taesd "$tmp/none" --preview "$tmp/pv.png" -o "$tmp/f.png"
expect "missing vae" 1 "--vae" -- gen -p x --vae "$tmp/none" -o "$tmp/f.png"
# --estimate-memory: the engine's estimate, nothing generated or written; it
# grows with the request, and bad sizes are refused as a real run refuses them.
expect "estimate memory" 0 "" -- gen -p x --width 64 --height 64 -o "$tmp/est.png" --estimate-memory
expect_stdout "estimate printed" "^[0-9]+ bytes \([0-9.]+ GiB\) for 64x64, batch 1, batch seeds$"
small=$(sed -n 's/^\([0-9]*\) bytes.*/\1/p' "$last_stdout")
expect "estimate memory batch 4" 0 "" -- gen -p x --width 64 --height 64 -n 4 --estimate-memory
big=$(sed -n 's/^\([0-9]*\) bytes.*/\1/p' "$last_stdout")
expect "estimate grows with the batch" 0 "" -- test "$big" -gt "$small"
expect "estimate wrote nothing" 1 "" -- test -e "$tmp/est.png"
expect "estimate bad width" 2 "--width 17" -- gen -p x --width 17 --estimate-memory
printf 'a \xff\xfe cat' > "$tmp/bad.txt"
expect "non-UTF-8 prompt" 1 "UTF-8" -- gen -p "$(cat "$tmp/bad.txt")" -o "$tmp/f.png"
expect "failures wrote nothing" 1 "" -- test -e "$tmp/f.png"
finish
