#!/usr/bin/env bash
# Long fuzz runs (issue 11: up to 10 M executions per target), one target at a time,
# niced, each with its own time cap; prints a table of what each run did.
#
#   tests/fuzz/long.sh BIN_DIR OUT_DIR [target ...]
#   e.g. make fuzz && tests/fuzz/long.sh build-fuzz/bin build-fuzz/long
#
# BIN_DIR holds the fuzz_* binaries (make fuzz builds them in build-fuzz/bin). OUT_DIR
# keeps, per target, the corpus the run grows (<target>.corpus/, reused by the next run:
# keep it outside the source tree or under build-*/, which git ignores), the log and any
# crash reproducer (art/). The committed seeds in tests/fuzz/corpus/<target>/ are read,
# never written. Targets default to every fuzz_* binary in BIN_DIR, in the order given
# (or alphabetical).
#
# Env:
#   FUZZ_RUNS        executions per target (default 10000000)
#   FUZZ_MAX         seconds per target at most (default 600)
#   FUZZ_MAX_<name>  seconds for one target, e.g. FUZZ_MAX_fuzz_intro=120
#   FUZZ_SEEDS       more read-only corpus folders, each holding <target>.corpus/
#                    (space-separated; e.g. the OUT_DIR of an earlier run elsewhere)
#   FUZZ_FLAGS       more libFuzzer flags (default below)
#   FUZZ_NICE        niceness (default 19)
#
# The default FUZZ_FLAGS keep libFuzzer's entropic scheduling but its rare-feature list
# short (-entropic_feature_frequency_threshold=1): with the default (255) the list grows
# to every feature seen, and on the targets that drive a whole core (thousands of
# features per input) keeping it cost 35-50 % of the run (perf: UpdateFeatureFrequency);
# with it short they run 1.2-1.6x faster and reach as much coverage (see README.md).
#
# Exit status: 0 when every run ended without a finding, 1 otherwise (the table names
# the reproducers), 2 on a usage error.
set -u

BIN_DIR=${1:?usage: $0 BIN_DIR OUT_DIR [target ...]}
OUT=${2:?usage: $0 BIN_DIR OUT_DIR [target ...]}
shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${FUZZ_RUNS:-10000000}
MAX=${FUZZ_MAX:-600}
FLAGS=${FUZZ_FLAGS:--entropic_feature_frequency_threshold=1}
NICE=${FUZZ_NICE:-19}
mkdir -p "$OUT/art" || exit 2

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for b in "$BIN_DIR"/fuzz_*; do [ -x "$b" ] && targets+=("$(basename "$b")"); done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "long.sh: no fuzz_* binaries in $BIN_DIR (make fuzz builds them)" >&2
  exit 2
fi

# Findings must stop the run (and leave a reproducer), not just print.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

summary=$OUT/summary.txt
failed=0
header=$(printf '%-16s %11s %7s %7s %9s %11s %13s %13s %7s  %s' target executions seconds \
  'cpu s' execs/s 'execs/cpu s' 'cov start>end' 'ft start>end' corpus result)
echo "$header"
echo "# $(date -u '+%F %T') UTC  runs=$RUNS max=$MAX flags=$FLAGS" >>"$summary"
echo "$header" >>"$summary"
for name in "${targets[@]}"; do
  bin=$BIN_DIR/$name
  [ -x "$bin" ] || { echo "long.sh: no $bin" >&2; failed=1; continue; }
  var=FUZZ_MAX_$name
  secs=${!var:-$MAX}
  corpus=$OUT/$name.corpus
  log=$OUT/$name.log
  mkdir -p "$corpus"
  seeds=()
  [ -d "$ROOT/tests/fuzz/corpus/$name" ] && seeds+=("$ROOT/tests/fuzz/corpus/$name")
  for s in ${FUZZ_SEEDS:-}; do [ -d "$s/$name.corpus" ] && seeds+=("$s/$name.corpus"); done
  start=$(date +%s)
  # shellcheck disable=SC2086 # FLAGS is a list of flags
  timer=() # GNU time, when present, for the CPU seconds the run got (the machine is shared)
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -o "$OUT/$name.cpu" -f '%U %S')
  rm -f "$OUT/$name.cpu"
  "${timer[@]}" nice -n "$NICE" "$bin" $FLAGS -runs="$RUNS" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
    -artifact_prefix="$OUT/art/$name-" "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cpu=$(awk '{printf "%.0f", $1 + $2}' "$OUT/$name.cpu" 2>/dev/null)
  epc=$(awk -v r="${runs:-0}" -v c="${cpu:-0}" 'BEGIN { if (c > 0) printf "%d", r / c; else print "-" }')
  cov0=$(grep -m1 'INITED' "$log" | grep -o 'cov: [0-9]*' | cut -d' ' -f2)
  ft0=$(grep -m1 'INITED' "$log" | grep -o 'ft: [0-9]*' | cut -d' ' -f2)
  cov1=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft1=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  files=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FINDING (exit $rc): $(ls "$OUT/art/$name-"* 2>/dev/null | head -1)"
    failed=1
  fi
  line=$(printf '%-16s %11s %7s %7s %9s %11s %13s %13s %7s  %s' "$name" "${runs:--}" "$took" \
    "${cpu:--}" "${eps:--}" "$epc" "${cov0:--}>${cov1:--}" "${ft0:--}>${ft1:--}" "$files" \
    "$result")
  echo "$line"
  echo "$line" >>"$summary"
  if [ $rc -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|fuzz_[a-z]+:|Test unit written' "$log" | head -20
  fi
done
exit $failed
