#!/usr/bin/env bash
# keys.sh — `diffuse keys create|list|revoke` and `diffuse usage`: output,
# exit codes and messages, on data directories made here.
# Usage: bash tests/cli/keys.sh path/to/diffuse   (from the repo root)
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$last_stdout" "$last_stderr"' EXIT
data=$tmp/data

check() { # check NAME CONDITION...: a shell condition as a test case
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else
    echo "FAIL $name"; failed=$((failed + 1)); fi
}

# --- help and usage errors ----------------------------------------------------
expect "keys help" 0 "" -- "$DIFFUSE" keys --help
expect_stdout "keys help text" "usage: diffuse keys create"
expect "create help" 0 "" -- "$DIFFUSE" keys create --help
expect_stdout "create help text" "--daily-images"
expect "list help" 0 "" -- "$DIFFUSE" keys list --help
expect "revoke help" 0 "" -- "$DIFFUSE" keys revoke --help
expect "usage help" 0 "" -- "$DIFFUSE" usage --help
expect_stdout "usage help text" "usage: diffuse usage"
expect "keys without command" 2 "usage: diffuse keys" -- "$DIFFUSE" keys
expect "keys unknown command" 2 "unknown command 'rotate'" -- "$DIFFUSE" keys rotate
expect "create without name" 2 "--name NAME is required" -- "$DIFFUSE" keys create --data "$data"
expect "create extra argument" 2 "unexpected argument 'extra'" -- \
  "$DIFFUSE" keys create --name a extra --data "$data"
for rate in 0 -5 abc 10/week 5/ /min nan inf 1e12/s "10 /min"; do
  expect "bad --rate '$rate'" 2 "--rate expects" -- \
    "$DIFFUSE" keys create --name a --rate "$rate" --data "$data"
done
for daily in 0 -1 x 1.5; do
  expect "bad --daily-images '$daily'" 2 "--daily-images expects" -- \
    "$DIFFUSE" keys create --name a --daily-images "$daily" --data "$data"
done
expect "create unknown option" 2 "" -- "$DIFFUSE" keys create --name a --bogus --data "$data"
expect "revoke without key" 2 "give its ID or NAME" -- "$DIFFUSE" keys revoke --data "$data"
expect "revoke two keys" 2 "one key at a time" -- "$DIFFUSE" keys revoke a b --data "$data"
expect "usage bad --days" 2 "--days expects" -- "$DIFFUSE" usage --days 0 --data "$data"
check "usage errors created nothing" test ! -e "$data"

# --- a missing data directory is named, not created ---------------------------
expect "list missing dir" 1 "data directory '$tmp/nowhere'" -- \
  "$DIFFUSE" keys list --data "$tmp/nowhere"
expect "revoke missing dir" 1 "data directory '$tmp/nowhere'" -- \
  "$DIFFUSE" keys revoke x --data "$tmp/nowhere"
expect "usage missing dir" 1 "data directory '$tmp/nowhere'" -- \
  "$DIFFUSE" usage --data "$tmp/nowhere"
check "missing dir not created" test ! -e "$tmp/nowhere"
: >"$tmp/a-file"
expect "list on a file" 1 "not a directory" -- "$DIFFUSE" keys list --data "$tmp/a-file"

# --- a fresh directory --------------------------------------------------------
mkdir "$tmp/fresh"
expect "list fresh" 0 "" -- "$DIFFUSE" keys list --data "$tmp/fresh"
expect_stdout "list fresh says none" "no API keys"
expect "list fresh json" 0 "" -- "$DIFFUSE" keys list --data "$tmp/fresh" --json
check "list fresh json is empty" grep -Eq '"keys": \[\]' "$last_stdout"
expect "usage fresh" 0 "" -- "$DIFFUSE" usage --data "$tmp/fresh"
expect_stdout "usage fresh says none" "no usage recorded"
expect "usage fresh json" 0 "" -- "$DIFFUSE" usage --data "$tmp/fresh" --json
check "usage fresh json is empty" grep -Eq '"keys": \[\]' "$last_stdout"

# --- create -------------------------------------------------------------------
expect "create ci" 0 "kill -HUP" -- \
  "$DIFFUSE" keys create --name ci --rate 30/min --daily-images 100 --data "$data"
ci_key=$(tail -n1 "$last_stdout")
check "key alone on the last line" grep -Eq '^dfk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$' <<<"$ci_key"
check "descriptive lines before it" test "$(wc -l <"$last_stdout")" -ge 3
expect_stdout "create shows rate" "rate: +30/min"
expect_stdout "create shows daily images" "daily images: +100"
ci_id=${ci_key:4:12}
check "create names the id" grep -q "created key $ci_id \"ci\"" "$last_stdout"
check "data dir created" test -f "$data/diffuse.db"

