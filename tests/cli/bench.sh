# bench.sh — `diffuse bench`: its JSON, --no-winograd, --precision,
# --save-output (the same input gives the same output file) and bad input.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sd1=tests/fixtures/tiny-sd1

expect "help" 0 "" -- "$DIFFUSE" bench --help
expect_stdout "help lists --no-winograd" "--no-winograd +direct 3x3"
expect_stdout "help lists --save-output" "--save-output FILE"
expect "unet json" 0 "" -- "$DIFFUSE" bench unet -m $sd1 --size 128 --repeat 1 --json
expect_stdout "json fields" '"cpu_seconds_mean": [0-9.]+, "winograd": true, .*"precision": "f32"'
expect "no winograd" 0 "" -- "$DIFFUSE" bench unet -m $sd1 --size 128 --repeat 1 --json --no-winograd
expect_stdout "json says winograd false" '"winograd": false'
# batch 2 x 4 channels x 16 x 16 latents, f32: 8192 bytes, twice the same
expect "save output" 0 "" -- "$DIFFUSE" bench unet -m $sd1 --size 128 --repeat 1 --save-output "$tmp/a.bin"
expect "save output again" 0 "" -- "$DIFFUSE" bench unet -m $sd1 --size 128 --repeat 2 --save-output "$tmp/b.bin"
expect "output size" 0 "" -- test "$(stat -c %s "$tmp/a.bin")" -eq 8192
expect "same input, same output" 0 "" -- cmp "$tmp/a.bin" "$tmp/b.bin"

expect "unwritable output" 1 "--save-output /proc/nope/x.bin: cannot write it" -- \
  "$DIFFUSE" bench unet -m $sd1 --size 64 --repeat 1 --save-output /proc/nope/x.bin
expect "bad precision" 2 "--precision expects one of" -- "$DIFFUSE" bench unet -m $sd1 --precision fp7
expect "bad component" 2 "" -- "$DIFFUSE" bench clip -m $sd1
expect "bad size" 2 "multiples of 64" -- "$DIFFUSE" bench unet -m $sd1 --size 100
finish
