#!/usr/bin/env bash
# Runs `diffuse serve` (tiny bundled model, temporary --data) under valgrind's
# memcheck, drives a short API session with curl (a job followed by its events
# stream, read back with its images in three formats, /predict, the jobs list,
# 400s, 404s, /healthz, a cancel, a job running and one queued at shutdown),
# stops it with SIGTERM and fails on any memcheck error or any definitely or
# indirectly lost block (valgrind exits 99 then), or when the server does not
# exit 0. Prints valgrind's summary and how long it took.
#   bash tests/server/valgrind.sh [path/to/diffuse]     (default build/diffuse)
# CTest runs it as server_valgrind (non-sanitized builds only): about 30 s here
# (two small jobs; a job costs ~100x its native time under memcheck). Not for
# an ASan build (two instrumentations in one process).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
binary=${1:-$root/build/diffuse}
case $binary in /*) ;; *) binary=$PWD/$binary ;; esac
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed" >&2; exit 1; }
command -v curl >/dev/null || { echo "valgrind.sh: curl is not installed" >&2; exit 1; }
if grep -q "__asan_init" "$binary" 2>/dev/null; then
  echo "valgrind.sh: $binary is an ASan build; valgrind needs a plain one" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/diffuse-valgrind.XXXXXX")
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ "${keep:-0}" = 1 ]; then echo "valgrind.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "valgrind.sh: FAIL: $*" >&2; keep=1; exit 1; }
started=$(date +%s.%N)

# Suppressions for third-party libraries only (tests/server/valgrind.supp).
supp=()
[ -f "$root/tests/server/valgrind.supp" ] && supp=(--suppressions="$root/tests/server/valgrind.supp")
valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-leak-kinds=definite,indirect,possible --error-exitcode=99 --track-origins=no \
  --num-callers=30 "${supp[@]}" --log-file="$work/valgrind.log" \
  "$binary" serve -m "$root/tests/fixtures/tiny-sd1" --listen 127.0.0.1:0 \
  --data "$work/data" -t 1 --queue-size 8 >"$work/stdout" 2>"$work/stderr" &
pid=$!

url=
for _ in $(seq 1 1200); do  # up to 120 s: valgrind starts slowly
  url=$(grep -o 'http://[0-9.]*:[0-9]*' "$work/stdout" 2>/dev/null | head -n 1 || true)
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/stderr" "$work/valgrind.log" >&2; fail "the server did not start"; }
echo "valgrind.sh: server at $url under valgrind ($(awk -v s="$started" -v e="$(date +%s.%N)" \
  'BEGIN{printf "%.1f", e-s}') s to start)"

# request EXPECTED-STATUS CURL-ARGS...: the body in $work/body.
request() {
  local want=$1; shift
  local got
  got=$(curl -sS --max-time 120 -o "$work/body" -w '%{http_code} %{time_total}' "$@") ||
    fail "curl $*"
  [ "${got% *}" = "$want" ] || fail "$* -> $got (want $want): $(head -c 300 "$work/body")"
  printf '  %s %6.2fs  %s\n' "$want" "${got#* }" "${*/$url/}" | cut -c1-120
}
json='Content-Type: application/json'
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$work/body" | head -n 1; }

request 200 "$url/healthz"
request 200 "$url/readyz"
# Under valgrind a job of the tiny model costs ~15 s plus ~2.5 s a step
# (one step, no guidance): two jobs only. A job, followed by its events
# stream to the end (queued ... completed), then read back with its images.
one='"steps":1,"guidance_scale":1,"seed":1'
request 202 -X POST -H "$json" -d "{\"prompt\":\"a red cube\",$one,\"batch\":2}" "$url/v1/jobs"
id=$(field id)
[ -n "$id" ] || fail "no job id in $(cat "$work/body")"
request 200 -N "$url/v1/jobs/$id/events"
grep -q '^event: completed' "$work/body" || fail "events of $id: $(cat "$work/body")"
request 200 "$url/v1/jobs/$id"
[ "$(field state)" = completed ] || fail "job $id: $(cat "$work/body")"
request 200 "$url/v1/jobs/$id/events"  # a finished job: the final event alone
request 200 "$url/v1/jobs/$id/images/1"
request 404 "$url/v1/jobs/$id/images/2"
request 400 "$url/v1/jobs/$id/images/0?format=gif"
request 200 "$url/v1/jobs/$id/images/0?format=jpeg"
request 200 "$url/v1/jobs/$id/images/0?format=webp"
# /predict (synchronous).
request 200 -X POST -H "$json" -H 'Accept: image/png' -d "{\"prompt\":\"y\",$one,\"width\":24}" \
  "$url/predict"
request 200 "$url/v1/jobs?limit=2"
request 200 "$url/v1/jobs?limit=1&before=$id"
# Errors: malformed JSON, a bad parameter, unknown job, unknown route.
request 400 -X POST -H "$json" -d '{not json' "$url/v1/jobs"
request 400 -X POST -H "$json" -d '{"prompt":"x","steps":0}' "$url/v1/jobs"
request 400 "$url/v1/jobs?limit=0"
request 404 "$url/v1/jobs/ffffffffffffffffffffffffffffffff"
request 404 "$url/no/such/route"
# A job running at shutdown and one queued: requeued, not leaked.
request 202 -X POST -H "$json" -d '{"prompt":"z","steps":150}' "$url/v1/jobs"
request 202 -X POST -H "$json" -d '{"prompt":"w","steps":150}' "$url/v1/jobs"
request 202 -X POST -H "$json" -d '{"prompt":"v","steps":150}' "$url/v1/jobs"
request 200 -X POST "$url/v1/jobs/$(field id)/cancel"  # still queued: cancelled at once

stop=$(date +%s.%N)
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
end=$(date +%s.%N)
echo "valgrind.sh: exit status $status, $(awk -v s="$stop" -v e="$end" \
  'BEGIN{printf "%.1f", e-s}') s after SIGTERM, $(awk -v s="$started" -v e="$end" \
  'BEGIN{printf "%.1f", e-s}') s in all"
echo "--- valgrind summary ---"
sed -n '/HEAP SUMMARY/,$p' "$work/valgrind.log" | sed 's/^==[0-9]*== //'
if [ "$status" = 99 ] || grep -q "ERROR SUMMARY: [1-9]" "$work/valgrind.log"; then
  echo "--- valgrind errors ---"
  sed 's/^==[0-9]*== //' "$work/valgrind.log" | head -n 400
  fail "valgrind found errors or leaks (status $status)"
fi
[ "$status" = 0 ] || { tail -n 40 "$work/stderr"; fail "the server exited $status after SIGTERM"; }
grep -q "ERROR SUMMARY: 0 errors" "$work/valgrind.log" || fail "no valgrind summary"
echo "valgrind.sh: PASS"
