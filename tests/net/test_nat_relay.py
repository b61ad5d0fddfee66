"""Two symmetric homes cannot punch; they connect through a relay (PROTOCOL.md 15.7).

In the NAT lab: a public setowire-node started with --relay is the rendezvous (HTTP
bootstrap, introductions) and the relay; two setowire-cat behind symmetric NATs
(MASQUERADE --random-fully) learn each other from it, punch in vain, and after
RELAY_AFTER_MS dial through the node. Checked: each side's connection event says the
session runs via the node, and lines go both ways. Skips (77) without root or coturn.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
import natlab  # noqa: E402
from natpeers import LabCat, LabNode  # noqa: E402


def main():
    bindir = catproc.bin_dir()
    topic = f'nat-relay-{os.getpid()}'
    with natlab.Lab(tag='relay') as lab:
        stun = lab.stun_server()
        rdv = lab.public_host('rendezvous')
        ha, hb = lab.home('symmetric'), lab.home('symmetric')
        with LabNode(rdv, bindir, relay=True, name='relay-node') as node:
            node_id = node.listening()['id']
            a = LabCat(ha.hosts[0], bindir, stun, rdv, topic, 'a')
            b = LabCat(hb.hosts[0], bindir, stun, rdv, topic, 'b')
            with a, b:
                a_id, b_id = a.listening()['id'], b.listening()['id']
                assert a.expect('nat', timeout=15.0)['type'] == 'symmetric'
                assert b.expect('nat', timeout=15.0)['type'] == 'symmetric'
                ev_a = a.expect('connection', timeout=25.0, peer=b_id[:16])
                ev_b = b.expect('connection', timeout=10.0, peer=a_id[:16])
                for side, ev in (('a', ev_a), ('b', ev_b)):
                    if ev.get('via') != node_id[:16]:
                        raise AssertionError(f'{side}: connection not via the relay: {ev}')
                a.feed('a through the relay')
                b.feed('b through the relay')
                b.expect_line('a through the relay', timeout=10.0)
                a.expect_line('b through the relay', timeout=10.0)
                print(f'ok symmetric x symmetric via the relay {node_id[:16]}', flush=True)
    print('1 passed, 0 failed')


if __name__ == '__main__':
    main()
