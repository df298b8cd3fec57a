#!/usr/bin/env bash
# End-to-end checks of the risq CLI.
#   1. help and error exits (no model needed);
#   2. the harness with a model of random weights (written by fake_model, so
#      these run without the trained lavt-tiny): isolation (crash, non-zero
#      exit, timeout), counter tiers, kill -9 in the middle, two concurrent
#      `risq run`s on one history, `risq merge`, the progress line;
#   3. the bundled, trained lavt-tiny (models/zoo/lavt-tiny/weights.safetensors):
#      a tiny suite end to end and kill -9 again with the real model. These
#      FAIL, with a message, while the weights are missing.
# usage: test_cli_run.sh RISQ FAKE_MODEL
set -u
risq=$1
fake_model=${2:-}
tmp=$(mktemp -d /tmp/risq-test-cli-XXXXXX)
bgpids=()
cleanup() {
  for p in "${bgpids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail=0 pass=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; pass=$((pass + 1)); else echo "FAIL $what"; fail=$((fail + 1)); fi
}
q() { sqlite3 "$1" "$2"; }   # q DB SQL

# ---------------------------------------------------------------- 1. CLI ---
"$risq" --help >"$tmp/out" 2>&1; check "--help exits 0" test $? -eq 0
check "--help lists run" grep -q "run \[SUITE\]" "$tmp/out"
check "--help lists merge" grep -q "merge OTHER" "$tmp/out"
"$risq" run --help >"$tmp/out" 2>&1; check "run --help exits 0" test $? -eq 0
check "run --help documents --counters and --timeout" grep -q -- "--counters T" "$tmp/out"
"$risq" merge --help >"$tmp/out" 2>&1; check "merge --help exits 0" test $? -eq 0
check "merge --help explains idempotence" grep -q "adds nothing" "$tmp/out"
"$risq" merge --db "$tmp/m.sqlite" >/dev/null 2>&1; check "merge without files exits 2" test $? -eq 2
"$risq" frobnicate >/dev/null 2>&1; check "unknown command exits 2" test $? -eq 2
"$risq" run "$tmp/none.yaml" --db "$tmp/h.sqlite" 2>"$tmp/err"; check "missing suite exits 2" test $? -eq 2
check "missing suite is named" grep -q "none.yaml: cannot open suite" "$tmp/err"
printf 'suite: bad\nmodels: [lavt-tiny]\ndatasets: [{synth: {seed: 1}}]\nwarmpu: 1\n' >"$tmp/bad.yaml"
"$risq" run "$tmp/bad.yaml" --db "$tmp/h.sqlite" 2>"$tmp/err"; check "bad suite exits 2" test $? -eq 2
check "bad suite error has file:line:col" grep -q "bad.yaml:4:1: unknown key 'warmpu'" "$tmp/err"
"$risq" run "$tmp/bad.yaml" --counters cycles 2>"$tmp/err"; check "bad --counters exits 2" test $? -eq 2
check "bad --counters lists the tiers" grep -q "auto, hardware, software, timer" "$tmp/err"
"$risq" run "$tmp/bad.yaml" --timeout 0 2>"$tmp/err"; check "bad --timeout exits 2" test $? -eq 2

# ------------------------------------------------------- 2. fake model ---
zoo=$tmp/zoo
mkdir -p "$zoo"
if [ -z "$fake_model" ] || ! "$fake_model" models/zoo/lavt-tiny "$zoo/lavt-tiny" 2>"$tmp/err"; then
  echo "FAIL cannot write the fake model: $(cat "$tmp/err" 2>/dev/null)"
  fail=$((fail + 1))
fi

# suite NAME REPETITIONS [EXTRA YAML]: two configurations (threads 1, 2)
suite() {
  printf 'suite: %s\nmodels: [lavt-tiny]\ndatasets: [{synth: {seed: 7, count: 3}}]\n' "$1" >"$tmp/$1.yaml"
  printf 'targets: [{isa: auto, threads: [1, 2]}]\nwarmup: 1\nrepetitions: %s\n%s' "$2" "${3:-}" >>"$tmp/$1.yaml"
}

