#!/usr/bin/env python3
"""The core's STUN codec and STUN server against coturn on loopback (RFC 8489, RFC 5780).

    test_stun_coturn.py --bin <build>/bin

coturn's turnserver (STUN only, no authentication) listens on 127.0.0.1 and 127.0.0.2
(and ::1 when this host has it) at a primary and an alternate port; sw_stun_serve runs
the core's stunsrv_answer on the same kind of four sockets. Checked (each part prints
one "ok" line with its time on stderr):
  client     sw_stun_probe (our encoder and decoder) against coturn: the plain 20-byte
             request is answered with our own address as the mapped one, coturn's
             RESPONSE-ORIGIN and OTHER-ADDRESS decode; with FINGERPRINT the answer's
             FINGERPRINT checks; CHANGE-REQUEST (IP and port, port only) answers come
             from the other socket; over ::1 the IPv6 XOR-MAPPED-ADDRESS decodes to our
             own address; the RFC 5780 sequence classifies loopback as open with
             endpoint-independent mapping and filtering.
  server     coturn's clients against sw_stun_serve: turnutils_stunclient reads our
             reflexive address and OTHER-ADDRESS, turnutils_natdiscovery finds
             endpoint-independent mapping and filtering (so our CHANGE-REQUEST routing
             is what an RFC 5780 client expects); and sw_stun_probe -n against it too.

Exit 0 pass, 1 failure, 77 skip (no coturn on this host, or 127.0.0.2 cannot be bound).
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def bindable(host, port, family=socket.AF_INET):
    """UDP and TCP both: coturn listens on both, and a TCP port taken by another test
    made it retry its bind forever while our requests went unanswered."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(family, kind)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_pair(hosts):
    """Two consecutive ports free for UDP and TCP on every host, below the kernel's
    ephemeral range (32768 and up), where outgoing connections of parallel tests land."""
    for _ in range(200):
        p = random.randrange(20000, 32000)
        if all(bindable(h, p, f) and bindable(h, p + 1, f) for h, f in hosts):
            return p
    raise Fail('no free port pair')


def has_ipv6():
    return socket.has_ipv6 and bindable('::1', 0, socket.AF_INET6)


def probe(bindir, *args, timeout=20):
    r = subprocess.run([os.path.join(bindir, 'sw_stun_probe'), *args], capture_output=True,
                       text=True, timeout=timeout)
    check(r.returncode == 0, f'sw_stun_probe {args}: exit {r.returncode}\n{r.stderr}')
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def hp(host, port):
    return f'[{host}]:{port}' if ':' in host else f'{host}:{port}'


def part(name, fn):
    t = time.monotonic()
    fn()
    print(f'ok {name} ({time.monotonic() - t:.1f}s)', file=sys.stderr)


def client_part(bindir, port, v6):
    alt = port + 1
    # coturn takes a moment to bind (once, on a fresh CI machine under a parallel
    # suite, more than 10 s went by without an answer): retry the first request
    deadline = time.monotonic() + 30
    while True:
        out = probe(bindir, '127.0.0.1', str(port))
        if out[1]['answered'] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    local, r = out[0]['local'], out[1]
    check(r['answered'] and r['class'] == 2, f'plain request not answered: {out}')
    check(r['mapped'] == local, f'mapped {r.get("mapped")} is not our {local}')
    check(r.get('origin') == hp('127.0.0.1', port), f'RESPONSE-ORIGIN: {r}')
    check(r.get('other') == hp('127.0.0.2', alt), f'OTHER-ADDRESS: {r}')
    check(r['from'] == hp('127.0.0.1', port), f'answer from {r["from"]}')

    out = probe(bindir, '127.0.0.1', str(port), 'f')
    check(out[1]['answered'] and out[1]['fingerprint'] == 1, f'FINGERPRINT: {out}')
    check(out[1]['mapped'] == out[0]['local'], f'FINGERPRINT request mapped: {out}')

    out = probe(bindir, '127.0.0.1', str(port), 'ip')
    check(out[1]['answered'] and out[1]['from'] == hp('127.0.0.2', alt),
          f'change IP and port: {out}')
    out = probe(bindir, '127.0.0.1', str(port), 'p')
    check(out[1]['answered'] and out[1]['from'] == hp('127.0.0.1', alt), f'change port: {out}')

    if v6:
        out = probe(bindir, '::1', str(port), 'f')
        r = out[1]
        check(r['answered'] and r['class'] == 2, f'IPv6 request: {out}')
        check(r['mapped'] == out[0]['local'], f'IPv6 XOR-MAPPED-ADDRESS {r}')
        check(r.get('plain_mapped', r['mapped']) == r['mapped'], f'IPv6 MAPPED-ADDRESS {r}')
    else:
        print('NOTE: no ::1 on this host, IPv6 skipped', file=sys.stderr)

    out = probe(bindir, '-n', '127.0.0.1', str(port))
    verdict = out[-1]
    check(verdict == {'mapping': 'endpoint-independent', 'filtering': 'endpoint-independent',
                      'type': 'open'}, f'classification: {out}')


