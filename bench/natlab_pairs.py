#!/usr/bin/env python3
"""The lab's per-pair table for bench/NAT.md: for each pair of the NAT lab's types (open,
full_cone, port_restricted, symmetric: 10 pairs), start two setowire-cat homes through a
public setowire-node (HTTP bootstrap, introductions, --relay) and coturn, N times, and
record whether they connected, directly or through the node (the connection event's
`via`), and how long it took from the start of both processes (STUN and the HTTP
bootstrap included) to the later connection event. Prints a markdown table.

A benchmark, not a test: never run by CI. Needs root (network namespaces, iptables),
coturn, nftables and conntrack, like tests/net/test_nat_*.py (it skips, exit 77,
without them).

    sudo python3 bench/natlab_pairs.py --bin build/bin [--runs 3] [--timeout 30]

One lab serves every pair: two homes of each type, one STUN server, one public host.
Each run gets a fresh setowire-node on that host, a topic of its own, fresh identities,
and routers whose conntrack tables were flushed, so no run inherits a mapping or a
bootstrap record from the one before.
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'lib'))
import natlab  # noqa: E402
import natpeers  # noqa: E402


def pct(xs, q):
    """The q-quantile (0..1) of xs by the nearest rank."""
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, int(q * len(s) + 0.999999) - 1))]


def cell(results):
    ok = [r for r in results if r['connected']]
    n = len(results)
    if not ok:
        return f'0/{n}'
    direct = sum(r['path'] == 'direct' for r in ok)
    relayed = sum(r['path'] == 'relayed' for r in ok)
    secs = [r['seconds'] for r in ok]
    how = []
    if direct:
        how.append(f'{direct} direct')
    if relayed:
        how.append(f'{relayed} relayed')
    if len(ok) - direct - relayed:
        how.append(f'{len(ok) - direct - relayed} other')
    up = [r['upgraded'] for r in ok if r.get('upgraded') is not None]
    moved = (f'; {len(up)} of {relayed} then direct, {statistics.median(up):.1f} s'
             if up else (f'; none then direct' if relayed else ''))
    return (f'{len(ok)}/{n} ({", ".join(how)}) '
            f'{statistics.median(secs) * 1000:.0f}/{pct(secs, 0.9) * 1000:.0f}{moved}')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--bin', required=True, help='build bin folder (setowire-cat, -node)')
    ap.add_argument('--runs', type=int, default=3, help='runs per pair (default 3)')
    ap.add_argument('--timeout', type=float, default=30.0,
                    help='seconds a run may take to connect (default 30)')
    ap.add_argument('--upgrade-within', type=float, default=15.0,
                    help='seconds a relayed pair gets to move to a direct path (default 15)')
    ap.add_argument('--pair', action='append', default=[], metavar='A:B',
                    help='only this pair (repeatable), e.g. symmetric:symmetric')
    ap.add_argument('--verbose', action='store_true',
                    help='print what the cats said when a run did not connect')
    a = ap.parse_args()
    only = {tuple(natlab.normalize_nat(t) for t in p.split(':')) for p in a.pair}
    bindir = os.path.abspath(a.bin)
    for tool in ('setowire-cat', 'setowire-node'):
        if not os.access(os.path.join(bindir, tool), os.X_OK):
            sys.exit(f'{bindir}/{tool} missing: build first')
    types = natlab.NAT_TYPES
    t0 = time.monotonic()
    table = {}
    with natlab.Lab(tag='bench') as lab:
        stun = lab.stun_server()
        rdv = lab.public_host('rendezvous')
        homes = {t: (lab.home(t), lab.home(t)) for t in types}
        for i, ta in enumerate(types):
            for tb in types[i:]:
                if only and (ta, tb) not in only and (tb, ta) not in only:
                    table[(ta, tb)] = table[(tb, ta)] = '(not run)'
                    continue
                ha, hb = homes[ta][0], homes[tb][1]
                res = []
                for run in range(a.runs):
                    for h in (ha, hb):
                        if h.nat != 'open':
                            lab.conntrack_flush(h)
                    topic = f'natlab-{os.getpid()}-{ta}-{tb}-{run}'
                    # A node of its own per run: its HTTP bootstrap would otherwise list
                    # the cats of earlier runs, which every new cat then meets in vain.
                    with natpeers.LabNode(rdv, bindir, relay=True) as node:
                        node_id = node.listening()['id']
                        r = natpeers.meet(bindir, stun, rdv, node_id, ha.hosts[0],
                                          hb.hosts[0], topic, timeout=a.timeout,
                                          upgrade_within=a.upgrade_within)
                    res.append(r)
                    secs = f'{r["seconds"]:.2f} s' if r['connected'] else '-'
                    print(f'# {ta} x {tb} run {run + 1}: '
                          f'{r["path"] or "not connected"} {secs} (nat {r["nat"]})'
                          + (f', direct at {r["upgraded"]:.2f} s' if r.get('upgraded') else ''),
                          file=sys.stderr, flush=True)
                    if a.verbose and not r['connected']:
                        print(r.get('why', ''), file=sys.stderr, flush=True)
                table[(ta, tb)] = table[(tb, ta)] = cell(res)
    took = time.monotonic() - t0
    print(f'{a.runs} runs per pair, {time.strftime("%Y-%m-%d", time.gmtime())}, '
          f'{took / 60:.1f} min in all; cells: connected/runs (how), p50/p90 from the '
          f'start of both processes to both connected, in ms; for relayed pairs, how many '
          f'moved to a direct path within {a.upgrade_within:.0f} s and the median time from '
          f'the start\n')
    print('| A \\ B | ' + ' | '.join(types) + ' |')
    print('|---' * (len(types) + 1) + '|')
    for ta in types:
        print(f'| {ta} | ' + ' | '.join(table[(ta, tb)] for tb in types) + ' |')


if __name__ == '__main__':
    main()
