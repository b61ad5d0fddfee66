"""More NAT pairs in the lab (tests/lib/natlab.py), each in a lab of its own:

  cone x symmetric   a full-cone home and a symmetric home meet directly through a public
                     setowire-node (HTTP bootstrap, introductions) and coturn: the
                     symmetric side's HELLO passes the full-cone filter, and the answer
                     goes back to where it came from (peer-reflexive);
  same NAT           two hosts behind one NAT find each other by LAN beacons and talk over
                     the home LAN, not through the NAT (which does not hairpin here).
Skips (77) without root or coturn.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
import eventproc  # noqa: E402
import natlab  # noqa: E402
from test_nat_punch import LabCat, LabNode  # noqa: E402


class LanCat(catproc.Cat):
    def __init__(self, host, bindir, topic, name):
        self.out = []
        argv = host.wrap([os.path.join(bindir, 'setowire-cat'), '--events', '--no-dht',
                          '--no-http', '--no-stun', '--lan-addr', host.ip, topic])
        eventproc.EventProc.__init__(self, argv, name)


def cone_symmetric(bindir):
    topic = f'nat-cs-{os.getpid()}'
    with natlab.Lab(tag='cs') as lab:
        stun = lab.stun_server()
        rdv = lab.public_host('rendezvous')
        cone, sym = lab.home('full_cone'), lab.home('symmetric')
        with LabNode(rdv, bindir) as node:
            node.listening()
            a = LabCat(cone.hosts[0], bindir, stun, rdv, topic, 'cone')
            b = LabCat(sym.hosts[0], bindir, stun, rdv, topic, 'symmetric')
            with a, b:
                a_id, b_id = a.listening()['id'], b.listening()['id']
                assert a.expect('nat', timeout=15.0)['type'] == 'full_cone'
                assert b.expect('nat', timeout=15.0)['type'] == 'symmetric'
                ev_b = b.expect('connection', timeout=20.0, peer=a_id[:16])
                ev_a = a.expect('connection', timeout=10.0, peer=b_id[:16])
                assert ev_b['addr'].startswith(cone.public_ip + ':'), ev_b
                assert ev_a['addr'].startswith(sym.public_ip + ':'), ev_a
                a.feed('to symmetric')
                b.feed('to cone')
                b.expect_line('to symmetric', timeout=10.0)
                a.expect_line('to cone', timeout=10.0)
                print(f'ok cone x symmetric: direct, {ev_a["addr"]} <-> {ev_b["addr"]}',
                      flush=True)


def same_nat(bindir):
    topic = f'nat-lan-{os.getpid()}'
    with natlab.Lab(tag='lan') as lab:
        home = lab.home('port_restricted', hosts=2)
        h1, h2 = home.hosts
        a, b = LanCat(h1, bindir, topic, 'h1'), LanCat(h2, bindir, topic, 'h2')
        with a, b:
            a_id, b_id = a.listening()['id'], b.listening()['id']
            ev = a.expect('connection', timeout=20.0, peer=b_id[:16])
            b.expect('connection', timeout=10.0, peer=a_id[:16])
            assert ev['addr'].startswith(h2.ip + ':'), ev  # the LAN address, not the NAT's
            a.feed('over the lan')
            b.expect_line('over the lan', timeout=10.0)
            print(f'ok same NAT: over the LAN, {ev["addr"]}', flush=True)


def main():
    bindir = catproc.bin_dir()
    cone_symmetric(bindir)
    same_nat(bindir)
    print('2 passed, 0 failed')


if __name__ == '__main__':
    main()
