#!/usr/bin/env bash
# tokenize.sh — exit codes and messages of `diffuse tokenize`.
# Usage: bash tests/cli/tokenize.sh path/to/diffuse   (from the repo root)
set -u
BIN=${1:?usage: tokenize.sh path/to/diffuse}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect NAME STATUS STDOUT_GREP STDERR_GREP -- ARGS...  (stdin from $STDIN or /dev/null)
expect() {
    local name=$1 status=$2 out_pattern=$3 err_pattern=$4
    shift 5
    "$BIN" tokenize "$@" <"${STDIN:-/dev/null}" >"$TMP/out" 2>"$TMP/err"
    local got=$?
    if [ "$got" -ne "$status" ]; then
        fail "$name: exit $got, want $status; stderr: $(head -c 300 "$TMP/err")"
    elif [ -n "$out_pattern" ] && ! grep -qE -- "$out_pattern" "$TMP/out"; then
        fail "$name: stdout lacks /$out_pattern/: $(head -c 300 "$TMP/out")"
    elif [ -n "$err_pattern" ] && ! grep -qE -- "$err_pattern" "$TMP/err"; then
        fail "$name: stderr lacks /$err_pattern/: $(head -c 300 "$TMP/err")"
    else
        ok
    fi
}

# "a photo of a cat" in openai/clip-vit-large-patch14
expect "basic" 0 '^49406 320 1125 539 320 2368 49407$' '^tokens: 5 \(1 window\)$' -- "a photo of a cat"
expect "help" 0 'usage: diffuse tokenize' '' -- --help
expect "help -h" 0 'usage: diffuse tokenize' '' -- -h
expect "unknown option" 2 '' "unknown option '--bogus'" -- --bogus "a cat"
expect "two prompts" 2 '' 'at most one PROMPT' -- "a" "b"
expect "pad missing" 2 '' 'needs a value' -- --pad-token
expect "pad not a number" 2 '' 'expects an integer' -- --pad-token x "a"
expect "pad out of range" 2 '' 'expects an integer in \[0, 49407\]' -- --pad-token 49408 "a"
expect "empty prompt" 0 '^49406 49407$' '^tokens: 0 \(1 window\)$' -- ""
expect "dash-leading prompt after --" 0 '' '^tokens: 2 ' -- -- "-x"

printf 'a photo of a cat\n' >"$TMP/prompt"
STDIN="$TMP/prompt" expect "stdin dash" 0 '^49406 320 1125 539 320 2368 49407$' 'tokens: 5' -- -
STDIN="$TMP/prompt" expect "stdin implicit" 0 '^49406 320 1125 539 320 2368 49407$' 'tokens: 5' --

printf 'ab\xc3\x28cd' >"$TMP/bad1"
STDIN="$TMP/bad1" expect "invalid utf-8" 1 '' 'invalid UTF-8 at byte offset 3' -- -
printf 'xyz\xed\xa0\x80' >"$TMP/bad2"
STDIN="$TMP/bad2" expect "surrogate" 1 '' 'invalid UTF-8 at byte offset 3 \(surrogate' -- -
printf '\xc0\x80' >"$TMP/bad3"
STDIN="$TMP/bad3" expect "overlong" 1 '' 'byte offset 0' -- -
printf 'abc\xe2\x82' >"$TMP/bad4"
STDIN="$TMP/bad4" expect "truncated" 1 '' 'byte offset 3 \(truncated' -- -
expect "invalid utf-8 argument" 1 '' 'invalid UTF-8 at byte offset 1' -- "$(printf 'a\xffb')"

# NUL bytes on stdin are control characters ftfy removes: same as without.
printf 'a c\0at' >"$TMP/nul"
STDIN="$TMP/nul" expect "nul byte" 0 '^49406 320 2368 49407$' 'tokens: 2' -- -

# 80 x "cat": two windows, 75 + 5 tokens.
words=$(printf 'cat %.0s' $(seq 80))
expect "two windows" 0 '' '^tokens: 80 \(2 windows\)$' -- "$words"
if [ "$(wc -l <"$TMP/out")" -eq 2 ] && [ "$(head -1 "$TMP/out" | wc -w)" -eq 77 ] &&
    [ "$(tail -1 "$TMP/out" | wc -w)" -eq 7 ]; then ok; else fail "two windows: line shapes"; fi
expect "exactly 75" 0 '' '^tokens: 75 \(1 window\)$' -- "$(printf 'cat %.0s' $(seq 75))"
expect "76 tokens" 0 '' '^tokens: 76 \(2 windows\)$' -- "$(printf 'cat %.0s' $(seq 76))"

expect "json" 0 '"token_count": ?5' '' -- --json "a photo of a cat"
if grep -q '"content_length": *5' "$TMP/out" && grep -q '"ids": *\[49406, *320' "$TMP/out"; then ok; else
    fail "json fields: $(head -c 300 "$TMP/out")"; fi
expect "json pad 0" 0 '49407, *0, *0' '' -- --json --pad-token 0 "a cat"
if command -v python3 >/dev/null 2>&1; then
    if python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["windows"][0]["ids"])==77' <"$TMP/out"; then
        ok
    else
        fail "json does not parse"
    fi
fi

# A long prompt (10,000+ characters) through stdin.
for i in $(seq 700); do printf 'masterpiece, best quality, '; done >"$TMP/long"
STDIN="$TMP/long" expect "long prompt" 0 '' '^tokens: 3500 \([0-9]+ windows\)$' -- -

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
