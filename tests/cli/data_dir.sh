#!/usr/bin/env bash
# data_dir.sh — every command that uses a data directory (`serve`, `keys`,
# `usage`) agrees on it: ./diffuse-data by default, $DIFFUSE_DATA when set,
# --data above both; `make run` uses the same default (issue 10 item 17).
# Usage: bash tests/cli/data_dir.sh path/to/diffuse   (from the repo root)
set -u
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
model=$root/tests/fixtures/tiny-sd1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$last_stdout" "$last_stderr"' EXIT

check() { # check NAME CONDITION...: a shell condition as a test case
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else
    echo "FAIL $name"; failed=$((failed + 1)); fi
}

# Starts `diffuse serve` with these arguments in the current directory, waits
# (generously: ASan, a loaded machine) for it to listen, stops it, and leaves
# its stdout in $tmp/serve.out and stderr in $tmp/serve.err.
serve_once() {
  "$DIFFUSE" serve -m "$model" --listen 127.0.0.1:0 -t 1 "$@" >"$tmp/serve.out" \
    2>"$tmp/serve.err" </dev/null &
  local pid=$! i
  for i in $(seq 1200); do
    grep -q "listening on" "$tmp/serve.out" && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"
}

# The data directory the last serve_once announced.
served_data() { sed -n 's/.*listening on .*, data \(.*\))$/\1/p' "$tmp/serve.out"; }

mkdir "$tmp/work"
cd "$tmp/work" || exit 1
unset DIFFUSE_DATA

# --- the default: ./diffuse-data for every command -----------------------------
expect "keys create, default dir" 0 "" -- "$DIFFUSE" keys create --name here
check "it is ./diffuse-data" test -f diffuse-data/diffuse.db
expect "keys list, default dir" 0 "" -- "$DIFFUSE" keys list
expect_stdout "list sees the key" " here "
expect "usage, default dir" 0 "" -- "$DIFFUSE" usage
expect_stdout "usage sees the key" " here "
serve_once
check "serve uses ./diffuse-data" test "$(served_data)" = "diffuse-data"
check "serve sees the key" grep -q "API keys required" "$tmp/serve.err"

# --- DIFFUSE_DATA: read by every command ---------------------------------------
export DIFFUSE_DATA=$tmp/env-data
expect "keys create, DIFFUSE_DATA" 0 "" -- "$DIFFUSE" keys create --name there
check "key went to DIFFUSE_DATA" test -f "$tmp/env-data/diffuse.db"
expect "keys list, DIFFUSE_DATA" 0 "" -- "$DIFFUSE" keys list
expect_stdout "list reads DIFFUSE_DATA" " there "
check "not the default dir" bash -c "! grep -q ' here ' '$last_stdout'"
expect "usage, DIFFUSE_DATA" 0 "" -- "$DIFFUSE" usage
expect_stdout "usage reads DIFFUSE_DATA" " there "
serve_once
check "serve uses DIFFUSE_DATA" test "$(served_data)" = "$tmp/env-data"
check "serve sees its key" grep -q "API keys required" "$tmp/serve.err"

# --- --data wins over DIFFUSE_DATA ---------------------------------------------
expect "keys list --data wins" 0 "" -- "$DIFFUSE" keys list --data diffuse-data
expect_stdout "list --data reads that dir" " here "
expect "usage --data wins" 0 "" -- "$DIFFUSE" usage --data diffuse-data
expect_stdout "usage --data reads that dir" " here "
serve_once --data "$tmp/flag-data"
check "serve --data wins" test "$(served_data)" = "$tmp/flag-data"
check "serve on an empty dir has no keys" grep -q "no API keys" "$tmp/serve.err"

# An empty DIFFUSE_DATA is as if unset (a shell's `DIFFUSE_DATA= cmd`).
DIFFUSE_DATA= expect "empty DIFFUSE_DATA" 0 "" -- "$DIFFUSE" keys list
expect_stdout "empty DIFFUSE_DATA means the default" " here "
unset DIFFUSE_DATA

# --- the help texts say so -----------------------------------------------------
for command in "serve" "keys" "keys create" "keys list" "keys revoke" "usage"; do
  expect "$command help" 0 "" -- "$DIFFUSE" $command --help
  expect_stdout "$command help names DIFFUSE_DATA" "DIFFUSE_DATA"
done

# --- make run uses the same default --------------------------------------------
if command -v make >/dev/null 2>&1; then
  run_line=$(make -s -n -C "$root" run 2>/dev/null | grep "diffuse serve")
  check "make run serves" test -n "$run_line"
  check "make run keeps the default data directory" \
    bash -c "! grep -Eq -- '--data( |=)' <<<'$run_line'"
fi

finish