# 2a. crash, non-zero exit and timeout are stored, the suite goes on
suite iso 3
db=$tmp/iso.sqlite
RISQ_TEST_CRASH=0 "$risq" run "$tmp/iso.yaml" --db "$db" --zoo "$zoo" -q >"$tmp/out" 2>"$tmp/err"
rc=$?
check "crashing configuration: exit status 1" test $rc -eq 1
check "crash stored as failed with its signal" test "$(q "$db" "select status||'|'||exit_reason||'|'||error from config where id=1")" = "failed|signal|killed by signal 11 (SIGSEGV)"
check "crash: the next configuration still ran ok" test "$(q "$db" "select status from config where id=2")" = ok
check "crash: reason printed" grep -q "killed by signal 11 (SIGSEGV)" "$tmp/err"
check "crash: run marked failed" test "$(q "$db" "select status from run where id=1")" = failed
check "crash: failed config has no metrics" test "$(q "$db" "select count(*) from metric where config_id=1")" = 0

RISQ_TEST_EXIT=1 "$risq" run "$tmp/iso.yaml" --db "$db" --zoo "$zoo" -q >/dev/null 2>&1
check "non-zero exit: exit status 1" test $? -eq 1
check "non-zero exit stored with its reason" test "$(q "$db" "select exit_reason||'|'||error from config where run_id=2 and threads=2")" = "exit|the child exited with status 3 without a result"

# 2b. a clean run: every metric, NULL for what the tier cannot count
ts0=$(date +%s)
"$risq" run "$tmp/iso.yaml" --db "$db" --zoo "$zoo" --board test-board >"$tmp/out" 2>"$tmp/err"
rc=$?
lim=$(( $(date +%s) - ts0 + 2 ))   # seconds: enough for the accuracy job
cat "$tmp/out"
check "clean run exits 0" test $rc -eq 0
run=$(q "$db" "select max(id) from run")
best=$(q "$db" "select distinct counter_source from config where run_id=$run")
echo "     best counter tier here: $best"
check "counter source recorded" grep -qx "hardware\|software\|timer" <<<"$best"
for m in miou oiou 'prec@0.5' 'prec@0.9' expressions latency_ms latency_p90_ms latency_min_ms latency_mad_ms \
         cycles instructions cache_misses task_clock_ms context_switches page_faults peak_rss_kb rss_kb weight_bytes arena_bytes; do
  n=$(q "$db" "select count(*) from metric m join config c on c.id=m.config_id where c.run_id=$run and m.name='$m'")
  [ "$n" = 2 ] || { echo "     metric $m: $n rows"; break; }
done
check "every metric stored for both configurations" test "$n" = 2
check "peak RSS, RSS, weight and arena bytes measured" test "$(q "$db" "select count(*) from metric m join config c on c.id=m.config_id where c.run_id=$run and m.name in ('peak_rss_kb','rss_kb','weight_bytes','arena_bytes') and m.value > 0")" = 8
# (not <= exactly: the kernel updates the peak lazily and keeps per-thread
# RSS counts, and ASan returns memory with madvise, which skips the peak)
check "RSS during the passes within the peak RSS (+5%)" test "$(q "$db" "select count(*) from metric a join metric b on a.config_id=b.config_id join config c on c.id=a.config_id where c.run_id=$run and a.name='rss_kb' and b.name='peak_rss_kb' and a.value <= 1.05 * b.value")" = 2
check "page faults measured" test "$(q "$db" "select count(*) from metric m join config c on c.id=m.config_id where c.run_id=$run and m.name = 'page_faults' and m.value >= 0")" = 2
check "run.board from --board" test "$(q "$db" "select board from run where id=$run")" = test-board
check "run.suite_text is the suite file" test "$(q "$db" "select suite_text from run where id=$run")" = "$(cat "$tmp/iso.yaml")"
check "config.timeout_s recorded (default 600)" test "$(q "$db" "select distinct timeout_s from config where run_id=$run")" = 600.0
check "latency samples stored" test "$(q "$db" "select count(*) from sample s join config c on c.id=s.config_id where c.run_id=$run and s.name='latency_ms'")" = 6
# each expression's IoU (what `risq report` pairs methods on): one sample per
# expression, in order, whose mean is the stored mIoU; kept once per
# accuracy pass, with the first of its configurations (threads 1 and 2 here)
check "per-expression IoU: one sample per expression, mean = miou" test "$(q "$db" "select count(*) from config c join metric e on e.config_id=c.id and e.name='expressions' join metric m on m.config_id=c.id and m.name='miou' where c.run_id=$run and e.value > 0 and (select count(*) from sample s where s.config_id=c.id and s.name='iou') = e.value and (select max(idx) from sample s where s.config_id=c.id and s.name='iou') = e.value - 1 and abs((select 100 * avg(value) from sample s where s.config_id=c.id and s.name='iou') - m.value) < 1e-9")" = 1
check "per-expression IoU: kept once, with the first configuration" test "$(q "$db" "select group_concat(threads) from config c where c.run_id=$run and exists (select 1 from sample s where s.config_id=c.id and s.name='iou')")" = 1

