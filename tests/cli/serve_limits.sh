#!/usr/bin/env bash
# serve_limits.sh — the limits README documents are the server's: every flag
# of the limits section of `diffuse serve --help` (printed from the one table,
# src/server/limits.c) has a row in README's "Limits on input and
# connections" table with the same default, and every row there is a flag
# the server has; out-of-range values are refused naming the flag's range.
# Usage: bash tests/cli/serve_limits.sh path/to/diffuse   (from the repo root)
set -u
. "$(dirname "$0")/lib.sh"
readme=$(dirname "$0")/../../README.md

check() { # check NAME CONDITION...
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else
    echo "FAIL $name"; failed=$((failed + 1)); fi
}

help=$("$DIFFUSE" serve --help)
# "      --max-steps N  sampling steps" then "   1..1000 (default: 150)"
help_limits=$(printf '%s\n' "$help" | awk '
  /^limits/ { on = 1; next } on && /^$/ { exit }
  on && /^      --/ { flag = $1 }
  on && /\(default: / { sub(/.*\(default: /, ""); sub(/\)$/, ""); print flag "\t" $0 }')
# README rows: | `--max-steps` | 150 | ... |
readme_limits=$(awk -F'|' '/^\| `--[a-z-]+` \|/ {
    flag = $2; gsub(/[ `]/, "", flag); value = $3; gsub(/^ +| +$/, "", value); print flag "\t" value }' \
  "$readme")

check "help lists limits" test -n "$help_limits"
check "README lists limits" test -n "$readme_limits"
while IFS=$'\t' read -r flag value; do
  documented=$(printf '%s\n' "$readme_limits" | awk -F'\t' -v f="$flag" '$1 == f { print $2 }')
  check "README documents $flag" test -n "$documented"
  check "README default of $flag is '$value' (README: '$documented')" test "$documented" = "$value"
  # The flag's range as --help states it is what the parser enforces.
  range=$(printf '%s\n' "$help" | grep -A1 -- "^      $flag " | sed -n 's/^ *\([0-9]*\)\.\.\([0-9]*\) (default.*/\1 \2/p')
  low=${range% *}
  high=${range#* }
  expect "$flag below its range" 2 "$flag expects an integer in \[$low, $high\]" -- \
    "$DIFFUSE" serve "$flag" $((low - 1))
  expect "$flag above its range" 2 "$flag expects an integer in \[$low, $high\]" -- \
    "$DIFFUSE" serve "$flag" $((high + 1))
done <<<"$help_limits"
while IFS=$'\t' read -r flag value; do
  check "README's $flag is a limit of the server" \
    bash -c 'printf "%s\n" "$1" | grep -q -- "^$2	"' _ "$help_limits" "$flag"
done <<<"$readme_limits"
finish
