"""A symmetric home and a port-restricted home meet directly by birthday punching
(PROTOCOL.md 15.6, 21.5), in the NAT lab of tests/lib/natlab.py.

Home A's router is symmetric (MASQUERADE --random-fully: a new random port per
destination), home B's is port-restricted cone (MASQUERADE). A public setowire-node is
the rendezvous (HTTP bootstrap, introductions); coturn tells each setowire-cat its public
address and NAT type. The ordinary punch cannot open this pair: the introduction gives
each side the other's NAT type, and after a second without a session A opens 256 probe
sockets toward B's mapping while B sends HELLOs to random ports of A's public IP.
Checked: each side's connection event for the other names the other home's public IP and
no relay (`via`), a line goes each way, and the symmetric router's conntrack table holds
a flow between A's host and B's home that saw replies (the session does not pass the
public node). The node runs without --relay, so nothing else could have connected them.
No socket leaks: 7 s after the connection A keeps only the probe sockets the session has
paths on: at least one, at most MAX_PATHS (two probes can land before the first session
stops the spray, PROTOCOL.md 15.6); none once B has left.
The punch is a draw (about 98 % per attempt): a miss is retried once with fresh
processes and said in the output; two misses in a row fail.
Skips (77) without root or coturn.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
import eventproc  # noqa: E402
import natlab  # noqa: E402
from test_nat_punch import LabCat, LabNode  # noqa: E402


def direct_flow(lab, home_a, host_a, public_b):
    """A conntrack entry on A's router from A's host to B's public IP that saw replies."""
    table = lab.conntrack(home_a)
    for line in table.splitlines():
        if (f'src={host_a.ip} dst={public_b}' in line and 'udp' in line and
                '[UNREPLIED]' not in line):
            return line
    return None


def udp_sockets(pid):
    """The UDP sockets open in the process's network namespace (the home host runs only
    this process): main socket plus probe sockets."""
    n = 0
    for name in ('udp', 'udp6'):
        try:
            with open(f'/proc/{pid}/net/{name}') as f:
                n += max(0, len(f.read().splitlines()) - 1)
        except OSError:
            pass
    return n


# The spray is a birthday draw: about 98 % of punches hit (1 - e^(-1024*256/64512)),
# and one spray per peer is all a process allows. A miss gets one more attempt with
# fresh processes (new identities, a topic of their own); two in a row fail the test.
ATTEMPTS = 2

# A peer's direct paths (MAX_PATHS in src/core/engine.h): the most probe sockets
# one session can keep.
MAX_PATHS = 4


class Miss(Exception):
    pass


def main():
    bindir = catproc.bin_dir()
    with natlab.Lab(tag='bday') as lab:
        stun = lab.stun_server()
        rdv = lab.public_host('rendezvous')
        ha, hb = lab.home('symmetric'), lab.home('port_restricted')
        for attempt in range(1, ATTEMPTS + 1):
            try:
                attempt_once(lab, bindir, stun, rdv, ha, hb, f'nat-bday-{os.getpid()}-{attempt}')
                break
            except Miss as e:
                if attempt == ATTEMPTS:
                    raise AssertionError(f'no direct connection in {ATTEMPTS} attempts: {e}')
                print(f'# attempt {attempt}: the punch missed ({e}); once more with fresh '
                      f'peers', flush=True)
                for h in (ha, hb):
                    lab.conntrack_flush(h)
    print('1 passed, 0 failed')


def attempt_once(lab, bindir, stun, rdv, ha, hb, topic):
    with LabNode(rdv, bindir) as node:
        node.listening()
        a = LabCat(ha.hosts[0], bindir, stun, rdv, topic, 'a')
        b = LabCat(hb.hosts[0], bindir, stun, rdv, topic, 'b')
        with a, b:
            a_id, b_id = a.listening()['id'], b.listening()['id']
            base = udp_sockets(a.pid)
            nat_a = a.expect('nat', timeout=15.0)
            nat_b = b.expect('nat', timeout=15.0)
            assert nat_a['type'] == 'symmetric', nat_a
            assert nat_b['type'] == 'restricted_cone', nat_b
            typed = time.monotonic()
            try:
                ev_a = a.expect('connection', timeout=25.0, peer=b_id[:16])
                ev_b = b.expect('connection', timeout=10.0, peer=a_id[:16])
            except eventproc.ProcError as e:
                raise Miss(str(e).splitlines()[0]) from e
            took = time.monotonic() - typed
            for side, ev, other in (('a', ev_a, hb), ('b', ev_b, ha)):
                if ev.get('via'):
                    raise AssertionError(f'{side}: connection relayed: {ev}')
                if not ev['addr'].startswith(other.public_ip + ':'):
                    raise AssertionError(f'{side}: reached the other at {ev["addr"]}, '
                                         f'not at its home {other.public_ip}')
            a.feed('a by birthday')
            b.feed('b by birthday')
            b.expect_line('a by birthday', timeout=10.0)
            a.expect_line('b by birthday', timeout=10.0)
            flow = direct_flow(lab, ha, ha.hosts[0], hb.public_ip)
            if not flow:
                raise AssertionError('no replied flow A -> B on the symmetric router:\n' +
                                     lab.conntrack(ha))
            print(f'ok symmetric {nat_a["addr"]} <-> port-restricted {nat_b["addr"]} '
                  f'direct: A at {ev_b["addr"]}, B at {ev_a["addr"]}, {took:.2f} s after both '
                  f'knew their NAT type', flush=True)
            print(f'ok conntrack: {flow.strip()}', flush=True)
            # The probe sockets close after the 5 s window, except those the session has
            # paths on (the runtime looks once a second; a loaded machine gets a few
            # seconds more).
            time.sleep(6.0)
            deadline = time.monotonic() + 6.0
            while (udp_sockets(a.pid) > base + MAX_PATHS and
                   time.monotonic() < deadline):
                time.sleep(0.2)
            left = udp_sockets(a.pid)
            if not base + 1 <= left <= base + MAX_PATHS:
                raise AssertionError(f'A has {left} UDP sockets after the window, '
                                     f'{base} before the spray: want {base + 1} to '
                                     f'{base + MAX_PATHS}')
            a.feed('still there')
            b.expect_line('still there', timeout=10.0)
            # B leaves (stdin closed: it says GOAWAY); A's last probe socket goes.
            b.close_stdin()
            b.wait_exit(timeout=10.0)
            a.expect('disconnect', timeout=10.0, peer=b_id[:16])
            deadline = time.monotonic() + 5.0
            while udp_sockets(a.pid) != base and time.monotonic() < deadline:
                time.sleep(0.2)
            if udp_sockets(a.pid) != base:
                raise AssertionError(f'A still has {udp_sockets(a.pid)} UDP sockets after '
                                     f'B left, {base} before the spray')
            print(f'ok sockets: {base} before, {left} after the window ({left - base} '
                  f'probe sockets with a path), {base} once B left', flush=True)


if __name__ == '__main__':
    main()
