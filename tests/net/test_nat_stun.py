"""Public address and NAT type behind real Linux NATs (PROTOCOL.md 15.5).

In the NAT lab (tests/lib/natlab.py: network namespaces, iptables/nftables NAT routers,
coturn as an independent RFC 5780 STUN server on two addresses), one setowire-cat per
home asks coturn from its main socket and must report, with --events:

    {"event":"nat","addr":"<the home's public IP>:<the mapping coturn saw>","type":"..."}

open -> "open" with its own address; full_cone -> "full_cone"; port_restricted ->
"restricted_cone"; symmetric -> "symmetric". The mapped port is checked against what
the NAT really did: the router's conntrack table holds the mapping toward coturn.
Skips (77) without root or without coturn.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
import eventproc  # noqa: E402
import natlab  # noqa: E402

EXPECTED = {'open': 'open', 'full_cone': 'full_cone', 'port_restricted': 'restricted_cone',
            'symmetric': 'symmetric'}


class LabCat(catproc.Cat):
    """setowire-cat inside a lab host, discovery off but STUN."""

    def __init__(self, host, bindir, stun, name):
        self.out = []
        argv = host.wrap([os.path.join(bindir, 'setowire-cat'), '--events', '--no-lan',
                          '--no-dht', '--no-http', '--no-default-servers',
                          '--stun', f'{stun.ip}:{stun.port}', f'nat-lab-{os.getpid()}'])
        eventproc.EventProc.__init__(self, argv, name)


def main():
    bindir = catproc.bin_dir()
    with natlab.Lab(tag='stun') as lab:
        stun = lab.stun_server()
        homes = {nat: lab.home(nat) for nat in EXPECTED}
        cats = {nat: LabCat(home.hosts[0], bindir, stun, nat) for nat, home in homes.items()}
        try:
            for nat, cat in cats.items():
                home = homes[nat]
                ev = cat.expect('nat', timeout=15.0)
                ip, port = ev['addr'].rsplit(':', 1)
                want_ip = home.hosts[0].ip if nat == 'open' else home.public_ip
                if ip != want_ip:
                    raise AssertionError(f'{nat}: public IP {ip}, expected {want_ip}')
                if ev['type'] != EXPECTED[nat]:
                    raise AssertionError(f'{nat}: type {ev["type"]}, expected {EXPECTED[nat]}')
                if nat != 'open':
                    # the mapping the router made toward coturn's primary address
                    table = lab.conntrack(home)
                    mapped = [m for m in re.findall(
                        rf'dst={re.escape(stun.ip)} sport=\d+ dport={stun.port}.*?'
                        rf'src={re.escape(stun.ip)} dst={re.escape(home.public_ip)} '
                        rf'sport={stun.port} dport=(\d+)', table)]
                    if port not in mapped:
                        raise AssertionError(f'{nat}: port {port} not among the router\'s '
                                             f'mappings toward coturn {mapped}')
                print(f'ok {nat}: {ev["addr"]} {ev["type"]}', flush=True)
                # exactly one report: nothing changed afterwards
                if len(cat.events('nat')) != 1:
                    raise AssertionError(f'{nat}: {len(cat.events("nat"))} nat events')
        finally:
            for cat in cats.values():
                cat.kill()
    print('1 passed, 0 failed')


if __name__ == '__main__':
    main()
