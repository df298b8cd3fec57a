#!/usr/bin/env bash
# `risq bench kernels`: help and usage errors, then a short run on lavt-tiny's
# shapes (--reps 1) into a temporary history: the table is printed, every
# shape x implementation landed in the store with its sample, and the
# reference libraries are there exactly when the build has them (the run
# prints "not built in" otherwise), so this passes with and without
# OpenBLAS / oneDNN. Runs from the source root (needs models/zoo/lavt-tiny).
# usage: test_cli_bench.sh RISQ
set -u
risq=$1
tmp=$(mktemp -d /tmp/risq-test-bench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0 pass=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi
}
q() { sqlite3 "$db" "$1"; }

"$risq" --help >"$tmp/out" 2>&1; check "risq --help lists bench kernels" grep -q "bench kernels" "$tmp/out"
"$risq" bench kernels --help >"$tmp/out" 2>&1; check "bench kernels --help exits 0" test $? -eq 0
check "--help explains the shapes and the checks" grep -q "equal oneDNN's result" "$tmp/out"
check "--help documents --threads" grep -q -- "--threads N" "$tmp/out"
check "--help says how to name the references' kernels" grep -q "OPENBLAS_CORETYPE=Haswell" "$tmp/out"
"$risq" bench >/dev/null 2>&1; check "bench without a benchmark exits 2" test $? -eq 2
"$risq" bench frob >/dev/null 2>&1; check "unknown benchmark exits 2" test $? -eq 2
"$risq" bench kernels --shapes huge >/dev/null 2>"$tmp/err"; check "bad --shapes exits 2" test $? -eq 2
check "bad --shapes is explained" grep -q "not tiny, lavt-b, square or all" "$tmp/err"
"$risq" bench kernels --impl own-fp32,magic >/dev/null 2>"$tmp/err"; check "unknown --impl exits 2" test $? -eq 2
"$risq" bench kernels --isa sse9 >/dev/null 2>&1; check "unknown --isa exits 2" test $? -eq 2
"$risq" bench kernels --reps 0 >/dev/null 2>&1; check "--reps 0 exits 2" test $? -eq 2

# --list: the shapes, nothing timed. LAVT-B's come from
# models/zoo/lavt-b-shapes when it is there; from elsewhere (no zoo) the
# built-in sizes must give the same list.
"$risq" bench kernels --shapes lavt-b --list >"$tmp/list" 2>&1; check "--list exits 0" test $? -eq 0
check "LAVT-B has 36 distinct shapes" test "$(grep -Ec '^[0-9]+ +[0-9]+x' "$tmp/list")" -eq 36
check "patch embedding: 120x120 pixels, 3x4x4 -> 128" grep -Eq "^1 +14400x128x48 +B 1 +B:patch$" "$tmp/list"
check "Swin-B stage 0 qkv: 120x120 tokens, 128 -> 384" grep -Eq "^2 +14400x384x128 +B 2 " "$tmp/list"
check "decoder level 0, 3x3 conv on 30x30: (1024 + 512) x 9 -> 512" grep -Eq " 900x512x13824 +B 1 +B:dec.l0.c1$" "$tmp/list"
check "decoder level 2, second 3x3 conv on 120x120: 512 x 9 -> 512" grep -Eq " 14400x512x4608 +B 1 +B:dec.l2.c2$" "$tmp/list"
check "stage 2 windows pad 30 -> 36: qkv on 1296 tokens, 18 blocks" grep -Eq " 1296x1536x512 +B 18 " "$tmp/list"
check "BERT-base q/k/v/o: 20 tokens, 768" grep -Eq " 20x768x768 +B 48 +B:bert.qkvo x48$" "$tmp/list"
abs_risq=$(cd "$(dirname "$risq")" && pwd)/$(basename "$risq")
(cd "$tmp" && env -u RISQ_ZOO "$abs_risq" bench kernels --shapes lavt-b --list) >"$tmp/list2" 2>&1
check "built-in LAVT-B sizes used without a zoo" grep -q "from built-in LAVT-B sizes" "$tmp/list2"
check "built-in LAVT-B sizes = models/zoo/lavt-b-shapes (when present)" \
  cmp -s <(grep -E '^[0-9]' "$tmp/list") <(grep -E '^[0-9]' "$tmp/list2")
(cd "$tmp" && env -u RISQ_ZOO "$abs_risq" bench kernels --shapes tiny --list) >/dev/null 2>"$tmp/err"
check "no lavt-tiny: exit 2 with a message" grep -q "model 'lavt-tiny' not found" "$tmp/err"
check "--list stores nothing" test ! -e "$tmp/bench.sqlite"

# ------------------------------------------------------- a short real run ---
db=$tmp/bench.sqlite
"$risq" bench kernels --shapes tiny --reps 1 --warmup 1 --min-ms 0 --threads 2 --db "$db" \
  >"$tmp/out" 2>"$tmp/err"; rc=$?