# 2b'. isa targets: auto is stored under the variant it picked, scalar as
# scalar, and an isa this build cannot run fails its configuration only
other=neon; [ "$(uname -m)" = aarch64 ] && other=avx2
printf 'suite: isa\nmodels: [lavt-tiny]\ndatasets: [{synth: {seed: 7, count: 3}}]\n' >"$tmp/isa.yaml"
printf 'targets: [{isa: auto}, {isa: scalar}, {isa: %s}]\nwarmup: 0\nrepetitions: 1\n' "$other" >>"$tmp/isa.yaml"
"$risq" run "$tmp/isa.yaml" --db "$tmp/isa.sqlite" --zoo "$zoo" -q >/dev/null 2>"$tmp/err"
rc=$?
check "isa: a target this build cannot run makes the run fail (exit 1)" test $rc -eq 1
check "isa: auto stored under a real variant name" grep -qx "scalar\|avx2\|avx512vnni\|neon\|neon-dotprod" <<<"$(q "$tmp/isa.sqlite" "select isa from config where id=1")"
check "isa: scalar ok" test "$(q "$tmp/isa.sqlite" "select isa||'|'||status from config where id=2")" = "scalar|ok"
check "isa: $other failed with the reason" grep -q "^$other|failed|isa $other: not compiled into this build" <<<"$(q "$tmp/isa.sqlite" "select isa||'|'||status||'|'||error from config where id=3")"

# 2a'. timeout. The limit covers the pair's accuracy job too, so it is set
# from the clean run's wall time (sanitizer builds are ~20x slower).
suite slow 3 "timeout: $lim
"
t0=$(date +%s)
RISQ_TEST_SLEEP=0 "$risq" run "$tmp/slow.yaml" --db "$db" --zoo "$zoo" -q >/dev/null 2>&1
rc=$?
t1=$(date +%s)
r=$(q "$db" "select max(id) from run")
check "hanging configuration: exit status 1" test $rc -eq 1
check "hang stored as timed out (suite timeout: $lim)" test "$(q "$db" "select status||'|'||exit_reason||'|'||error||'|'||timeout_s from config where run_id=$r and threads=1")" = "failed|timeout|timed out after $lim s|$lim.0"
check "timeout: the next configuration still ran ok" test "$(q "$db" "select status from config where run_id=$r and threads=2")" = ok
check "timeout: killed promptly ($((t1 - t0)) s <= 3 x $lim s)" test $((t1 - t0)) -le $((3 * lim))
RISQ_TEST_SLEEP=1 "$risq" run "$tmp/iso.yaml" --db "$db" --zoo "$zoo" -q --timeout "$lim.5" >/dev/null 2>&1
r=$(q "$db" "select max(id) from run")
check "--timeout overrides the suite" test "$(q "$db" "select error from config where run_id=$r and threads=2")" = "timed out after $lim.5 s"

