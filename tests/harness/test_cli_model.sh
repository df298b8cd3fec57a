#!/usr/bin/env bash
# `risq model sites` and `risq sensitivity` on the bundled lavt-tiny: help,
# the site list, the quantizers calibration gives (ptq4ris W8A8), the usage
# errors (exit 2 with a message), and a small sensitivity ranking by site
# kind. Runs from the source root (models/zoo).
# usage: test_cli_model.sh RISQ
set -u
risq=$1
tmp=$(mktemp -d /tmp/risq-test-model-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi
}

# ---------------------------------------------------------------- help ---
"$risq" model --help >"$tmp/out" 2>&1; check "model --help exits 0" test $? -eq 0
check "model --help shows usage" grep -q "usage: risq model sites MODEL" "$tmp/out"
"$risq" model sites --help >"$tmp/out" 2>&1; check "model sites --help exits 0" test $? -eq 0
"$risq" sensitivity --help >"$tmp/out" 2>&1; check "sensitivity --help exits 0" test $? -eq 0
check "sensitivity --help shows usage and --by" grep -q "usage: risq sensitivity MODEL.*--by group|kind" "$tmp/out"

# -------------------------------------------------------------- errors ---
# expect_usage DESCRIPTION GREP-PATTERN RISQ-ARGS...: exit 2, message on stderr, nothing on stdout
expect_usage() {
  local what=$1 pat=$2; shift 2
  "$risq" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  check "$what: exit 2 ($rc)" test $rc -eq 2
  check "$what: says why" grep -q -- "$pat" "$tmp/err"
  check "$what: nothing on stdout" test ! -s "$tmp/out"
}
expect_usage "model sites --bits W9A8" "--bits 'W9A8' is not WxAy" model sites lavt-tiny --method ptq4ris --bits W9A8
expect_usage "model sites --bits 8x8" "--bits '8x8' is not WxAy" model sites lavt-tiny --method ptq4ris --bits 8x8
expect_usage "model sites unknown method" "unknown method 'ptq4foo'" model sites lavt-tiny --method ptq4foo --bits W8A8
expect_usage "model sites unknown model" "model 'no-such-model' not found" model sites no-such-model
expect_usage "model sites --method without --bits" "--method and --bits go together" model sites lavt-tiny --method ptq4ris
expect_usage "model sites without MODEL" "MODEL is required" model sites
expect_usage "model without a subcommand" "usage: risq model sites" model
expect_usage "model frob" "usage: risq model sites" model frob lavt-tiny
expect_usage "model sites --count 0" "--count: '0' is not an integer" model sites lavt-tiny --method ptq4ris --bits W8A8 --count 0
expect_usage "sensitivity --bits W8A1" "--bits 'W8A1' is not WxAy" sensitivity lavt-tiny --bits W8A1
expect_usage "sensitivity unknown method" "unknown method 'nope'" sensitivity lavt-tiny --method nope
expect_usage "sensitivity unknown model" "model 'no-such-model' not found" sensitivity no-such-model --count 1 --calib-samples 1
expect_usage "sensitivity --by colour" "--by 'colour'" sensitivity lavt-tiny --by colour

# ---------------------------------------------------------- model sites ---
"$risq" model sites lavt-tiny >"$tmp/sites" 2>"$tmp/err"; rc=$?
check "model sites lavt-tiny exits 0 ($rc)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$tmp/err"
check "header line" grep -Eq "^# +site +kind +group +shape" "$tmp/sites"
check "vision.stage0.block0.attn.softmax listed with kind softmax" \
  grep -Eq "^[0-9]+ +vision\.stage0\.block0\.attn\.softmax +softmax +vision\.stage0 +\[\.\.\]x16 *$" "$tmp/sites"
