#!/usr/bin/env bash
# Run every benchmark and print its figures:  bash bench/run.sh BIN_DIR
#
#   bench_core                      protocol engine alone, no sockets
#   bench_xpacket                   one datagram's AEAD: DATA seal vs extended packet
#                                   seal/open, ChaCha20-Poly1305 and AES-256-GCM
#   bench_xport                     the extended session's delivery engine alone, virtual
#                                   time, 240 MB at 0, 1 and 10 % loss (no AEAD, no sockets)
#   bench_origin                    a signed origin's Ed25519 sign and check per message
#   bench_loopback                  throughput 100 B x 1,000,000 and 1000 B x 300,000,
#                                   latency 5000 round trips, handshake 20 fresh pairs
#   bench_poll                      100 000 x 100 B between two swarms in one thread:
#                                   the program's own poll() loop beside libuv
#   bench/xport_bench.py --quick    every figure of issue 10 (one-way 100 B, 1000 B,
#                                   bulk, round trip), raw UDP beside the API and
#                                   setowire-cat, plain and extended transport, at 0, 1
#                                   and 10 % loss (the loss rows need root: namespaces)
#   bench/ref_bench.py --quick      the same measurements on the reference
#                                   implementations, side by side (if they are there)
#
# Exit 0 whatever the timings; non-zero only if a benchmark could not run at all
# (missing binary, crash, non-zero exit, or over its time limit).  Each step runs under
# `timeout`, which signals the step's whole process group, so bench_loopback's forked
# receiver goes too.
set -u
BIN=${1:?usage: bash bench/run.sh BIN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
failed=0

step() {   # step LIMIT_SECONDS COMMAND...
  local limit=$1; shift
  echo "== $*"
  timeout -k 5 "$limit" "$@"
  local rc=$?
  if [ $rc -ne 0 ]; then
    [ $rc -eq 124 ] && echo "!! over ${limit} s, stopped" || echo "!! exit status $rc"
    failed=1
  fi
  echo
}

step 300 "$BIN/bench_core"
step 120 "$BIN/bench_xpacket"
step 120 "$BIN/bench_xport"
step 60 "$BIN/bench_origin"
step 300 "$BIN/bench_loopback" throughput 1000000 100
step 300 "$BIN/bench_loopback" throughput 300000 1000
step 300 "$BIN/bench_loopback" latency 5000
step 120 "$BIN/bench_poll" 100000 100
step 300 "$BIN/bench_loopback" handshake 20
step 300 "$BIN/bench_loopback" --extended throughput 1000000 100
step 300 "$BIN/bench_loopback" --extended latency 5000
step 900 python3 "$HERE/xport_bench.py" --bin "$BIN" --quick
step 600 python3 "$HERE/ref_bench.py" --bin "$BIN" --quick

[ $failed -eq 0 ] || echo "bench/run.sh: at least one benchmark could not run (see !! above)"
exit $failed