# 2c. counter tiers: timer always works; a better tier than the probe's is an error
rank() { case $1 in hardware) echo 2;; software) echo 1;; *) echo 0;; esac; }
for tier in timer software hardware; do
  "$risq" run "$tmp/iso.yaml" --db "$db" --zoo "$zoo" -q --counters $tier >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ "$(rank $tier)" -le "$(rank "$best")" ]; then
    r=$(q "$db" "select max(id) from run")
    check "--counters $tier: runs (exit $rc)" test $rc -eq 0
    check "--counters $tier: counter_source = $tier" test "$(q "$db" "select group_concat(distinct counter_source) from config where run_id=$r")" = $tier
    nulls=$(q "$db" "select count(*) from metric m join config c on c.id=m.config_id where c.run_id=$r and m.name in ('cycles','instructions') and m.value is null")
    tc=$(q "$db" "select count(*) from metric m join config c on c.id=m.config_id where c.run_id=$r and m.name='task_clock_ms' and m.value > 0")
    case $tier in
      timer) check "timer: cycles, instructions, task_clock NULL" test "$nulls/$tc" = 4/0
             check "timer: only latency samples (and IoUs)" test "$(q "$db" "select group_concat(distinct s.name) from sample s join config c on c.id=s.config_id where c.run_id=$r and s.name != 'iou'")" = latency_ms ;;
      software) check "software: task_clock_ms measured, cycles NULL" test "$nulls/$tc" = 4/2
             check "software: per-repetition task_clock samples" test "$(q "$db" "select count(*) from sample s join config c on c.id=s.config_id where c.run_id=$r and s.name='task_clock_ms'")" = 6 ;;
      hardware) check "hardware: cycles and instructions measured" test "$nulls" = 0 ;;
    esac
  else
    check "--counters $tier unavailable: exit 2" test $rc -eq 2
    check "--counters $tier unavailable: says which tier is available" grep -q "not available on this machine.*best available tier is '$best'" "$tmp/err"
  fi
done