check "text.layer1.ffn.in listed with kind text" grep -Eq "^[0-9]+ +text\.layer1\.ffn\.in +text +text\.layer1 " "$tmp/sites"
check "vision.patch_embed.weight listed as a 32x48 weight" \
  grep -Eq "^[0-9]+ +vision\.patch_embed\.weight +weight +vision\.patch_embed +32x48 *$" "$tmp/sites"
check "decoder.classifier.weight listed" grep -Eq "^[0-9]+ +decoder\.classifier\.weight +weight +decoder " "$tmp/sites"
rows() { awk 'NF >= 5 && $1 ~ /^[0-9]+$/' "$1"; }   # the site rows of a listing
nrows=$(rows "$tmp/sites" | wc -l)
check "'N sites' line matches the $nrows rows" grep -q "^$nrows sites$" "$tmp/sites"
check "rows numbered 0..N-1 in order" test "$(rows "$tmp/sites" | awk '{print $1}' | tr '\n' ' ')" = "$(seq -s ' ' 0 $((nrows - 1))) "
check "14 softmax sites (8 Swin blocks, 2 BERT layers, 4 PWAMs)" test "$(awk '$3 == "softmax"' "$tmp/sites" | wc -l)" = 14
check "only the five kinds" test -z "$(rows "$tmp/sites" | awk '$3 !~ /^(weight|act|softmax|gelu|text)$/')"
check "no quantizer and no calibration line without --method" test -z "$(grep -E "calibration:|uniform|float" "$tmp/sites")"

"$risq" model sites lavt-tiny --method ptq4ris --bits W8A8 --count 4 --calib-samples 4 >"$tmp/q" 2>"$tmp/err"; rc=$?
check "model sites --method ptq4ris --bits W8A8 exits 0 ($rc)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$tmp/err"
check "header has a quantizer column" grep -Eq "^# +site +kind +group +shape +quantizer$" "$tmp/q"
check "vision softmax sites get drq-softmax 8b" \
  grep -Eq "^[0-9]+ +vision\.stage0\.block0\.attn\.softmax +softmax .* drq-softmax 8b s=2\^-[0-9]+$" "$tmp/q"
check "vision GELU sites get drq-gelu 8b" grep -Eq "^[0-9]+ +vision\.stage0\.block0\.mlp\.gelu +gelu .* drq-gelu 8b " "$tmp/q"
check "text sites get rorq 8b" grep -Eq "^[0-9]+ +text\.layer0\.attn\.in +text .* rorq 8b [0-9]+ bands$" "$tmp/q"
check "weights get uniform 8b per-channel" grep -Eq "^[0-9]+ +vision\.stage1\.block0\.attn\.qkv\.weight .* uniform 8b per-channel$" "$tmp/q"
check "fusion sites stay float (upstream scope)" grep -Eq "^[0-9]+ +fusion\.stage0\.attn\.softmax +softmax .* float$" "$tmp/q"
check "decoder stays float (upstream scope)" grep -Eq "^[0-9]+ +decoder\.classifier\.weight .* float$" "$tmp/q"
check "same sites as without --method" test "$(rows "$tmp/q" | awk '{print $1, $2, $3, $4, $5}')" = "$(rows "$tmp/sites" | awk '{print $1, $2, $3, $4, $5}')"
"$risq" model sites lavt-tiny --method ptq4ris --bits W8A8 --scope all --count 2 --calib-samples 2 >"$tmp/qa" 2>"$tmp/err"; rc=$?
check "--scope all exits 0 ($rc)" test $rc -eq 0
check "--scope all quantizes the fusion softmax" grep -Eq "^[0-9]+ +fusion\.stage0\.attn\.softmax +softmax .* drq-softmax 8b " "$tmp/qa"
check "--scope all quantizes the classifier (8 bits, last layer)" grep -Eq "^[0-9]+ +decoder\.classifier\.weight .* uniform 8b per-channel$" "$tmp/qa"
"$risq" model sites lavt-tiny --method ptq4ris --bits W8A8 --scope most >/dev/null 2>"$tmp/err"; rc=$?
check "--scope most exits 2 with a message" test $rc -eq 2 -a -n "$(grep "upstream or all" "$tmp/err")"
check "a calibration: line with packed and fp32 weight bytes" \
  grep -Eq "^calibration: [0-9.]+ s on one core, weights [0-9]+ bytes packed \(fp32 [0-9]+\)$" "$tmp/q"
