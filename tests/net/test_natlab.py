#!/usr/bin/env python3
"""The NAT lab itself (tests/lib/natlab.py), independent of libsetowire: do its NATs
behave as their names say, is its STUN server an RFC 5780 server, does its loss knob
drop what it is asked to?

One lab: coturn on two addresses, two unrelated public hosts (rendezvous, stranger) and
one home of each NAT type with two hosts (a, b). In each host (and public host) runs a
small UDP agent: this file started with --agent inside the namespace, one UDP socket
bound to an ephemeral port, commands as JSON lines on stdin, answers on stdout, with a
Binding client written here from the stdlib alone (RFC 5389 request of 20 bytes, answer
parsed for XOR-MAPPED-ADDRESS, OTHER-ADDRESS, RESPONSE-ORIGIN; RFC 5780 CHANGE-REQUEST).

Checked, per home type:
  1. mapping: a asks the server's primary and alternate addresses for its mapped address;
     open: mapped == local; full cone, port-restricted: one mapping for both, on the
     home's public address; symmetric: same address, different ports;
  2. filtering: a datagram from the stranger to a's mapped address (a having sent only
     to the server) arrives behind open and full cone, not behind port-restricted and
     symmetric; and one to b's port before b sent anything arrives only when open;
     RFC 5780 CHANGE-REQUEST (answer from the other address and port; then from the
     other port only) reaches b behind open and full cone only; coturn's answers carry
     OTHER-ADDRESS = the alternate address and port;
  3. a and b reach each other on the home LAN (both ways); a hole punch between the
     full-cone and the port-restricted home goes through, the mapping unchanged;
  4. conntrack_flush: the full cone forgets a's mapping (the stranger no longer gets in);
     a full-cone mapping (timeout 2 s here) expires when idle, and comes back with use;
  5. loss at 30 % (a home host's inbound, a public host's inbound): 1000 datagrams, the
     lost share is between 20 % and 40 %.
Skipped (77) with the reason when not root or a tool is missing.
"""
import json
import os
import queue
import socket
import struct
import subprocess
import sys
import threading
import time

MAGIC = 0x2112A442
ATTR_MAPPED = 0x0001
ATTR_CHANGE_REQUEST = 0x0003
ATTR_XOR_MAPPED = 0x0020
ATTR_RESPONSE_ORIGIN = 0x802B
ATTR_OTHER_ADDRESS = 0x802C
CHANGE_IP, CHANGE_PORT = 0x04, 0x02


# ---------------------------------------------------------------- STUN (stdlib only)
def stun_request(txid, change=0):
    attrs = b''
    if change:
        attrs = struct.pack('!HHI', ATTR_CHANGE_REQUEST, 4, change)
    return struct.pack('!HHI', 0x0001, len(attrs), MAGIC) + txid + attrs


def _addr(value, xor):
    if len(value) < 8 or value[1] != 0x01:          # IPv4 only in the lab
        return None
    port, = struct.unpack('!H', value[2:4])
    raw = value[4:8]
    if xor:
        port ^= MAGIC >> 16
        raw = bytes(b ^ m for b, m in zip(raw, struct.pack('!I', MAGIC)))
    return [socket.inet_ntoa(raw), port]


def stun_parse(data):
    """(txid, {'mapped':..., 'origin':..., 'other':...}) of a Binding success, else None."""
    if len(data) < 20:
        return None
    mtype, length, magic = struct.unpack('!HHI', data[:8])
    if mtype != 0x0101 or magic != MAGIC or 20 + length > len(data):
        return None
    txid, out, pos = data[8:20], {}, 20
    while pos + 4 <= 20 + length:
        atype, alen = struct.unpack('!HH', data[pos:pos + 4])
        value = data[pos + 4:pos + 4 + alen]
        if len(value) < alen:
            break
        if atype == ATTR_XOR_MAPPED:
            out['mapped'] = _addr(value, True)
        elif atype == ATTR_MAPPED and 'mapped' not in out:
            out['mapped'] = _addr(value, False)
        elif atype == ATTR_RESPONSE_ORIGIN:
            out['origin'] = _addr(value, False)
        elif atype == ATTR_OTHER_ADDRESS:
            out['other'] = _addr(value, False)
        pos += 4 + alen + (-alen % 4)
    return txid, out