# The documented pipe.
ops_key=$("$DIFFUSE" keys create --name ops --admin --rate 2/s --data "$data" 2>/dev/null | tail -n1)
check "pipe to tail gets the key" grep -Eq '^dfk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$' <<<"$ops_key"
check "keys differ" test "$ops_key" != "$ci_key"
ops_id=${ops_key:4:12}
expect "create per hour" 0 "" -- "$DIFFUSE" keys create --name hourly --rate 90/h --data "$data"
expect "create per day" 0 "" -- "$DIFFUSE" keys create --name daily --rate 100/day --data "$data"
expect "create bare rate" 0 "" -- "$DIFFUSE" keys create --name bare --rate 12 --data "$data"
expect_stdout "bare rate per minute" "rate: +12/min"
expect "create unlimited" 0 "" -- "$DIFFUSE" keys create --name open --data "$data"
expect_stdout "unlimited rate" "rate: +unlimited"
expect_stdout "unlimited images" "daily images: +unlimited"

expect "duplicate name" 1 "already named 'ci'" -- "$DIFFUSE" keys create --name ci --data "$data"
expect "name like an id" 1 "looks like a key id" -- \
  "$DIFFUSE" keys create --name 0123456789ab --data "$data"
expect "name with newline" 1 "control character" -- \
  "$DIFFUSE" keys create --name "$(printf 'a\nb')" --data "$data"
expect "empty name" 1 "1 to 127 bytes" -- "$DIFFUSE" keys create --name "" --data "$data"

# --- list ---------------------------------------------------------------------
expect "list" 0 "" -- "$DIFFUSE" keys list --data "$data"
check "list has every key" test "$(grep -c ' active$' "$last_stdout")" -eq 6
check "list shows ci" grep -Eq "^$ci_id +ci +30/min +100 +no +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z +active$" "$last_stdout"
check "list shows ops" grep -Eq "^$ops_id +ops +120/min +unlimited +yes " "$last_stdout"
check "list shows 90/h" grep -Eq " hourly +90/h " "$last_stdout"
check "list shows 100/day" grep -Eq " daily +100/day " "$last_stdout"
check "list never shows a secret" bash -c "! grep -q -- '${ci_key:17}' '$last_stdout' && ! grep -q dfk_ '$last_stdout'"
expect "list json" 0 "" -- "$DIFFUSE" keys list --data "$data" --json
check "list json never shows a secret" bash -c "! grep -q dfk_ '$last_stdout' && ! grep -qi hash '$last_stdout'"
if command -v python3 >/dev/null 2>&1; then
  check "list json fields" python3 -c '
import json, sys
keys = json.load(open(sys.argv[1]))["keys"]
assert [k["name"] for k in keys] == ["ci", "ops", "hourly", "daily", "bare", "open"], keys
ci = keys[0]
assert ci["id"] == sys.argv[2] and ci["rate_per_minute"] == 30 and ci["daily_images"] == 100
assert ci["admin"] is False and ci["revoked"] is None and ci["created"].endswith("Z")
assert keys[1]["admin"] is True and keys[1]["rate_per_minute"] == 120
assert keys[5]["rate_per_minute"] is None and keys[5]["daily_images"] is None
' "$last_stdout" "$ci_id"
fi

# --- revoke -------------------------------------------------------------------
expect "revoke by id" 0 "kill -HUP" -- "$DIFFUSE" keys revoke "$ci_id" --data "$data"
expect_stdout "revoke names the key" "revoked key $ci_id \"ci\""
expect "revoke by name" 0 "" -- "$DIFFUSE" keys revoke --data "$data" ops
expect_stdout "revoke by name names the id" "revoked key $ops_id \"ops\""
expect "revoke again" 1 "no active key with id or name '$ci_id'" -- \
  "$DIFFUSE" keys revoke "$ci_id" --data "$data"
expect "revoke unknown name" 1 "no active key with id or name 'nobody'" -- \
  "$DIFFUSE" keys revoke nobody --data "$data"
expect "list after revoke" 0 "" -- "$DIFFUSE" keys list --data "$data"
check "revoked keys marked" test "$(grep -c ' revoked [0-9]' "$last_stdout")" -eq 2
check "ci revoked" grep -Eq "^$ci_id +ci .* revoked [0-9]{4}-" "$last_stdout"
expect "name reusable after revoke" 0 "" -- "$DIFFUSE" keys create --name ci --data "$data"
new_ci_id=$(tail -n1 "$last_stdout" | cut -c5-16)
check "reused name has a new id" test "$new_ci_id" != "$ci_id"

