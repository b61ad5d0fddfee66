"""Two homes behind cone NATs meet directly, although they start 6 s apart (PROTOCOL.md
15.5, 15.6), in the NAT lab of tests/lib/natlab.py.

Two port-restricted cone NATs (iptables MASQUERADE: each drops what the other sends
until it has sent to the other itself). A public setowire-node is the rendezvous (HTTP bootstrap and a peer both homes connect
to); coturn tells each setowire-cat its public address, which its HTTP announce carries.
Cat A (a port-restricted home) starts first and finds nobody; cat B (another one)
starts 6 s later, finds A's record, dials A's public address and asks the node to
introduce it: the node forwards B's mapping to A, A dials it at once, both NATs open.
Checked: each side's connection event for the other names the other home's public
address (a direct path: nothing is relayed), B connects within seconds of its start
(the Python reference's HTTP bootstrap would ask again only after 180 s), and a line
written on each side arrives on the other. Skips (77) without root or coturn.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
import natlab  # noqa: E402

# The lab's node and cats, shared with the other NAT tests and bench/natlab_pairs.py.
from natpeers import DHT_PORT, HTTP_PORT, MAIN_PORT, LabCat, LabNode  # noqa: E402,F401


def connection_to(cat, wire, timeout):
    return cat.expect('connection', timeout=timeout, peer=wire)


def main():
    bindir = catproc.bin_dir()
    topic = f'nat-punch-{os.getpid()}'
    with natlab.Lab(tag='punch') as lab:
        stun = lab.stun_server()
        rdv = lab.public_host('rendezvous')
        home_a = lab.home('port_restricted')
        home_b = lab.home('port_restricted')
        node = LabNode(rdv, bindir)
        with node:
            node.listening()
            a = LabCat(home_a.hosts[0], bindir, stun, rdv, topic, 'a')
            with a:
                a_id = a.listening()['id']
                nat_a = a.expect('nat', timeout=15.0)
                assert nat_a['addr'].startswith(home_a.public_ip + ':'), nat_a
                time.sleep(6.0)  # the scenario itself: B starts 6 s after A
                b = LabCat(home_b.hosts[0], bindir, stun, rdv, topic, 'b')
                with b:
                    started = time.monotonic()
                    b_id = b.listening()['id']
                    nat_b = b.expect('nat', timeout=15.0)
                    ev_b = connection_to(b, a_id[:16], timeout=15.0)
                    took = time.monotonic() - started
                    ev_a = connection_to(a, b_id[:16], timeout=10.0)
                    if not ev_b['addr'].startswith(home_a.public_ip + ':'):
                        raise AssertionError(f'B reached A at {ev_b["addr"]}, not at A\'s '
                                             f'public address {home_a.public_ip}')
                    if not ev_a['addr'].startswith(home_b.public_ip + ':'):
                        raise AssertionError(f'A reached B at {ev_a["addr"]}, not at B\'s '
                                             f'public address {home_b.public_ip}')
                    print(f'ok direct: A {nat_a["addr"]} ({nat_a["type"]}) <-> '
                          f'B {nat_b["addr"]} ({nat_b["type"]}) in {took:.2f} s after B '
                          f'started', flush=True)
                    if took > 10.0:
                        raise AssertionError(f'B took {took:.1f} s to reach A')
                    a.feed('from a')
                    b.feed('from b')
                    b.expect_line('from a', timeout=10.0)
                    a.expect_line('from b', timeout=10.0)
                    print('ok messages both ways', flush=True)
    print('1 passed, 0 failed')


if __name__ == '__main__':
    main()
