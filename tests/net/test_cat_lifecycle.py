#!/usr/bin/env python3
"""setowire-cat's peer lifecycle events on loopback (issue 12 item 4), from its --events
lines:
  - a dial to a closed port ends in {"event":"dial_failed","addr":..,"reason":"refused"}
    (the kernel's ICMP answer, read by the runtime) within the configured retries;
  - a killed peer (SIGKILL: no goodbye) is dropped with reason "timeout" within
    --peer-timeout (plus a keepalive and scheduling);
  - a peer that exits normally is dropped with reason "goodbye", and a cat that exits
    with a peer still connected reports it with reason "closed".
"""
import os
import signal
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402


def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    bindir = catproc.bin_dir()
    failures = []

    # 1. dial_failed, reason refused: attempts at 0 and 200 ms, each ended by ICMP
    port = closed_port()
    target = f'127.0.0.1:{port}'
    t0 = time.monotonic()
    with catproc.Cat(bindir, args=['--no-wait', '--dial-retries', '1', '--dial-retry', '200',
                                   '--dial-timeout', '1000'],
                     connect=[target], name='dialer') as d:
        ev = d.expect('dial_failed', timeout=10, addr=target)
        took = time.monotonic() - t0
        if ev.get('reason') != 'refused':
            failures.append(f'dial_failed reason {ev.get("reason")!r}, want refused')
        if took > 5:
            failures.append(f'dial_failed after {took:.1f} s (want well under 2.2 s of dialling)')
        d.close_stdin()
        if d.wait_exit(10) != 0:
            failures.append('dialer did not exit 0\n' + d.describe())

    # 2. killed peer: timeout; 3. goodbye and closed
    life = ['--no-wait', '--peer-timeout', '1500', '--keepalive', '200']
    with catproc.Cat(bindir, args=life, name='a') as a:
        ap = a.listening()['port']
        b = catproc.Cat(bindir, args=['--no-wait'], connect=[f'127.0.0.1:{ap}'], name='b')
        with b:
            b.listening()
            a.expect('connection', peer=b.wire_id, timeout=10)
            time.sleep(0.5)
            t_kill = time.monotonic()
            os.kill(b.pid, signal.SIGKILL)
            ev = a.expect('disconnect', peer=b.wire_id, timeout=10)
            took = time.monotonic() - t_kill
            if ev.get('reason') != 'timeout':
                failures.append(f'killed peer: reason {ev.get("reason")!r}, want timeout')
            if not 1.0 <= took <= 4.0:
                failures.append(f'killed peer dropped after {took:.1f} s (peer timeout 1.5 s)')
        c = catproc.Cat(bindir, args=['--no-wait'], connect=[f'127.0.0.1:{ap}'], name='c')
        with c:
            c.listening()
            a.expect('connection', peer=c.wire_id, timeout=10)
            # c leaves as soon as it knows of a: its goodbye must not wait behind what
            # its guard holds for a's address while that address is still proving
            # itself (unit/test_lifecycle test_goodbye_at_any_moment)
            c.expect('connection', peer=a.wire_id, timeout=10)
            c.close_stdin()  # exits normally: GOAWAY
            ev = a.expect('disconnect', peer=c.wire_id, timeout=10)
            if ev.get('reason') != 'goodbye':
                failures.append(f'exited peer: reason {ev.get("reason")!r}, want goodbye')
            c.wait_exit(10)
        e = catproc.Cat(bindir, args=['--no-wait'], connect=[f'127.0.0.1:{ap}'], name='e')
        with e:
            e.listening()
            a.expect('connection', peer=e.wire_id, timeout=10)
            a.close_stdin()  # a exits with e connected
            ev = a.expect('disconnect', peer=e.wire_id, timeout=10)
            if ev.get('reason') != 'closed':
                failures.append(f'own close: reason {ev.get("reason")!r}, want closed')
            a.expect('close', timeout=10)
            ev = e.expect('disconnect', peer=a.wire_id, timeout=10)
            if ev.get('reason') != 'goodbye':
                failures.append(f'e saw a leave with {ev.get("reason")!r}, want goodbye')
            e.close_stdin()
            e.wait_exit(10)
        a.wait_exit(10)
    if failures:
        print('FAIL:\n  ' + '\n  '.join(failures), file=sys.stderr)
        return 1
    print('ok: dial_failed (refused), disconnect reasons timeout, goodbye, closed')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except catproc.ProcError as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
