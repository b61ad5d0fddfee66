"""A reference peer behind a cone NAT and setowire-cat behind another meet through an
HTTP bootstrap node, in the NAT lab of tests/lib/natlab.py (issue 9).

Lab: a public setowire-node (HTTP bootstrap, DHT, introductions, and a STUN server on
UDP 19302), coturn on 3478/3479 (two addresses), home 1 running the reference
(tests/interop/ref_peer.{py,js} in --lab mode), home 2 behind a port-restricted cone
NAT (MASQUERADE) running setowire-cat; the same topic. Two cases per reference (Python,
then JavaScript), each in a lab of its own:

  full cone        the reference is behind a full-cone NAT and knows only the node's
                   HTTP bootstrap URL;
  port-restricted  the reference is behind a port-restricted NAT and also dials the
                   node (its own 8-HELLO dial, as it dials a seed).

How the reference learns its public address: it asks STUN servers whose host names are
built into it (stun.l.google.com:19302 ... stun.cloudflare.com:3478 ...). The lab has
no route out, so natlab.Lab.map_names() writes /etc/netns/<namespace>/hosts for the
reference's namespace (`ip netns exec` bind-mounts it over /etc/hosts): the 19302 names
resolve to the node's STUN server, the 3478 names to coturn. Checked: `getent hosts`
inside the namespace gives the lab address, and the reference's STUN result (the
driver's "nat" event) is home 1's public address with its socket's port (both NATs
here keep it). Its piping servers are hard-wired host names too, but its HTTP bootstrap
list can be given (bootstrap_http / bootstrapHttp): the driver gives the node's URL
and leaves piping off, so the rendezvous is the node's POST /announce + GET /peers.

The reference starts first; once STUN answers it announces its public address to the
node. setowire-cat starts next (STUN from coturn, the same node as HTTP bootstrap and
as a peer), reads the reference's record and dials its public address.
  full cone: the NAT lets cat's HELLO in; the reference answers to cat's mapped address,
    which cat's own NAT lets in (cat sent there first).
  port-restricted: the reference's NAT drops cat's HELLOs (the reference never sent to
    cat). cat asks the node to introduce it (RELAY_REQ, PROTOCOL.md 15.6); the node,
    which has a session with the reference, sends it RELAY_FWD with cat's mapped
    address, and the reference dials it: both NATs open. (Seen once with the reference's
    RELAY_FWD handler wrapped to log: it ran, with the node as source and cat's mapping
    as address, and the reference's gossip handler did not.)
Checked in both: each side's connection names the other, cat's event carries home 1's
public address (direct, nothing relayed), within 20 s (3.1 s measured from cat's start,
which includes its own STUN and HTTP query), and a message goes each way (a cat line
arrives as a reference data event, a reference `send` as a cat line). In the
port-restricted case the reference may take cat's message from the node, which
forwards topic messages, and then drop the direct copy as a duplicate (seen with
JavaScript), so the data event is not required to name cat there.

Findings (bench/NAT.md, PROTOCOL.md 15.6 and D22):
- A reference behind a port-restricted NAT with no session to one of our peers is
  reached only by luck: nothing can introduce it, it never sends RELAY_REQ itself
  (D25), and it reads the HTTP bootstrap only a few times around its start (0.5 s after
  it, when STUN answers, at join) and then every 180 s (14.5). cat's HELLOs are dropped
  by its NAT; the meeting happens only if one of those early reads comes after cat has
  announced its public address, so the reference dials cat first. Tried: Python, no
  connection in 20 s; JavaScript, once connected and once not (its 0.5 s read falls
  about 0.5 s after cat starts here). That is the references' discovery schedule, not
  their relay or NAT code, and not ours to work around: with a session to the node the
  introduction makes it deterministic (the second case).
- Both references dial their own record when /peers lists it (PROTOCOL.md 14.5, D9):
  a few HELLOs to their own public address, harmless here.
- Its NAT label: Python always says "unknown"; JavaScript says "full_cone" behind the
  port-restricted NAT too (every answer has one address and port: it infers the type
  from the mapping only, D22), so it would offer itself as a relay. Printed, not
  asserted.

Skips (77) without root, without the reference (SETOWIRE_REF_PY / SETOWIRE_REF_JS,
`make refs`), without coturn or nftables. A missing reference skips only its own cases.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, 'lib'))
sys.path.insert(0, os.path.join(TESTS, 'interop'))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
import eventproc  # noqa: E402
import natlab  # noqa: E402
import nodeproc  # noqa: E402
import refpeer  # noqa: E402
from test_nat_punch import HTTP_PORT, LabCat, MAIN_PORT, DHT_PORT  # noqa: E402

REF_STUN_PORT = 19302          # the port of the references' stun*.l.google.com entries
SEED = {'py': '71' * 32, 'js': '72' * 32}
# (the reference's NAT, whether it also dials the node)
CASES = (('full_cone', False), ('port_restricted', True))


class LabNode(nodeproc.Node):
    """setowire-node on a public lab host: HTTP bootstrap, DHT, STUN on 19302."""

    def __init__(self, host, bindir):
        argv = host.wrap([os.path.join(bindir, 'setowire-node'), '--events', '--bind', host.ip,
                          '--port', str(MAIN_PORT), '--http-port', str(HTTP_PORT),
                          '--dht-port', str(DHT_PORT), '--stun-port', str(REF_STUN_PORT)])
        eventproc.EventProc.__init__(self, argv, 'node')


def reference_names(rdv, stun):
    """The reference's STUN host names mapped to the lab's servers by port."""
    names = {}
    # The same list is built into both references (constants.py / constants.js).
    for host, port in (('stun.l.google.com', 19302), ('stun1.l.google.com', 19302),
                       ('stun2.l.google.com', 19302), ('stun.cloudflare.com', 3478),
                       ('stun.stunprotocol.org', 3478), ('global.stun.twilio.com', 3478),
                       ('stun.ekiga.net', 3478)):
        names[host] = rdv.ip if port == REF_STUN_PORT else stun.ip
    return names


def wait_udp(host, ip, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = host.run('ss', '-Hlun').stdout
        if f'{ip}:{port}' in out:
            return
        time.sleep(0.1)
    raise AssertionError(f'nothing listens on {ip}:{port} in {host.name}')


def one(kind, bindir, ref_nat, via_node):
    """The reference behind a `ref_nat` home, cat behind a port-restricted one. via_node:
    the reference also dials the node (its own dial, as it dials a seed), so the node
    can introduce cat to it."""
    topic = f'nat-ref-{kind}-{ref_nat}-{os.getpid()}'
    case = f'{kind} {ref_nat.replace("_", "-")}'
    with natlab.Lab(tag=f'r{kind}') as lab:
        stun = lab.stun_server()
        rdv = lab.public_host('rendezvous')
        home1, home2 = lab.home(ref_nat), lab.home('port_restricted')
        refhost, cathost = home1.hosts[0], home2.hosts[0]
        names = reference_names(rdv, stun)
        lab.map_names(refhost, names)
        for name, ip in names.items():
            got = refhost.run('getent', 'hosts', name).stdout.split()
            assert got[:1] == [ip], f'{name} resolves to {got} in {refhost.name}, not {ip}'
        with LabNode(rdv, bindir) as node:
            node.listening()
            wait_udp(rdv, rdv.ip, REF_STUN_PORT)
            url = f'http://{rdv.ip}:{HTTP_PORT}'
            conn = [f'{rdv.ip}:{MAIN_PORT}'] if via_node else []
            ref = refpeer.RefPeer(kind, SEED[kind], topic=topic, lab=url, wrap=refhost.wrap,
                                  name=f'ref-{kind}', connect=conn)
            with ref:
                ref_id = ref.listening()['id']
                nat = ref.expect('nat', timeout=15.0)
                want = f'{home1.public_ip}:{ref.port}'
                assert nat['addr'] == want, f'reference learned {nat["addr"]}, not {want}'
                if kind == 'js':   # its guess from the 7 answers (PROTOCOL.md 18, D22)
                    label = ref.expect('nattype', timeout=10.0)['type']
                else:
                    label = nat['type']
                print(f'ok {case}: the reference learned {nat["addr"]} from the lab STUN '
                      f'servers (its own NAT label: {label})', flush=True)
                cat = LabCat(cathost, bindir, stun, rdv, topic, 'cat')
                with cat:
                    started = time.monotonic()
                    cat_id = cat.listening()['id']
                    cat.expect('nat', timeout=15.0)
                    ev_cat = cat.expect('connection', timeout=20.0, peer=ref_id[:16])
                    ref.expect('connection', timeout=10.0, peer=cat_id[:16])
                    took = time.monotonic() - started
                    assert ev_cat['addr'] == want, \
                        f'cat reached the reference at {ev_cat["addr"]}, not at {want}'
                    assert 'relay' not in str(ev_cat.get('path', 'direct')), ev_cat
                    cat.feed('from cat')
                    # Through the node too when the reference has a session with it (the
                    # node forwards topic messages; the second copy is a duplicate).
                    fields = {} if via_node else {'peer': cat_id[:16]}
                    ref.expect('data', timeout=10.0, hex=b'from cat'.hex(), **fields)
                    ref.send(b'from ref')
                    cat.expect_line('from ref', timeout=10.0)
                    print(f'ok {case}: met cat directly at {ev_cat["addr"]} in {took:.1f} s '
                          f'({"reference also connected to the node" if via_node else "HTTP bootstrap record only"}),'
                          f' a message each way', flush=True)


def main():
    bindir = catproc.bin_dir()
    passed, skipped = 0, []
    for kind in ('py', 'js'):
        why = refpeer.missing(kind)
        if why:
            print(f'SKIP {kind}: {why}', file=sys.stderr, flush=True)
            skipped.append(why)
            continue
        for ref_nat, via_node in CASES:
            one(kind, bindir, ref_nat, via_node)
            passed += 1
    if not passed:
        eventproc.skip('; '.join(skipped))
    print(f'{passed} passed, 0 failed' + (f', {len(skipped)} skipped' if skipped else ''))


if __name__ == '__main__':
    main()
