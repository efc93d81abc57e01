# encode.sh — `diffuse encode`: outputs, options and bad input.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sd1=tests/fixtures/tiny-sd1

expect "help" 0 "" -- "$DIFFUSE" encode --help
expect_stdout "help lists options" "--clip-skip"
expect "one prompt" 0 "" -- "$DIFFUSE" encode -m $sd1 "a cat"
expect_stdout "summary" "1 window"
expect "json timing" 0 "" -- "$DIFFUSE" encode -m $sd1 --repeat 2 --json "a cat" ""
expect_stdout "json fields" '"windows": 2.*"seconds_best".*"peak_rss_bytes"'
expect "output file" 0 "" -- "$DIFFUSE" encode -m $sd1 -o "$tmp/out.safetensors" "a cat"
expect "output file exists" 0 "" -- test -s "$tmp/out.safetensors"
expect "single file, sd2" 0 "" -- "$DIFFUSE" encode -m tests/fixtures/tiny-sd2.safetensors --clip-skip 2 "a cat"
expect "default model" 0 "" -- "$DIFFUSE" encode "a cat"

expect "no prompt" 2 "at least one prompt" -- "$DIFFUSE" encode -m $sd1
expect "bad threads" 2 "--threads" -- "$DIFFUSE" encode -m $sd1 --threads lots "a"
expect "clip skip zero" 2 "--clip-skip" -- "$DIFFUSE" encode -m $sd1 --clip-skip 0 "a"
expect "clip skip beyond layers" 1 "clip skip 40" -- "$DIFFUSE" encode -m $sd1 --clip-skip 40 "a"
expect "missing model" 1 "does-not-exist" -- "$DIFFUSE" encode -m "$tmp/does-not-exist" "a"
expect "unknown option" 2 "" -- "$DIFFUSE" encode --frobnicate "a"
expect "unwritable output" 1 "cannot write" -- "$DIFFUSE" encode -m $sd1 -o /proc/nope/out.safetensors "a"
printf 'a \xff\xfe cat' > "$tmp/bad.txt"
expect "non-UTF-8 prompt" 1 "UTF-8" -- "$DIFFUSE" encode -m $sd1 "$(cat "$tmp/bad.txt")"
long=$(printf 'a red cat, %.0s' $(seq 1 2000))
expect "10,000+ character prompt" 0 "" -- "$DIFFUSE" encode -m $sd1 "$long"
finish
