#!/usr/bin/env bash
# The HTML report in a real browser: build a synthetic history
# (test_report --keep), render it with `risq report -o html`, then load the
# page in headless Chromium (ci/bootstrap installs Debian's chromium):
#   1. --dump-dom: the page parses and its DOM has the tables and SVG charts;
#   2. --screenshot at 1200x900: the PNG is decoded by test_report_png
#      (stb_image) and must not be blank (enough non-white pixels, and chart
#      blue from the inline SVG);
#   3. console: Chromium's log (--enable-logging=stderr --v=0) of both runs
#      must have no "Uncaught" error and no CONSOLE message. The page has no
#      script, so any console line means something is wrong.
#   4. controls: a page with a script error must be caught by the same log
#      check, and a blank page must count as blank, so 2 and 3 cannot pass
#      vacuously (e.g. if a Chromium update changes its logging).
# Set RISQ_SKIP_BROWSER=1 to skip on a machine without Chromium (CI has it).
set -u
risq=$1 mkdb=$2 png=$3
tmp=$(mktemp -d /tmp/risq-test-html-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi
}

"$mkdb" --keep "$tmp" >"$tmp/mkdb.log" 2>&1; check "synthetic history (test_report --keep)" test $? -eq 0
"$risq" report --db "$tmp/history.sqlite" -o html --out "$tmp/report.html"
check "risq report -o html exits 0" test $? -eq 0
check "report.html written" test -s "$tmp/report.html"

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  if [ "${RISQ_SKIP_BROWSER:-0}" = 1 ]; then
    echo "skip: no chromium (RISQ_SKIP_BROWSER=1)"
    echo "$pass passed, $fail failed"
    exit $((fail > 0))
  fi
  echo "FAIL chromium not found: ci/bootstrap installs it (apt-get install chromium), or set RISQ_SKIP_BROWSER=1"
  echo "$pass passed, $((fail + 1)) failed"
  exit 1
fi

flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking
       --disable-component-update --disable-sync --no-first-run --disable-extensions
       --hide-scrollbars --enable-logging=stderr --v=0)
url="file://$tmp/report.html"
timeout 180 "$browser" "${flags[@]}" --user-data-dir="$tmp/profile1" --dump-dom "$url" \
  >"$tmp/dom.html" 2>"$tmp/dom.log"
check "chromium --dump-dom exits 0" test $? -eq 0
check "DOM has the report title" grep -q "<h1>risq report</h1>" "$tmp/dom.html"
check "DOM has the inline SVG charts" test "$(grep -o "<svg" "$tmp/dom.html" | wc -l)" -ge 3
check "DOM has the trend data table" grep -q "Trend data" "$tmp/dom.html"

timeout 180 "$browser" "${flags[@]}" --user-data-dir="$tmp/profile2" --window-size=1200,900 \
  --screenshot="$tmp/shot.png" "$url" >"$tmp/shot.out" 2>"$tmp/shot.log"
check "chromium --screenshot exits 0" test $? -eq 0
check "screenshot written" test -s "$tmp/shot.png"
read -r w h ink blue < <("$png" "$tmp/shot.png" 2>/dev/null || echo "0 0 0 0")
echo "     screenshot ${w}x${h}: $ink non-white pixels, $blue chart-blue pixels"
check "screenshot is 1200x900" test "$w" = 1200 -a "$h" = 900
check "screenshot is not blank (>= 1% non-white)" test "$ink" -ge $((1200 * 900 / 100))
check "inline SVG chart is drawn (chart blue present)" test "$blue" -ge 200

if grep -E "Uncaught|CONSOLE" "$tmp/dom.log" "$tmp/shot.log"; then
  check "no console errors" false
else
  check "no console errors" true
fi

# Controls, so that the checks above cannot pass vacuously: a page with a
# script error must show up in the log, and a blank page must count as blank.
printf '<!DOCTYPE html><html><body><p>control</p><script>console.error("risq-control"); risq_no_such_fn();</script></body></html>\n' \
  >"$tmp/control.html"
timeout 180 "$browser" "${flags[@]}" --user-data-dir="$tmp/profile3" --dump-dom "file://$tmp/control.html" \
  >/dev/null 2>"$tmp/control.log"
check "control: a script error is seen in the log" grep -q "Uncaught ReferenceError" "$tmp/control.log"
printf '<!DOCTYPE html><html><body></body></html>\n' >"$tmp/blank.html"
timeout 180 "$browser" "${flags[@]}" --user-data-dir="$tmp/profile4" --window-size=1200,900 \
  --screenshot="$tmp/blank.png" "file://$tmp/blank.html" >/dev/null 2>&1
read -r _ _ bink _ < <("$png" "$tmp/blank.png" 2>/dev/null || echo "0 0 -1 0")
check "control: a blank page counts as blank" test "$bink" -ge 0 -a "$bink" -lt $((1200 * 900 / 100))
echo "$pass passed, $fail failed"
exit $((fail > 0))
