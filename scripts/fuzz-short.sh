#!/usr/bin/env bash
# Run every libFuzzer target in BIN_DIR for a bounded time with its seed corpus.
#
#   scripts/fuzz-short.sh BIN_DIR          (make fuzz calls it with build-fuzz/bin)
#   FUZZ_SECONDS=300 scripts/fuzz-short.sh build-fuzz/bin
#
# Env: FUZZ_SECONDS per target (default 20), FUZZ_ARTIFACTS where crash reproducers go
# (default: a fresh temporary folder, printed on failure). The committed corpus in
# tests/fuzz/corpus/<target>/ is read, never written: new inputs land in a scratch
# folder that is deleted afterwards. Exits non-zero if any target crashes, leaks,
# times out or reports undefined behaviour; prints execs/s and coverage per target.
set -u

BIN_DIR=${1:?usage: $0 BIN_DIR}
SECONDS_EACH=${FUZZ_SECONDS:-20}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS_ROOT=$ROOT/tests/fuzz/corpus
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sw-fuzz.XXXXXX")
ARTIFACTS=${FUZZ_ARTIFACTS:-$WORK/artifacts}
mkdir -p "$ARTIFACTS"

shopt -s nullglob
targets=("$BIN_DIR"/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz-short: no fuzz_* binaries in $BIN_DIR (configure with -DSW_FUZZ=ON)" >&2
  rm -rf "$WORK"
  exit 2
fi

# UBSan findings must fail the run, not just print; leaks are checked per input.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}

failed=0
printf '%-16s %10s %10s %8s %8s  %s\n' target runs execs/s cov ft result
for bin in "${targets[@]}"; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  scratch=$WORK/$name
  log=$WORK/$name.log
  mkdir -p "$scratch"
  seeds=()
  [ -d "$CORPUS_ROOT/$name" ] && seeds=("$CORPUS_ROOT/$name")
  # The entropic threshold caps libFuzzer's rare-feature list at 100 entries: at its
  # default the list grows to every feature the big targets hit and its upkeep took
  # 35-50 % of their time (tests/fuzz/README.md); long.sh uses the same flag.
  "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -entropic_feature_frequency_threshold=1 -max_len=16384 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$name-" \
    "$scratch" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed=1
  fi
  printf '%-16s %10s %10s %8s %8s  %s\n' "$name" "${runs:--}" "${eps:--}" "${cov:--}" \
    "${ft:--}" "$result"
  if [ $rc -ne 0 ]; then
    echo "---- $name: last lines of the log ($log) ----"
    grep -E 'ERROR|SUMMARY|runtime error|fuzz_[a-z]+:|Test unit written|^    #' "$log" | head -40
    echo "---- reproduce: $bin $ARTIFACTS/$name-<crash file>"
  fi
done

if [ $failed -ne 0 ]; then
  echo "fuzz-short: failures; logs and artifacts kept in $WORK" >&2
  exit 1
fi
rm -rf "$WORK"
exit 0