# --- usage --------------------------------------------------------------------
expect "usage" 0 "" -- "$DIFFUSE" usage --data "$data"
check "usage lists every key" test "$(grep -c ' total ' "$last_stdout")" -eq 7
check "usage marks revoked" grep -Eq "^$ci_id +ci \(revoked\) +total +0 +0 " "$last_stdout"
expect "usage one key by name" 0 "" -- "$DIFFUSE" usage --data "$data" --key ci --json
check "name means the active key" grep -q "\"key_id\": \"$new_ci_id\"" "$last_stdout"
expect "usage revoked key by id" 0 "" -- "$DIFFUSE" usage --data "$data" --key "$ci_id" --json
check "id means that key" grep -q "\"key_id\": \"$ci_id\"" "$last_stdout"
check "usage json has totals" grep -q '"requests": 0' "$last_stdout"
expect "usage revoked name" 0 "" -- "$DIFFUSE" usage --data "$data" --key ops --json
check "revoked name found" grep -q "\"key_id\": \"$ops_id\"" "$last_stdout"
expect "usage unknown key" 1 "no key with id or name 'ghost'" -- \
  "$DIFFUSE" usage --data "$data" --key ghost
expect "usage anonymous" 0 "" -- "$DIFFUSE" usage --data "$data" --key anonymous --json
check "anonymous entry" grep -q '"key_id": "anonymous"' "$last_stdout"

# Counters written by a server (as its flush does) show up, per day.
if command -v sqlite3 >/dev/null 2>&1; then
  today=$(date -u +%Y-%m-%d)
  sqlite3 "$data/diffuse.db" "INSERT INTO usage(key_id, day, requests, images, pixel_steps,
    compute_seconds) VALUES('$new_ci_id', '$today', 5, 2, 1310720, 3.5),
    ('$new_ci_id', '2001-01-01', 1, 1, 0, 0)"
  expect "usage with counters" 0 "" -- "$DIFFUSE" usage --data "$data" --key ci
  check "usage total row" grep -Eq "^$new_ci_id +ci +total +6 +3 +1310720 +3.5$" "$last_stdout"
  check "usage day row" grep -Eq "^ +$today +5 +2 +1310720 +3.5$" "$last_stdout"
  check "old day outside --days" bash -c "! grep -q 2001-01-01 '$last_stdout'"
  expect "usage all days" 0 "" -- "$DIFFUSE" usage --data "$data" --key ci --days 36500
  check "old day shown" grep -q 2001-01-01 "$last_stdout"
  expect "usage days past what /v1/usage takes" 2 "--days expects an integer in \[1, 36500\]" -- "$DIFFUSE" usage --data "$data" --key ci --days 36501
fi

# --- revoking the last active key (issue 10 item 2) ---------------------------
last=$tmp/last
expect "create solo" 0 "" -- "$DIFFUSE" keys create --name solo --data "$last"
expect "create duo" 0 "" -- "$DIFFUSE" keys create --name duo --data "$last"
expect "revoke one of two" 0 "" -- "$DIFFUSE" keys revoke duo --data "$last"
check "no warning while a key is left" bash -c "! grep -q 'last active key' '$last_stderr'"
expect "revoke the last key warns" 0 "last active key.*401" -- \
  "$DIFFUSE" keys revoke solo --data "$last"
check "warning names the way back" grep -q "diffuse keys disable-auth --data $last" "$last_stderr"
expect "list without active keys" 0 "" -- "$DIFFUSE" keys list --data "$last"
expect_stdout "list says the server stays keyed" "no active key.*401"
expect "disable-auth help" 0 "" -- "$DIFFUSE" keys disable-auth --help
expect_stdout "disable-auth help text" "usage: diffuse keys disable-auth"
expect "disable-auth extra argument" 2 "unexpected argument 'x'" -- \
  "$DIFFUSE" keys disable-auth x --data "$last"
expect "disable-auth missing dir" 1 "data directory '$tmp/nowhere'" -- \
  "$DIFFUSE" keys disable-auth --data "$tmp/nowhere"
expect "disable-auth" 0 "" -- "$DIFFUSE" keys disable-auth --data "$last"
expect_stdout "disable-auth says what it did" "without a key"
expect "list after disable-auth" 0 "" -- "$DIFFUSE" keys list --data "$last"
expect_stdout "list says the server is open" "accepts requests without a key"
expect "create after disable-auth" 0 "" -- "$DIFFUSE" keys create --name trio --data "$last"
expect "disable-auth with an active key" 1 "1 key\(s\) active.*revoke" -- \
  "$DIFFUSE" keys disable-auth --data "$last"

finish