# ---------------------------------------------------------------- the agent (in a host)
def agent():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)     # SO_RCVBUFFORCE (root)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(('0.0.0.0', 0))
    sock.settimeout(0.2)
    cond = threading.Condition()
    inbox, stun = [], {}
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                data, src = sock.recvfrom(2048)
            except (socket.timeout, ConnectionRefusedError):
                continue
            except OSError:
                return
            parsed = stun_parse(data)
            with cond:
                if parsed:
                    stun[parsed[0]] = dict(parsed[1], source=list(src))
                else:
                    inbox.append([src[0], src[1], data.decode(errors='replace')])
                cond.notify_all()

    threading.Thread(target=reader, daemon=True).start()

    def reply(obj):
        sys.stdout.write(json.dumps(obj) + '\n')
        sys.stdout.flush()

    def run(cmd):
        op = cmd['op']
        if op == 'stun':
            txid = os.urandom(12)
            req = stun_request(txid, cmd.get('change', 0))
            deadline = time.monotonic() + cmd.get('timeout', 2.0)
            answer = None
            while answer is None and time.monotonic() < deadline:
                sock.sendto(req, tuple(cmd['to']))
                until = min(deadline, time.monotonic() + 0.3)
                with cond:
                    while txid not in stun and time.monotonic() < until:
                        cond.wait(until - time.monotonic())
                    answer = stun.pop(txid, None)
            return answer or {'error': 'timeout'}
        if op == 'send':
            for i in range(cmd.get('count', 1)):
                sock.sendto(f'{cmd["data"]} {i}'.encode(), tuple(cmd['to']))
                if i % 20 == 19:
                    time.sleep(0.002)
            return {'sent': cmd.get('count', 1)}
        if op == 'recv':
            # wait until `count` datagrams came, or `quiet` s pass without one, or timeout
            deadline = time.monotonic() + cmd.get('timeout', 1.0)
            quiet = cmd.get('quiet', 0.5)
            with cond:
                last = len(inbox)
                idle_until = time.monotonic() + quiet
                while len(inbox) < cmd.get('count', 1 << 30):
                    now = time.monotonic()
                    if now >= deadline or (inbox and now >= idle_until):
                        break
                    cond.wait(min(deadline, idle_until if inbox else deadline) - now)
                    if len(inbox) != last:
                        last = len(inbox)
                        idle_until = time.monotonic() + quiet
                got = inbox[:]
                inbox.clear()
            return {'got': got}
        return {'error': f'unknown op {op}'}

    reply({'port': sock.getsockname()[1]})
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            reply(run(cmd))
        except OSError as e:
            reply({'error': f'{type(e).__name__}: {e}'})
    done.set()


# ---------------------------------------------------------------- the test side
HERE = os.path.dirname(os.path.abspath(__file__))


class Agent:
    """One agent process in a lab host; call() sends a command, result() reads its answer."""

    def __init__(self, host):
        self.host = host
        self.proc = host.spawn([sys.executable, os.path.abspath(__file__), '--agent'],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self.result(10)['port']

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def call(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + '\n')
        self.proc.stdin.flush()
        return self

    def result(self, timeout=15):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f'agent in {self.host!r} did not answer in {timeout} s')
        if line is None:
            raise AssertionError(f'agent in {self.host!r} exited ({self.proc.poll()})')
        return json.loads(line)

    def __call__(self, **cmd):
        return self.call(**cmd).result()


def parallel(calls):
    """Send each (agent, cmd) first, then collect the answers in order."""
    for agent, cmd in calls:
        agent.call(**cmd)
    return [agent.result() for agent, _ in calls]


failures = []


def check(ok, what):
    print(('ok   ' if ok else 'FAIL ') + what, flush=True)
    if not ok:
        failures.append(what)


def expect_recv(arrives, count=3):
    """A recv command: a short wait when nothing should come, a patient one (ending as
    soon as `count` came) when something should."""
    return dict(op='recv', count=count, timeout=3.0) if arrives else dict(op='recv', timeout=1.0)


def lost_share(sender, receiver, to, n=1000):
    sender(op='send', to=to, data='loss', count=n)
    got = receiver(op='recv', timeout=5.0, quiet=0.5, count=n)['got']
    return 1 - len(got) / n