packed=$(sed -nE 's/^calibration: .* weights ([0-9]+) bytes packed \(fp32 ([0-9]+)\)$/\1/p' "$tmp/q")
fp=$(sed -nE 's/^calibration: .* weights ([0-9]+) bytes packed \(fp32 ([0-9]+)\)$/\2/p' "$tmp/q")
check "W8A8 packed weights smaller than fp32 ($packed < $fp)" test "${packed:-0}" -gt 0 -a "${packed:-0}" -lt "${fp:-0}"

"$risq" model sites lavt-tiny --method fp32 >"$tmp/f" 2>"$tmp/err"; rc=$?
check "model sites --method fp32 (no --bits) exits 0 ($rc)" test $rc -eq 0
check "fp32: every site float ($nrows)" test "$(rows "$tmp/f" | grep -c " float$")" = "$nrows"

# ---------------------------------------------------------- sensitivity ---
"$risq" sensitivity lavt-tiny --count 3 --calib-samples 4 --by kind --bits W8A8 >"$tmp/s" 2>"$tmp/err"; rc=$?
cat "$tmp/s"
check "sensitivity --by kind exits 0 ($rc)" test $rc -eq 0
[ $rc -eq 0 ] || cat "$tmp/err"
check "sensitivity: title names model, method, bits and scope" grep -q "^risq sensitivity: lavt-tiny, ptq4ris W8A8 scope upstream, " "$tmp/s"
check "sensitivity: fp32 miou line" grep -Eq "^fp32 miou [0-9]+\.[0-9]+$" "$tmp/s"
check "sensitivity: table header" grep -Eq "^rank +quantized +miou +loss +loss_lo +loss_hi +fp_agreement +calib_s$" "$tmp/s"
ranked=$(grep -E "^[1-9][0-9]* +kind:" "$tmp/s")
check "sensitivity: 5 ranked rows, ranks 1..5" test "$(echo "$ranked" | awk '{print $1}' | tr '\n' ' ')" = "1 2 3 4 5 "
check "sensitivity: each kind once" test "$(echo "$ranked" | awk '{print $2}' | sort | tr '\n' ' ')" = "kind:act kind:gelu kind:softmax kind:text kind:weight "
check "sensitivity: an (all) row" grep -Eq "^ +\(all\) +[0-9.-]+ +[0-9.-]+ +[0-9.-]+ +[0-9.-]+ +[0-9.]+ +[0-9.]+$" "$tmp/s"
fpm=$(sed -nE 's/^fp32 miou ([0-9.]+)$/\1/p' "$tmp/s")
check "sensitivity: ranked by loss (largest first), loss = fp32 miou - miou inside its interval, fp_agreement in [0, 100]" \
  awk -v fp="${fpm:-nan}" 'BEGIN { ok = 1; prev = 1e9 }
    $1 ~ /^[0-9]+$/ && $2 ~ /^kind:/ || $1 == "(all)" {
      o = ($1 == "(all)") ? 0 : 1
      miou = $(2 + o); loss = $(3 + o); lo = $(4 + o); hi = $(5 + o); ag = $(6 + o)
      d = fp - miou - loss; if (d > 0.011 || d < -0.011) ok = 0
      if (!(lo <= loss + 0.011 && loss <= hi + 0.011 && lo < hi + 1e-9)) ok = 0
      if (ag < 0 || ag > 100) ok = 0
      if ($1 != "(all)") { if (loss > prev + 1e-9) ok = 0; prev = loss }
      n++ }
    END { exit !(ok && n == 6) }' "$tmp/s"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
