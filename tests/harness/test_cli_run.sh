#!/usr/bin/env bash
# End-to-end check of the risq CLI: help and error exits, `risq run` on a tiny
# suite into a fresh history, and what lands in v_results.
set -u
risq=$1
tmp=$(mktemp -d /tmp/risq-test-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi
}

"$risq" --help >"$tmp/out" 2>&1; check "--help exits 0" test $? -eq 0
check "--help lists run" grep -q "run \[SUITE\]" "$tmp/out"
"$risq" run --help >/dev/null 2>&1; check "run --help exits 0" test $? -eq 0
"$risq" frobnicate >/dev/null 2>&1; check "unknown command exits 2" test $? -eq 2
"$risq" run "$tmp/none.yaml" --db "$tmp/h.sqlite" 2>"$tmp/err"; check "missing suite exits 2" test $? -eq 2
check "missing suite is named" grep -q "none.yaml: cannot open suite" "$tmp/err"
printf 'suite: bad\nmodels: [lavt-tiny]\ndatasets: [{synth: {seed: 1}}]\nwarmpu: 1\n' >"$tmp/bad.yaml"
"$risq" run "$tmp/bad.yaml" --db "$tmp/h.sqlite" 2>"$tmp/err"; check "bad suite exits 2" test $? -eq 2
check "bad suite error has file:line:col" grep -q "bad.yaml:4:1: unknown key 'warmpu'" "$tmp/err"

cat >"$tmp/tiny.yaml" <<YAML
suite: tiny
models: [lavt-tiny]
datasets: [{synth: {seed: 7, count: 4}}]
targets: [{isa: auto, threads: [1, 2]}]
warmup: 1
repetitions: 3
YAML
"$risq" run "$tmp/tiny.yaml" --db "$tmp/h.sqlite" --zoo models/zoo >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
check "risq run exits 0" test $rc -eq 0
q() { sqlite3 "$tmp/h.sqlite" "$1"; }
check "two configurations stored ok" test "$(q "select count(*) from config where status='ok'")" = 2
check "v_results has miou for both" test "$(q "select count(*) from v_results where metric='miou' and value between 0 and 100")" = 2
check "raw samples stored" test "$(q "select count(*) from sample where name='latency_ms'")" = 6
check "cycles NULL without counters" test "$(q "select count(*) from v_results where metric='cycles' and value is null")" = 2
check "counter source recorded" test "$(q "select distinct counter_source from config")" = timer
check "run finished ok" test "$(q "select status from run")" = ok
check "dataset hash recorded" test -n "$(q "select dataset_hash from config limit 1")"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
