"""setowire processes in the NAT lab (tests/lib/natlab.py): a public setowire-node as the
rendezvous (HTTP bootstrap, a peer every home connects to, introductions, optionally a
relay) and setowire-cat homes that learn their public address from the lab's coturn.
Shared by tests/net/test_nat_*.py and bench/natlab_pairs.py.

    import natlab, natpeers
    with natlab.Lab() as lab:
        stun, rdv = lab.stun_server(), lab.public_host('rendezvous')
        with natpeers.LabNode(rdv, bindir, relay=True) as node:
            node.listening()
            r = natpeers.meet(bindir, stun, rdv, node.id, host_a, host_b, 'topic')
            r['connected'], r['path'] ('direct' / 'relayed'), r['seconds']
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'net'))
import catproc  # noqa: E402
import eventproc  # noqa: E402
import nodeproc  # noqa: E402

MAIN_PORT, HTTP_PORT, DHT_PORT = 47000, 47001, 47002


class LabNode(nodeproc.Node):
    """setowire-node on a public lab host: HTTP bootstrap, DHT, main port; with relay,
    also a relay (--relay)."""

    def __init__(self, host, bindir, relay=False, name='node'):
        argv = host.wrap([os.path.join(bindir, 'setowire-node'), '--events', '--bind', host.ip,
                          '--port', str(MAIN_PORT), '--http-port', str(HTTP_PORT),
                          '--dht-port', str(DHT_PORT)] + (['--relay'] if relay else []))
        eventproc.EventProc.__init__(self, argv, name)


class LabCat(catproc.Cat):
    """setowire-cat on a home host: STUN from the lab's coturn only, the node's HTTP
    bootstrap and a direct dial to the node; no LAN beacons, no DHT."""

    def __init__(self, host, bindir, stun, rdv, topic, name):
        self.out = []
        argv = host.wrap([os.path.join(bindir, 'setowire-cat'), '--events', '--no-lan',
                          '--no-dht', '--no-default-servers', '--stun', f'{stun.ip}:{stun.port}',
                          '--bootstrap-http', f'http://{rdv.ip}:{HTTP_PORT}',
                          '--connect', f'{rdv.ip}:{MAIN_PORT}', topic])
        eventproc.EventProc.__init__(self, argv, name)


def meet(bindir, stun, rdv, node_id, host_a, host_b, topic, timeout=30.0, upgrade_within=0):
    """Start a cat on host_a and one on host_b at once (fresh identities, a topic of
    their own) and wait until each has a connection event for the other. Returns
    {'connected': bool, 'path': 'direct' | 'relayed' | None, 'seconds': float | None,
    'via': the relay's id or None, 'nat': (type of a, type of b), 'why': what the cats
    said, when not connected}; seconds run from the
    start of the two processes to the later of the two connection events (STUN and the
    HTTP bootstrap included). With upgrade_within > 0, a relayed pair is also given that
    many seconds to move to a direct path: 'upgraded' is then the time from the start to
    both path events, or None."""
    a = LabCat(host_a, bindir, stun, rdv, topic, 'a')
    b = LabCat(host_b, bindir, stun, rdv, topic, 'b')
    started = time.monotonic()
    res = {'connected': False, 'path': None, 'seconds': None, 'via': None, 'nat': (None, None)}
    with a, b:
        try:
            a_id, b_id = a.listening()['id'], b.listening()['id']
            deadline = started + timeout
            ev_a = a.expect('connection', timeout=max(0.1, deadline - time.monotonic()),
                            peer=b_id[:16])
            ev_b = b.expect('connection', timeout=max(0.1, deadline - time.monotonic()),
                            peer=a_id[:16])
        except eventproc.ProcError as e:
            res['why'] = f'{e}\n{(b if a.events("connection") else a).describe()}'
            return _nat(res, a, b)
        via = ev_a.get('via') or ev_b.get('via')
        res.update(connected=True, seconds=max(ev_a['_t'], ev_b['_t']) - started,
                   path='relayed' if via else 'direct', via=via)
        if via and node_id and not via.startswith(node_id[:16]):
            res['path'] = 'relayed elsewhere'
        if via and upgrade_within:
            # A relayed pair may still punch (the birthday punch once both know their NAT
            # type, PROTOCOL.md 15.6; the upgrade module, 15.8): wait for both sides'
            # path events to a direct path.
            try:
                end = time.monotonic() + upgrade_within
                pa = a.expect('path', timeout=max(0.1, end - time.monotonic()),
                              peer=b_id[:16], via='')
                pb = b.expect('path', timeout=max(0.1, end - time.monotonic()),
                              peer=a_id[:16], via='')
                res['upgraded'] = max(pa['_t'], pb['_t']) - started
            except eventproc.ProcError:
                res['upgraded'] = None
        return _nat(res, a, b)


def _nat(res, a, b):
    types = []
    for cat in (a, b):
        evs = cat.events('nat')
        types.append(evs[-1].get('type') if evs else None)
    res['nat'] = tuple(types)
    return res
