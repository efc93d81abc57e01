# lib.sh — helpers for the CLI tests (sourced). Each test script gets the
# diffuse binary as $1, runs cases with `expect`, and ends with `finish`,
# which prints "N passed, N failed" and sets the exit status.
#   expect NAME EXIT_CODE STDERR_PATTERN -- COMMAND...
# checks the exit code and that stderr matches the (grep -E) pattern ("" = any).
DIFFUSE=${1:?usage: script.sh path/to/diffuse}
case $DIFFUSE in /*) ;; *) DIFFUSE=$PWD/$DIFFUSE ;; esac # tests may cd elsewhere
passed=0
failed=0
last_stdout=$(mktemp)
last_stderr=$(mktemp)
trap 'rm -f "$last_stdout" "$last_stderr"' EXIT

expect() {
  local name=$1 code=$2 pattern=$3
  shift 4
  "$@" >"$last_stdout" 2>"$last_stderr" </dev/null
  local got=$?
  if [ "$got" -ne "$code" ]; then
    echo "FAIL $name: exit $got, expected $code"; sed 's/^/    stderr: /' "$last_stderr" | head -5
    failed=$((failed + 1)); return 1
  fi
  if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$last_stderr"; then
    echo "FAIL $name: stderr does not match /$pattern/"; sed 's/^/    stderr: /' "$last_stderr" | head -5
    failed=$((failed + 1)); return 1
  fi
  if grep -Eq 'AddressSanitizer|runtime error:|Segmentation|Aborted' "$last_stderr"; then
    echo "FAIL $name: crashed or sanitizer report"; head -5 "$last_stderr"
    failed=$((failed + 1)); return 1
  fi
  echo "ok   $name"
  passed=$((passed + 1))
}

# stdout of the last `expect` matches a pattern.
expect_stdout() {
  local name=$1 pattern=$2
  if grep -Eq -- "$pattern" "$last_stdout"; then
    echo "ok   $name"; passed=$((passed + 1))
  else
    echo "FAIL $name: stdout does not match /$pattern/"; head -5 "$last_stdout" | sed 's/^/    stdout: /'
    failed=$((failed + 1))
  fi
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