def main():
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
    import natlab
    t0 = time.monotonic()
    with natlab.Lab('labtest') as lab:
        stun = lab.stun_server()
        s1, s2 = (stun.ip, stun.port), (stun.alt_ip, stun.port)
        rdv = lab.public_host('rendezvous')
        stranger_host = lab.public_host('stranger')
        homes = {nat: lab.home(nat, hosts=2) for nat in natlab.NAT_TYPES}
        built = time.monotonic()
        print(f'lab built in {built - t0:.1f} s: {homes}', flush=True)

        # the lab is closed: core has no default route, nothing links to this host
        routes = lab.core.run('ip', 'route', 'show', 'default').stdout.strip()
        check(routes == '', f'core has no default route ({routes or "none"})')

        stranger, rendezvous = Agent(stranger_host), Agent(rdv)
        agents = {nat: [Agent(h) for h in home.hosts] for nat, home in homes.items()}
        for nat, (a, b) in agents.items():
            print(f'  {nat}: a {a.host.ip}:{a.port} b {b.host.ip}:{b.port} '
                  f'public {homes[nat].public_ip}', flush=True)

        # 2b. unsolicited: the stranger to each home's public address at b's port, before
        # b sent anything (open: b's own address).
        for nat, (a, b) in agents.items():
            target = b.host.ip if nat == 'open' else homes[nat].public_ip
            stranger(op='send', to=[target, b.port], data='unsolicited', count=3)
        got = parallel([(b, expect_recv(nat == 'open')) for nat, (a, b) in agents.items()])
        for nat, g in zip(agents, got):
            check(bool(g['got']) == (nat == 'open'),
                  f'{nat}: unsolicited datagram to a port never used '
                  f'{"arrives" if g["got"] else "is dropped"}')

        # 2c. RFC 5780 filtering probe from b: answer from the other address and port.
        answers = parallel([(b, dict(op='stun', to=list(s1), change=CHANGE_IP | CHANGE_PORT,
                                     timeout=1.5)) for a, b in agents.values()])
        for nat, ans in zip(agents, answers):
            want = nat in ('open', 'full_cone')
            check(('mapped' in ans) == want,
                  f'{nat}: CHANGE-REQUEST (ip+port) answer {"arrives" if "mapped" in ans else "is filtered"}'
                  + (f' from {ans.get("source")} origin {ans.get("origin")}' if 'mapped' in ans else ''))
            if 'mapped' in ans:
                check(ans['source'] == [stun.alt_ip, stun.alt_port],
                      f'{nat}: the changed answer comes from the alternate address and port')

        # 2d. port-dependent filtering: an answer from the same address, other port
        # (told apart from address-restricted filtering, which would let it in).
        answers = parallel([(b, dict(op='stun', to=list(s1), change=CHANGE_PORT,
                                     timeout=1.5)) for a, b in agents.values()])
        for nat, ans in zip(agents, answers):
            want = nat in ('open', 'full_cone')
            check(('mapped' in ans) == want,
                  f'{nat}: CHANGE-REQUEST (port) answer '
                  f'{"arrives from " + str(ans.get("source")) if "mapped" in ans else "is filtered"}')

        # 1. mapping, from a, towards the primary then the alternate server address.
        m1 = parallel([(a, dict(op='stun', to=list(s1))) for a, b in agents.values()])
        m2 = parallel([(a, dict(op='stun', to=list(s2))) for a, b in agents.values()])
        for nat, r1, r2 in zip(agents, m1, m2):
            a = agents[nat][0]
            pub = homes[nat].public_ip
            check('mapped' in r1 and 'mapped' in r2, f'{nat}: both servers answer ({r1}, {r2})')
            if 'mapped' not in r1 or 'mapped' not in r2:
                continue
            check(r1.get('other') == [stun.alt_ip, stun.alt_port],
                  f'{nat}: OTHER-ADDRESS is the alternate address {r1.get("other")}')
            if nat == 'open':
                ok = r1['mapped'] == r2['mapped'] == [a.host.ip, a.port]
            elif nat == 'symmetric':
                ok = (r1['mapped'][0] == r2['mapped'][0] == pub
                      and r1['mapped'][1] != r2['mapped'][1])
            else:
                ok = r1['mapped'] == r2['mapped'] and r1['mapped'][0] == pub
            check(ok, f'{nat}: mapped {r1["mapped"]} towards S1, {r2["mapped"]} towards S2 '
                      f'(local {a.host.ip}:{a.port})')

        # 2a. filtering: the stranger to a's mapping towards S1.
        for nat, r1 in zip(agents, m1):
            if 'mapped' in r1:
                stranger(op='send', to=r1['mapped'], data='stranger', count=3)
        got = parallel([(a, expect_recv(nat in ('open', 'full_cone')))
                        for nat, (a, b) in agents.items()])
        for nat, g in zip(agents, got):
            want = nat in ('open', 'full_cone')
            check(bool(g['got']) == want,
                  f'{nat}: stranger to the mapped address {"arrives" if g["got"] else "is dropped"}')

        # 3. the home LAN, both ways.
        for nat, (a, b) in agents.items():
            a(op='send', to=[b.host.ip, b.port], data='lan-a')
            b(op='send', to=[a.host.ip, a.port], data='lan-b')
        got = parallel([x for a, b in agents.values()
                        for x in ((b, expect_recv(True, 1)), (a, expect_recv(True, 1)))])
        for i, nat in enumerate(agents):
            gb, ga = got[2 * i]['got'], got[2 * i + 1]['got']
            check(any(d[2].startswith('lan-a') for d in gb)
                  and any(d[2].startswith('lan-b') for d in ga),
                  f'{nat}: a and b reach each other on the LAN')

        # 3b. a hole punch between the port-restricted and the full-cone home: the
        # first datagram (full cone to port-restricted) is dropped without leaving a
        # conntrack entry behind (router firewall), so the answer keeps its mapping.
        names = list(agents)
        fc, pr = agents['full_cone'][0], agents['port_restricted'][0]
        m_fc, m_pr = m1[names.index('full_cone')], m1[names.index('port_restricted')]
        if 'mapped' in m_fc and 'mapped' in m_pr:
            fc(op='send', to=m_pr['mapped'], data='punch-1')
            g1 = pr(**expect_recv(False))['got']
            pr(op='send', to=m_fc['mapped'], data='punch-2')
            g2 = fc(**expect_recv(True, 1))['got']
            fc(op='send', to=m_pr['mapped'], data='punch-3')
            g3 = pr(**expect_recv(True, 1))['got']
            check(not g1 and [d[:2] for d in g2] == [m_pr['mapped']] and len(g3) == 1,
                  f'punch full cone <-> port-restricted: first dropped ({len(g1)}), answer '
                  f'from {[d[:2] for d in g2]} (mapping {m_pr["mapped"]}), then through ({len(g3)})')

        # 4. conntrack_flush forgets the full cone's mapping (open: nothing to forget).
        for nat in ('full_cone', 'open'):
            lab.conntrack_flush(homes[nat])
            stranger(op='send', to=m1[list(agents).index(nat)]['mapped'],
                     data='after-flush', count=3)
            g = agents[nat][0](**expect_recv(nat == 'open'))['got']
            check(bool(g) == (nat == 'open'),
                  f'{nat}: after conntrack_flush the stranger {"arrives" if g else "is dropped"}')

        # 4b. a full-cone mapping expires without outbound traffic, and comes back
        # with it (mapping timeout shortened to 2 s in a home of its own).
        short = lab.home('full_cone', hosts=1, mapping_timeout=2)
        h = Agent(short.hosts[0])
        m = h(op='stun', to=list(s1))
        time.sleep(2.5)
        stranger(op='send', to=m['mapped'], data='expired', count=3)
        g1 = h(**expect_recv(False))['got']
        h(op='stun', to=list(s1))
        stranger(op='send', to=m['mapped'], data='renewed', count=3)
        g2 = h(**expect_recv(True))['got']
        check(not g1 and len(g2) == 3,
              f'full cone mapping expiry: {len(g1)} in after 2.5 s idle, {len(g2)} after renewal')

        # 4c. set_nat: the symmetric home becomes a full cone in place. Its host keeps its
        # socket; the mapping is now the same towards both servers and open to anyone.
        sym = agents['symmetric'][0]
        lab.set_nat(homes['symmetric'], 'full_cone')
        r1, r2 = sym(op='stun', to=list(s1)), sym(op='stun', to=list(s2))
        ok = 'mapped' in r1 and 'mapped' in r2 and r1['mapped'] == r2['mapped']
        if ok:
            stranger(op='send', to=r1['mapped'], data='after-set-nat', count=3)
        g = sym(**expect_recv(True))['got'] if ok else []
        check(ok and len(g) == 3,
              f'set_nat symmetric -> full_cone: mapped {r1.get("mapped")} / {r2.get("mapped")}, '
              f'{len(g)} of 3 stranger datagrams in')

        # 5. loss: a home host's inbound (LAN traffic), a public host's inbound (via core).
        a, b = agents['port_restricted']
        lab.set_loss(b.host, 30, direction='in')
        share = lost_share(a, b, [b.host.ip, b.port])
        check(0.20 <= share <= 0.40, f'loss 30 % on a home host: {share:.1%} lost of 1000')
        lab.set_loss(b.host, 0)
        share = lost_share(a, b, [b.host.ip, b.port], n=200)
        check(share == 0, f'loss removed: {share:.1%} lost of 200')
        lab.set_loss(stranger_host, 30)
        share = lost_share(rendezvous, stranger, [stranger_host.ip, stranger.port])
        check(0.20 <= share <= 0.40, f'loss 30 % on a public host: {share:.1%} lost of 1000')
        print(f'checks took {time.monotonic() - built:.1f} s', flush=True)
        log = lab.stun_log()
    print(f'total {time.monotonic() - t0:.1f} s', flush=True)
    if failures:
        print('coturn log tail:\n' + log[-1500:], file=sys.stderr)
        print(f'{len(failures)} check(s) failed', file=sys.stderr)
        sys.exit(1)
    print('all NAT lab checks passed')


if __name__ == '__main__':
    if '--agent' in sys.argv:
        agent()
    else:
        main()
