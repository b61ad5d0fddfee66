#!/usr/bin/env python3
"""Every figure of issue 10 in one run, each beside the raw-UDP ceiling measured in the
same run (figures, never a pass or fail):

    python3 bench/xport_bench.py --bin build/bin [--quick] [--loss 0,0.01,0.1]
        [--congestion bbr|newreno] [--extended-only] [--div N]

For each loss rate (0 on the host's loopback; above 0 inside a network namespace whose
iptables drops that share of UDP datagrams, tests/lib/netns.py Lossy, which needs root):

  raw      bench_loopback raw: one sendto per datagram, the receiver on recvmmsg
  api      bench_loopback [--extended] throughput / latency: the public API, two
           processes, plain and extended transport
  cat      setowire-cat [--transport extended] | bench_lines: lines from a file to a
           receiver (given a free --port, no --events) whose stdout a small C reader
           counts as fast as it comes

and for each: one-way 100-byte messages, 1000-byte messages, bulk (60 000-byte
messages) with the share delivered, and the application round trip p50 (API only).
Rates are per second at the receiver, from its first message to its last; the ratio
column is the rate over the raw datagram rate of the same size.

Under loss iptables must see every datagram on its own, not a segmented send as one
packet (it would drop up to 64 datagrams at once). Where `ethtool` can turn off the
namespace's loopback UDP segmentation offload, the kernel splits each segmented send
into datagrams at the device, before the rule, and the processes keep GSO (as a host
sending through a NIC without offload does: the loss is on the path, after
segmentation). Otherwise they run with SETOWIRE_NO_GSO=1, which costs the sender one
syscall per datagram. The header of each loss section says which.

Keep runs short on a shared machine: --quick divides every count by 4 (--div N by N).
--congestion picks the extended session's controller in every process (default: the
library's, BBR); --extended-only skips the plain rows.
"""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'lib'))

# (size, API messages, cat lines). Bulk is 600 MB through the API and 480 MB through the
# cat: the 240 / 120 MB of earlier sessions lasted 0.1-0.3 s, most of it the window's
# and the send buffer's growth and the first losses' recovery, not the bulk rate.
SIZES = [(100, 1_000_000, 400_000), (1000, 300_000, 150_000), (60000, 10_000, 8000)]
QUIET = ['--no-lan', '--no-dht', '--no-stun', '--no-http']