cat "$tmp/out" "$tmp/err"
check "bench kernels --shapes tiny exits 0" test $rc -eq 0
check "table header" grep -Eq "^# +shape MxNxK +calls +own-fp32 " "$tmp/out"
nshapes=$(grep -Ec "^[0-9]+ +[0-9]+x[0-9]+x[0-9]+ " "$tmp/out")
check "one table row per shape (lavt-tiny has 33 distinct ones)" test "$nshapes" -eq 33
check "stage-0 qkv of lavt-tiny: 256 tokens, 32 -> 96" grep -Eq "^2 +256x96x32 +tiny 2 " "$tmp/out"
check "decoder level 1, first 3x3 conv: 8x8 pixels, (128 + 64) x 9 -> 128" grep -Eq " 64x128x1728 +tiny 1 .*tiny:dec.l1.c1$" "$tmp/out"
check "BERT q/k/v/o and PWAM key/value share 20x64x64" grep -Eq "20x64x64 +tiny 10 .*bert.qkvo x8" "$tmp/out"
check "total row for one forward pass" grep -q "total lavt-tiny" "$tmp/out"
check "threads line" grep -q "busy threads on the largest shape: own-fp32 " "$tmp/out"

impls="own-fp32 own-int8 own-int4"
for lib in openblas onednn; do
  if grep -q "^$lib: not built in" "$tmp/out"; then
    check "$lib not built in: no $lib rows" test "$(q "select count(*) from config where method = '$lib'")" -eq 0
  else
    impls="$impls $lib"
  fi
done
echo "implementations: $impls"
if [ "${impls#*openblas}" != "$impls" ]; then
  check "OpenBLAS's workers sleep after ~0.1 ms (risq sets OPENBLAS_THREAD_TIMEOUT=18)" \
    grep -Eq "^OpenBLAS: .*OPENBLAS_THREAD_TIMEOUT=18$" "$tmp/out"
  OPENBLAS_THREAD_TIMEOUT=20 "$risq" bench kernels --shapes tiny --reps 1 --warmup 1 --min-ms 0 \
    --threads 1 --impl openblas --db "$tmp/blas.sqlite" >"$tmp/out2" 2>&1
  check "...unless the environment sets it" grep -Eq "^OpenBLAS: .*OPENBLAS_THREAD_TIMEOUT=20$" "$tmp/out2"
  if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    # an AVX2 CPU on OpenBLAS's generic kernels (what it does with a CPU it
    # does not know) is warned about; on its AVX2 kernels it is not
    blas_warns() { # blas_warns CORE: the run on OpenBLAS core CORE warns
      OPENBLAS_CORETYPE=$1 "$risq" bench kernels --shapes square --reps 1 --warmup 1 \
        --min-ms 0 --threads 1 --impl openblas --db "$tmp/blas.sqlite" 2>&1 |
        grep -Eq "^OpenBLAS: warning: core $1 has no AVX2 kernels"
    }
    blas_quiet() { ! blas_warns "$1"; }
    check "OpenBLAS on generic kernels on an AVX2 CPU: warned" blas_warns Prescott
    check "OpenBLAS on its Haswell kernels: no warning" blas_quiet Haswell
  fi
fi
check "one run of suite bench-kernels, status ok" test "$(q "select count(*) || status from run where suite = 'bench-kernels'")" = "1ok"
for m in $impls; do
  check "$m: a configuration per shape" test "$(q "select count(*) from config where model = 'gemm' and method = '$m' and status = 'ok' and threads = 2")" -eq "$nshapes"
  check "$m: latency_ms and gops of every shape" test "$(q "select count(*) from v_results where method = '$m' and metric in ('latency_ms', 'gops') and value > 0")" -eq $((2 * nshapes))
  check "$m: one raw sample per configuration" test "$(q "select count(*) from sample s join config c on c.id = s.config_id where c.method = '$m' and s.name = 'latency_ms'")" -eq "$nshapes"
done
check "bits of own int4" test "$(q "select distinct bits from config where method = 'own-int4'")" = "W4A8"
check "dataset is the shape" test "$(q "select count(*) from config where dataset = '256x96x32'")" -gt 0
check "isa of own kernels recorded" test "$(q "select count(*) from config where method = 'own-fp32' and isa is null")" -eq 0
check "machine fingerprint and build recorded" test "$(q "select count(*) from run r join machine m on m.id = r.machine_id join build b on b.id = r.build_id where length(m.fingerprint) = 16")" -eq 1

# only own kernels (what a build without the libraries measures), 1 thread,
# into the same history: a second run
"$risq" bench kernels --shapes tiny --reps 1 --warmup 1 --min-ms 0 --threads 1 \
  --impl own-fp32,own-int8 --db "$db" >"$tmp/out" 2>&1; rc=$?
check "--impl own-fp32,own-int8 exits 0" test $rc -eq 0
check "...and its table has only those columns" grep -Eq "^# +shape MxNxK +calls +own-fp32 +own-int8 +i8/f32 +layers$" "$tmp/out"
check "...stored as a second run" test "$(q "select count(*) from config where run_id = 2")" -eq $((2 * nshapes))

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