def server_part(bindir, port):
    alt = port + 1
    srv = subprocess.Popen([os.path.join(bindir, 'sw_stun_serve'), '127.0.0.1', '127.0.0.2',
                            str(port), str(alt), '30'], stdout=subprocess.PIPE, text=True)
    try:
        check(srv.stdout.readline().strip() == 'ready', 'sw_stun_serve did not start')
        # unbuffered, so what it printed survives the kill on timeout
        unbuf = ['stdbuf', '-o0'] if shutil.which('stdbuf') else []
        r = subprocess.run(unbuf + ['turnutils_stunclient', '-p', str(port), '127.0.0.1'],
                           capture_output=True, text=True, timeout=3)
        # stunclient also sends RESPONSE-PORT, which we refuse (420) and it then waits
        # for: only its first exchange is ours to check.
    except subprocess.TimeoutExpired as e:
        r = e
    try:
        text = (r.stdout or '') if isinstance(r.stdout, str) else (r.stdout or b'').decode()
        check('UDP reflexive addr: 127.0.0.1:' in text, f'stunclient read no address:\n{text}')
        check(f'Other addr: : 127.0.0.2:{alt}' in text, f'stunclient OTHER-ADDRESS:\n{text}')
        check(f'Response origin: : 127.0.0.1:{port}' in text, f'stunclient origin:\n{text}')

        r = subprocess.run(['turnutils_natdiscovery', '-m', '-f', '-p', str(port), '127.0.0.1'],
                           capture_output=True, text=True, timeout=20)
        check('Endpoint Independent Mapping' in r.stdout, f'natdiscovery mapping:\n{r.stdout}')
        check('Endpoint Independent Filtering' in r.stdout,
              f'natdiscovery filtering:\n{r.stdout}')

        out = probe(bindir, '-n', '127.0.0.1', str(port))
        check(out[-1] == {'mapping': 'endpoint-independent',
                          'filtering': 'endpoint-independent', 'type': 'open'},
              f'our client against our server: {out}')
        out = probe(bindir, '127.0.0.1', str(alt), 'ipf')
        check(out[1]['answered'] and out[1]['from'] == hp('127.0.0.2', port)
              and out[1]['fingerprint'] == 1, f'change from the alternate port: {out}')
    finally:
        srv.terminate()
        srv.wait(timeout=5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', required=True)
    a = ap.parse_args()
    turnserver = shutil.which('turnserver')
    if not turnserver or not shutil.which('turnutils_natdiscovery') \
            or not shutil.which('turnutils_stunclient'):
        print('SKIP: coturn (turnserver, turnutils_*) is not installed', file=sys.stderr)
        return SKIP
    if not bindable('127.0.0.2', 0):
        print('SKIP: 127.0.0.2 cannot be bound here', file=sys.stderr)
        return SKIP
    v6 = has_ipv6()
    hosts = [('127.0.0.1', socket.AF_INET), ('127.0.0.2', socket.AF_INET)]
    if v6:
        hosts.append(('::1', socket.AF_INET6))
    tmp = tempfile.mkdtemp(prefix='sw-stun-')
    coturn = None
    try:
        port = free_pair(hosts)
        args = [turnserver, '-n', '--stun-only', '--no-auth', '-L', '127.0.0.1', '-L',
                '127.0.0.2', '-p', str(port), '--alt-listening-port', str(port + 1),
                '--no-cli', '--no-tls', '--no-dtls', '--log-file', 'stdout', '--simple-log',
                '--pidfile', os.path.join(tmp, 'turnserver.pid'),
                '--db', os.path.join(tmp, 'turndb')]
        if v6:
            args[8:8] = ['-L', '::1']
            check(args[6:10] == ['-L', '127.0.0.2', '-L', '::1'], 'coturn arguments')
        log = open(os.path.join(tmp, 'coturn.log'), 'w')
        coturn = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        part('client', lambda: client_part(a.bin, port, v6))
        coturn.terminate()
        coturn.wait(timeout=10)
        coturn = None
        port2 = free_pair(hosts[:2])
        part('server', lambda: server_part(a.bin, port2))
        return 0
    except (Fail, subprocess.TimeoutExpired) as e:
        print(f'FAIL: {e}', file=sys.stderr)
        try:
            with open(os.path.join(tmp, 'coturn.log')) as f:
                print('--- coturn log (tail) ---\n' + ''.join(f.readlines()[-20:]),
                      file=sys.stderr)
        except OSError:
            pass
        return 1
    finally:
        if coturn:
            coturn.terminate()
            try:
                coturn.wait(timeout=10)
            except subprocess.TimeoutExpired:
                coturn.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