# 2d. kill -9 in the middle: the history stays intact, finished configs complete
# kill9 ZOO LABEL
kill9() {
  local kz=$1 label=$2 kdb=$tmp/kill-$2.sqlite
  printf 'suite: kill\nmodels: [lavt-tiny]\ndatasets: [{synth: {seed: 7, count: 2}}]\n' >"$tmp/kill.yaml"
  printf 'targets: [{isa: auto, threads: [1, 2]}, {isa: scalar, threads: [1, 2]}]\nwarmup: 1\nrepetitions: 20\n' >>"$tmp/kill.yaml"
  "$risq" run "$tmp/kill.yaml" --db "$kdb" --zoo "$kz" -q >"$tmp/kill.out" 2>&1 &
  local pid=$! n=0 child
  bgpids+=("$pid")
  for _ in $(seq 1800); do
    n=$(sqlite3 "$kdb" "select count(*) from config" 2>/dev/null)
    [ "${n:-0}" -ge 1 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  child=$(ps --ppid "$pid" -o pid= | tr -d ' ')
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  local rc=$?
  check "$label kill -9: risq was killed in the middle ($n config(s) stored, exit $rc)" test "$rc" -eq 137 -a "${n:-0}" -ge 1 -a "${n:-0}" -lt 4
  check "$label kill -9: integrity_check ok" test "$(q "$kdb" "pragma integrity_check")" = ok
  local stored done_rows
  stored=$(q "$kdb" "select count(*) from config")
  done_rows=$(grep -c " ok$" "$tmp/kill.out")
  check "$label kill -9: every printed configuration is stored ($done_rows printed, $stored stored)" test "$stored" -ge "$done_rows" -a "$stored" -ge 1
  check "$label kill -9: stored configurations are complete" test "$(q "$kdb" "select count(*) from config c where status='ok' and (select count(*) from sample s where s.config_id=c.id and s.name='latency_ms') = 20 and (select count(*) from metric m where m.config_id=c.id and m.name='miou') = 1")" = "$stored"
  check "$label kill -9: run left 'running' without finished_at" test "$(q "$kdb" "select status||'|'||ifnull(finished_at,'-') from run")" = "running|-"
  local gone=0
  for _ in $(seq 50); do
    if [ -z "$child" ] || ! ps -p "$child" -o stat= 2>/dev/null | grep -qv Z; then gone=1; break; fi
    sleep 0.1
  done
  check "$label kill -9: the configuration's child died too" test $gone -eq 1
  "$risq" run "$tmp/iso.yaml" --db "$kdb" --zoo "$kz" -q >/dev/null 2>&1
  check "$label kill -9: the history takes a new run afterwards" test "$(q "$kdb" "select count(*) from run where status='ok'")" = 1
}
kill9 "$zoo" "fake model:"

# 2d'. Ctrl-C (SIGINT) and SIGTERM: the child is killed, the run is 'interrupted', exit 1
for sig in INT TERM; do
  idb=$tmp/int-$sig.sqlite
  "$risq" run "$tmp/kill.yaml" --db "$idb" --zoo "$zoo" -q >/dev/null 2>"$tmp/int.err" &
  pid=$!
  bgpids+=("$pid")
  for _ in $(seq 1800); do
    n=$(sqlite3 "$idb" "select count(*) from config" 2>/dev/null)
    [ "${n:-0}" -ge 1 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  child=$(ps --ppid "$pid" -o pid= | tr -d ' ')
  kill -$sig "$pid"
  wait "$pid"
  rc=$?
  check "SIG$sig: exit status 1" test $rc -eq 1
  check "SIG$sig: run marked interrupted with finished_at" test "$(q "$idb" "select status||'|'||(finished_at is not null) from run")" = "interrupted|1"
  check "SIG$sig: finished configurations kept, the one in flight not stored" test "$(q "$idb" "select count(*) from config where status='ok'")" -ge 1 -a "$(q "$idb" "select count(*) from config where status='failed'")" = 0
  check "SIG$sig: says so" grep -q "interrupted" "$tmp/int.err"
  check "SIG$sig: no child left" test -z "$child" -o -z "$(ps -p "${child:-1}" -o stat= 2>/dev/null | grep -v Z)"
done

# 2e. two risq runs writing one history at the same time lose nothing.
# Both start on a new file, so both create the schema and switch it to WAL
# (SQLite answers SQLITE_BUSY there without waiting): four tries, stopping
# at the first failure; the last file is checked.
suite conc 5
for try in 1 2 3 4; do
  cdb=$tmp/conc$try.sqlite
  "$risq" run "$tmp/conc.yaml" --db "$cdb" --zoo "$zoo" -q >/dev/null 2>"$tmp/err1" &
  p1=$!
  "$risq" run "$tmp/conc.yaml" --db "$cdb" --zoo "$zoo" -q >/dev/null 2>"$tmp/err2" &
  p2=$!
  wait $p1; r1=$?
  wait $p2; r2=$?
  [ $r1 -eq 0 -a $r2 -eq 0 ] || break
done
check "two concurrent runs both exit 0 ($r1, $r2)" test $r1 -eq 0 -a $r2 -eq 0
[ $r1 -eq 0 -a $r2 -eq 0 ] || cat "$tmp/err1" "$tmp/err2"
check "two concurrent runs: 2 runs ok, 4 configurations" test "$(q "$cdb" "select count(*) from run where status='ok'")/$(q "$cdb" "select count(*) from config where status='ok'")" = 2/4
check "two concurrent runs: every sample stored" test "$(q "$cdb" "select count(*) from sample where name='latency_ms'")" = 20

# 2f. risq merge
mdb=$tmp/merged.sqlite
"$risq" run "$tmp/iso.yaml" --db "$mdb" --zoo "$zoo" -q >/dev/null 2>&1
"$risq" merge --db "$mdb" "$cdb" "$db" >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
nruns=$(( $(q "$cdb" "select count(*) from run") + $(q "$db" "select count(*) from run") + 1 ))
ncfg=$(( $(q "$cdb" "select count(*) from config") + $(q "$db" "select count(*) from config") + 2 ))
nsmp=$(( $(q "$cdb" "select count(*) from sample") + $(q "$db" "select count(*) from sample") + $(q "$mdb" "select count(*) from sample s join config c on c.id=s.config_id where c.run_id=1") ))
check "merge exits 0" test $rc -eq 0
check "merge brings every run and configuration" test "$(q "$mdb" "select count(*) from run")/$(q "$mdb" "select count(*) from config")" = "$nruns/$ncfg"
check "merge brings every sample" test "$(q "$mdb" "select count(*) from sample")" = "$nsmp"
"$risq" merge --db "$mdb" "$cdb" "$db" >"$tmp/out" 2>&1
check "merging again exits 0" test $? -eq 0
check "merging again adds nothing" test "$(q "$mdb" "select count(*) from run")/$(q "$mdb" "select count(*) from config")/$(q "$mdb" "select count(*) from sample")" = "$nruns/$ncfg/$nsmp"
check "merging again says so" grep -q "0 run(s) added with 0 configuration(s), 2 already present" "$tmp/out"
check "merged history is intact" test "$(q "$mdb" "pragma integrity_check")" = ok
echo "not a database" >"$tmp/junk.sqlite"
"$risq" merge --db "$mdb" "$tmp/junk.sqlite" 2>"$tmp/err"
check "merging a non-risq file exits 2 with a message" test $? -eq 2 -a -n "$(grep "not a SQLite database" "$tmp/err")"
cp "$cdb" "$tmp/newer.sqlite"; rm -f "$tmp/newer.sqlite-wal" "$tmp/newer.sqlite-shm"
sqlite3 "$tmp/newer.sqlite" "pragma user_version = 99"
"$risq" merge --db "$mdb" "$tmp/newer.sqlite" 2>"$tmp/err"
check "merging a newer history exits 2 with a message" test $? -eq 2 -a -n "$(grep "newer than this risq" "$tmp/err")"
"$risq" run "$tmp/iso.yaml" --db "$tmp/newer.sqlite" --zoo "$zoo" -q 2>"$tmp/err" >/dev/null
check "risq run refuses a newer history" test $? -eq 2 -a -n "$(grep "schema version 99 is newer" "$tmp/err")"

# 2g. progress line: on a terminal only, and not with --quiet
if command -v script >/dev/null; then
  script -qec "'$risq' run '$tmp/iso.yaml' --db '$tmp/p.sqlite' --zoo '$zoo' >/dev/null" /dev/null >"$tmp/tty" 2>&1
  check "progress line on a terminal" grep -q "\[1/2\] lavt-tiny .*ETA" "$tmp/tty"
  script -qec "'$risq' run '$tmp/iso.yaml' --db '$tmp/p.sqlite' --zoo '$zoo' --quiet >/dev/null" /dev/null >"$tmp/tty" 2>&1
  check "no progress line with --quiet" test -z "$(grep "ETA" "$tmp/tty")"
fi
"$risq" run "$tmp/iso.yaml" --db "$tmp/p.sqlite" --zoo "$zoo" >/dev/null 2>"$tmp/err"
check "no progress line when stderr is not a terminal" test -z "$(grep "ETA" "$tmp/err")"

# 2h. a speed-only model (weights: {random: ...}, as lavt-b-shapes): no
# accuracy jobs, accuracy stored as NULL, calibration and speed passes run
mkdir -p "$zoo/rnd"
cp "$zoo/lavt-tiny/vocab.txt" "$zoo/rnd/"
sed 's/^weights:.*/weights: {random: {seed: 3}}/' "$zoo/lavt-tiny/model.yaml" >"$zoo/rnd/model.yaml"
printf 'suite: rnd\nmodels: [rnd]\ndatasets: [{synth: {seed: 7, count: 3}}]\nmethods: [fp32, ptq4ris]\n' >"$tmp/rnd.yaml"
printf 'bits: [W8A8]\ncalibration: {samples: 2}\nwarmup: 0\nrepetitions: 2\n' >>"$tmp/rnd.yaml"
sdb=$tmp/rnd.sqlite
"$risq" run "$tmp/rnd.yaml" --db "$sdb" --zoo "$zoo" >"$tmp/out" 2>&1
check "speed-only model: run exits 0" test $? -eq 0
check "speed-only model: the note says why accuracy is missing" grep -q "rnd has random weights (speed-only model)" "$tmp/out"
check "speed-only model: rows say ok (speed only)" test "$(grep -c "ok (speed only)$" "$tmp/out")" -eq 2
check "speed-only model: accuracy metrics are NULL, never 0" test "$(q "$sdb" "select count(*) from metric where name in ('miou', 'oiou', 'prec@0.5', 'expressions', 'fp_agreement', 'logit_sqnr_db') and value is null")/$(q "$sdb" "select count(*) from metric where name in ('miou', 'oiou', 'prec@0.5', 'expressions', 'fp_agreement', 'logit_sqnr_db') and value is not null")" = "10/0"
check "speed-only model: no per-expression IoU samples" test "$(q "$sdb" "select count(*) from sample where name = 'iou'")" = 0
check "speed-only model: latency and calib_s measured" test "$(q "$sdb" "select count(*) from metric where (name = 'latency_ms' or name = 'calib_s') and value > 0")" -eq 3

# ------------------------------------------------- 3. the trained model ---
weights=models/zoo/lavt-tiny/weights.safetensors
if [ ! -f "$weights" ]; then
  echo "FAIL trained-model checks: $weights is missing (train and export it: tools/README.md)"
  fail=$((fail + 1))
else
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
  h=$tmp/h.sqlite
  check "two configurations stored ok" test "$(q "$h" "select count(*) from config where status='ok'")" = 2
  check "v_results has miou for both" test "$(q "$h" "select count(*) from v_results where metric='miou' and value between 0 and 100")" = 2
  check "raw samples stored" test "$(q "$h" "select count(*) from sample where name='latency_ms'")" = 6
  check "counter source recorded" test "$(q "$h" "select distinct counter_source from config")" = "$best"
  check "run finished ok" test "$(q "$h" "select status from run")" = ok
  check "dataset hash recorded" test -n "$(q "$h" "select dataset_hash from config limit 1")"
  kill9 models/zoo "trained model:"

  # integer execution: the accuracy job also runs the simulated pass and
  # stores how well the two agree
  cat >"$tmp/int.yaml" <<YAML
suite: int
models: [lavt-tiny]
datasets: [{synth: {seed: 7, count: 2}}]
methods: [int:ptq4ris]
bits: [W8A8]
calibration: {split: train, samples: 2}
warmup: 0
repetitions: 1
YAML
  "$risq" run "$tmp/int.yaml" --db "$tmp/int.sqlite" --zoo models/zoo -q >"$tmp/out" 2>&1
  rc=$?
  check "int:ptq4ris run exits 0" test $rc -eq 0
  check "int:ptq4ris: one IoU sample per expression" test "$(q "$tmp/int.sqlite" "select count(*) from sample where name='iou'")" = "$(q "$tmp/int.sqlite" "select cast(value as int) from v_results where metric='expressions'")"
  v() { q "$tmp/int.sqlite" "select value from v_results where method='int:ptq4ris' and metric='$1'"; }
  check "int:ptq4ris: sim_agreement >= 99.9 % ($(v sim_agreement))" awk -v a="$(v sim_agreement)" 'BEGIN { exit !(a >= 99.9 && a <= 100) }'
  # few expressions here, so one pixel moves mIoU by ~0.04: a loose bound (the
  # 0.05 target is checked on 838 expressions by suites/bitwidths.yaml)
  check "int:ptq4ris: miou within 0.5 of sim_miou ($(v miou) vs $(v sim_miou))" \
    awk -v a="$(v miou)" -v b="$(v sim_miou)" 'BEGIN { d = a - b; exit !(a != "" && b != "" && d <= 0.5 && d >= -0.5) }'
fi

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
