#!/usr/bin/env bash
# `risq list`: help, the expanded matrix of the shipped and test suites, and
# exit status 2 with FILE:LINE:COL on a suite error. Runs from the source root.
set -u
risq=$1
tmp=$(mktemp -d /tmp/risq-test-list-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi
}

"$risq" list --help >"$tmp/out" 2>&1; check "list --help exits 0" test $? -eq 0
check "list --help shows usage" grep -q "usage: risq list \[SUITE\]" "$tmp/out"
"$risq" --help >"$tmp/out" 2>&1; check "risq --help mentions list" grep -q "list \[SUITE\]" "$tmp/out"
"$risq" list a.yaml b.yaml >/dev/null 2>&1; check "two suites exit 2" test $? -eq 2
"$risq" list --frob >/dev/null 2>&1; check "unknown option exits 2" test $? -eq 2

"$risq" list >"$tmp/out" 2>&1; rc=$?
cat "$tmp/out"
check "list (default smoke) exits 0" test $rc -eq 0
check "header line" grep -Eq "^# +model +dataset +method +bits +isa +threads +board$" "$tmp/out"
check "smoke has 6 configurations (fp32, ptq4ris and int:ptq4ris W8A8 at 1 and 2 threads)" test "$(grep -c '^[0-9]' "$tmp/out")" = 6
check "row 2 is lavt-tiny, 2 threads" grep -Eq "^2 +lavt-tiny +synth-s7-n100-p64-d1 +fp32 +- +auto +2 +-$" "$tmp/out"

"$risq" list tests/harness/data/suites/good/merged.yaml >"$tmp/out" 2>&1; rc=$?
check "merged suite lists 14 configurations" test $rc -eq 0 -a "$(grep -c '^[0-9]' "$tmp/out")" = 14
check "board column" grep -Eq "^4 +lavt-tiny +synth-s1-n4-p64-d1 +fp32 +- +scalar +1 +rpi5$" "$tmp/out"
check "models outermost" grep -Eq "^9 +other-model " "$tmp/out"

"$risq" list tests/harness/data/suites/bad/unknown-key-hint.yaml >"$tmp/out" 2>"$tmp/err"; rc=$?
check "bad suite exits 2" test $rc -eq 2
check "bad suite error has file:line:col" grep -q "^risq list: tests/harness/data/suites/bad/unknown-key-hint.yaml:5:1: unknown key 'repetitons' in the suite (did you mean 'repetitions'?)$" "$tmp/err"
check "nothing on stdout" test ! -s "$tmp/out"
"$risq" list "$tmp/none.yaml" >/dev/null 2>"$tmp/err"; rc=$?
check "missing suite exits 2" test $rc -eq 2
check "missing suite is named" grep -q "none.yaml: cannot open suite" "$tmp/err"

for f in suites/*.yaml; do
  "$risq" list "$f" >/dev/null 2>"$tmp/err"; check "$f lists" test $? -eq 0
done

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