def run(argv, timeout=120, env=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return 'TIMEOUT'
    return r.stdout + r.stderr


CC = []  # --congestion X for bench_loopback and setowire-cat, when given


def api_throughput(wrap, b, ext, size, count, env):
    out = run(wrap([f'{b}/bench_loopback'] + (['--extended'] + CC if ext else []) +
                   ['throughput', str(count), str(size)]), env=env)
    m = re.search(r'received (\d+) \(([\d.]+)%\), (\d+) msg/s.*?\(([\d.]+) MB/s\)', out)
    cs = re.search(r'sender: cpu [\d.]+ s, ([\d.]+) us per message', out)
    cr = re.search(r'receiver: .*cpu [\d.]+ s, ([\d.]+) us per message', out)
    cpu = f'  cpu/msg {float(cs[1]):.2f} us sender, {float(cr[1]):.2f} us receiver' \
        if cs and cr else ''
    return (int(m[3]), float(m[2]), float(m[4]), cpu) if m else None


def raw_rate(wrap, b, size, count, env):
    out = run(wrap([f'{b}/bench_loopback', 'raw', str(count), str(size)]), env=env)
    m = re.search(r'\(([\d.]+)%\), (\d+) datagrams/s', out)
    return (int(m[2]), float(m[1]), int(m[2]) * size / 1e6) if m else None


def api_latency(wrap, b, ext, count, env):
    # one echo at a time: a lost ping or echo that nobody resends (plain transport under
    # loss) stalls the run, which then stops at the time limit
    out = run(wrap([f'{b}/bench_loopback'] + (['--extended'] + CC if ext else []) +
                   ['latency', str(count)]), timeout=30, env=env)
    if out == 'TIMEOUT':
        return 'stalled (a lost message is never sent again)'
    m = re.search(r'p50 ([\d.]+) us.*?p99 ([\d.]+) us', out)
    return (float(m[1]), float(m[2])) if m else None


def free_port(wrap):
    """A UDP port free on 127.0.0.1 now (the receiving cat is given it with --port: with
    --events it would print a JSON line per message, which no user piping it asks for).
    In a fresh network namespace every port is free."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_bound(proc, port, timeout=10.0):
    """Until proc (in whichever network namespace) has a UDP socket on 127.0.0.1:port,
    from its /proc/PID/net/udp; False when it exited or the time ran out."""
    want = f'0100007F:{port:04X}'
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            with open(f'/proc/{proc.pid}/net/udp') as f:
                if any(line.split()[1] == want for line in list(f)[1:]):
                    return True
        except (OSError, IndexError):
            pass
        time.sleep(0.02)
    return False


def cat_throughput(wrap, b, ext, size, count, env, tmp):
    """Lines of `size` bytes (newline included) from a file through two cats."""
    path = os.path.join(tmp, f'lines-{size}-{count}')
    if not os.path.exists(path):
        with open(path, 'wb') as f:
            pad = b'x' * (size - 12)
            for i in range(count):
                f.write(b'%010d ' % i + pad + b'\n')
    # read it once first: on this machine's virtual disk a file not in the page cache
    # reads at about 0.8 GB/s, which would cap the sending cat below the transport
    with open(path, 'rb') as f:
        while f.read(1 << 22):
            pass
    t = ['--transport', 'extended' if ext else 'plain'] + (CC if ext else [])
    cat = f'{b}/setowire-cat'
    port = free_port(wrap)
    recv = subprocess.Popen(wrap([cat, *QUIET, '--bind', '127.0.0.1', '--port', str(port),
                                  *t]), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env={**os.environ, **env})
    if not wait_bound(recv, port):
        recv.kill()
        recv.wait()
        return None
    # the lines are counted by a C reader (bench_lines), which stops at `count` or 2 s
    # after the last data: what has not arrived by then will not
    rd = subprocess.Popen([f'{b}/bench_lines', str(count), '2000'], stdin=recv.stdout,
                          stdout=subprocess.PIPE, text=True)
    recv.stdout.close()
    # The sending cat reads the file itself, as soon as the peer is connected, in every
    # row: lines written during the extended handshake are held until it completes
    # (docs/TRANSPORT.md 4.5: five handshake copies fall within the hold, so at 10 % loss
    # about one run in 4 000 would see lines go plain, and show it as less than 100 %).
    # A feeder thread writing a pipe would cost this 2-core machine a fourth process.
    with open(path, 'rb') as f:
        send = subprocess.Popen(wrap([cat, *QUIET, '--bind', '127.0.0.1', '--port', '0',
                                      '--connect', f'127.0.0.1:{port}', *t]),
                                stdin=f, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ, **env})
        try:
            send.wait(120)
        except subprocess.TimeoutExpired:
            send.kill()
            send.wait()
    try:  # it ends 2 s after the last line; 60 s bounds a run where none came
        out, _ = rd.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        rd.kill()
        out, _ = rd.communicate()
    recv.kill()
    recv.wait()
    m = re.search(r'lines (\d+) first ([\d.]+) last ([\d.]+) before (\d+)', out or '')
    if not m or float(m[3]) <= float(m[2]):
        return None
    n, secs = int(m[1]), float(m[3]) - float(m[2])
    rate = (n - int(m[4])) / secs  # the first read's lines came before its time
    return int(rate), 100.0 * n / count, rate * size / 1e6, ''


def fmt(r, raw, unit='msg/s'):
    if not r:
        return 'failed'
    rate, pct, mbs, cpu = r
    ratio = f' = {rate / raw:.1f}x raw' if raw else ''
    return f'{rate:>9,} {unit} {pct:6.2f}% {mbs:7.1f} MB/s{ratio}{cpu}'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--loss', default='0,0.01,0.1')
    ap.add_argument('--no-cat', action='store_true')
    ap.add_argument('--congestion', choices=['bbr', 'newreno'])
    ap.add_argument('--extended-only', action='store_true')
    ap.add_argument('--div', type=int, default=0)
    ap.add_argument('--no-gso-under-loss', action='store_true',
                    help='loss rows with SETOWIRE_NO_GSO=1 even where ethtool could '
                    'segment at the device (the rows of earlier sessions)')
    ap.add_argument('--sizes', help='comma-separated message sizes to run (default all)')
    a = ap.parse_args()
    b = os.path.abspath(a.bin)
    div = a.div or (4 if a.quick else 1)
    if a.congestion:
        CC.extend(['--congestion', a.congestion])
    modes = (1,) if a.extended_only else (0, 1)
    import tempfile
    tmp = tempfile.mkdtemp(prefix='xbench-')
    for loss in [float(x) for x in a.loss.split(',')]:
        ns = None
        if loss > 0:
            import netns
            if netns.available():
                print(f'\n== loss {loss:.0%}: skipped ({netns.available()})')
                continue
            ns = netns.Lossy(f'xb{int(loss * 1000)}').__enter__()
            ns.set_loss(loss)
            # BENCH_XWAIT_MS: bench_loopback --extended starts 3.5 s after the connection,
            # time for four copies of the handshake (docs/TRANSPORT.md 4.5) should its
            # datagrams be lost; messages written before it completes would go plain
            wrap, env = ns.wrap, {'BENCH_XWAIT_MS': '3500'}
            why = None if a.no_gso_under_loss else ns.segment_on_device()
            if why is None and not a.no_gso_under_loss:
                mode = ' (GSO on, segmented at the device before the loss)'
            else:
                env['SETOWIRE_NO_GSO'] = '1'
                mode = ' (SETOWIRE_NO_GSO=1' + (f': {why})' if why else ')')
        else:
            wrap, env, mode = (lambda argv: argv), {}, ''
        print(f'\n== loss {loss:.0%}{mode}', flush=True)
        try:
            for size, api_n, cat_n in SIZES:
                if a.sizes and str(size) not in a.sizes.split(','):
                    continue
                api_n, cat_n = max(api_n // div, 100), max(cat_n // div, 100)
                # bulk: raw datagrams of 1402 bytes, the size of a full extended packet
                rsize = size if size <= 2000 else 1402
                raw = raw_rate(wrap, b, rsize, 300_000 // div, env)
                rr = raw[0] if raw else 0
                label = 'bulk 60000 B' if size == 60000 else f'one-way {size} B'
                print(f'{label}: raw udp ({rsize} B datagrams) '
                      + (f'{rr:,} datagrams/s {raw[1]:.2f}% ({raw[2]:.1f} MB/s)' if raw
                         else 'failed'), flush=True)
                for ext in modes:
                    name = 'extended' if ext else 'plain   '
                    r = api_throughput(wrap, b, ext, size, api_n, env)
                    print(f'  api {name} {fmt(r, rr if size < 60000 else 0)}', flush=True)
                    if not a.no_cat:
                        r = cat_throughput(wrap, b, ext, size, cat_n, env, tmp)
                        print(f'  cat {name} {fmt(r, rr if size < 60000 else 0, "lines/s")}',
                              flush=True)
            for ext in modes:
                r = api_latency(wrap, b, ext, 5000 // div, env)
                name = 'extended' if ext else 'plain   '
                txt = r if isinstance(r, str) else \
                    f'p50 {r[0]:.1f} us  p99 {r[1]:.1f} us' if r else 'failed'
                print(f'round trip (api, 100 B) {name}: {txt}', flush=True)
        finally:
            if ns:
                ns.__exit__(None, None, None)
    subprocess.run(['rm', '-rf', tmp])


if __name__ == '__main__':
    main()
