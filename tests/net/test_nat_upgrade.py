"""A relayed pair moves to a direct path once a punch can succeed (PROTOCOL.md 15.8).

In the NAT lab: two homes behind symmetric NATs connect through a public
`setowire-node --relay` (as in test_nat_relay.py). Then home B's router is given a full
cone NAT (lab.set_nat: new rules, every mapping forgotten). B's next STUN refresh
publishes its new mapping, and the next timed open of the upgrade module (attempts at
0 s, 30 s, 2 min, 10 min after the relayed session formed) gets A's HELLOs through B's
cone. Checked: both cats report {"event":"path",...,"via":""}; lines still go both ways;
B's router holds a conntrack flow straight to A's home (traffic no longer goes through
the node). Skips (77) without root, coturn, nftables or conntrack.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
import natlab  # noqa: E402
from natpeers import LabCat, LabNode  # noqa: E402

# The attempt at 2 min is the first to see B's new public mapping (STUN refreshes every
# 60 s): allow it, with room for a slow machine.
UPGRADE_WITHIN = 200.0


def main():
    bindir = catproc.bin_dir()
    topic = f'nat-upgrade-{os.getpid()}'
    with natlab.Lab(tag='upgrade') as lab:
        stun = lab.stun_server()
        rdv = lab.public_host('rendezvous')
        ha, hb = lab.home('symmetric'), lab.home('symmetric')
        with LabNode(rdv, bindir, relay=True) as node:
            node_id = node.listening()['id']
            a = LabCat(ha.hosts[0], bindir, stun, rdv, topic, 'a')
            b = LabCat(hb.hosts[0], bindir, stun, rdv, topic, 'b')
            with a, b:
                a_id, b_id = a.listening()['id'], b.listening()['id']
                ev_a = a.expect('connection', timeout=25.0, peer=b_id[:16])
                ev_b = b.expect('connection', timeout=10.0, peer=a_id[:16])
                for side, ev in (('a', ev_a), ('b', ev_b)):
                    if ev.get('via') != node_id[:16]:
                        raise AssertionError(f'{side}: connection not via the relay: {ev}')
                print('ok symmetric x symmetric connected via the relay', flush=True)
                t0 = time.monotonic()
                lab.set_nat(hb, 'full_cone')
                pa = a.expect('path', timeout=UPGRADE_WITHIN, peer=b_id[:16], via='')
                pb = b.expect('path', timeout=30.0, peer=a_id[:16], via='')
                took = time.monotonic() - t0
                if not pb['addr'].startswith(ha.public_ip + ':'):
                    raise AssertionError(f'b: direct path not to home A: {pb}')
                if not pa['addr'].startswith(hb.public_ip + ':'):
                    raise AssertionError(f'a: direct path not to home B: {pa}')
                print(f'ok direct after {took:.0f} s: a -> {pa["addr"]}, b -> {pb["addr"]}',
                      flush=True)
                a.feed('a direct')
                b.feed('b direct')
                b.expect_line('a direct', timeout=10.0)
                a.expect_line('b direct', timeout=10.0)
                table = lab.conntrack(hb)
                if ha.public_ip not in table:
                    raise AssertionError(f'no flow between the homes on B\'s router:\n{table}')
                print('ok lines both ways; B\'s router carries a flow to home A', flush=True)
    print('1 passed, 0 failed')


if __name__ == '__main__':
    main()
