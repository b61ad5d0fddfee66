#!/usr/bin/env python3
"""Run one Python reference Setowire peer (py-setowire) under test control.

    ref_peer.py --seed HEX [--port N] [--connect HOST:PORT]... [--topic TEXT] [--echo] [--lan]
                [--lab URL]

--seed      identity seed (non-empty, even-length hex; same id as ref_peer.js)
--port      main socket port on 127.0.0.1 (default 0 = ephemeral; see "listening")
--connect   dial a loopback address with the reference's own dial (repeatable)
--topic     join(SHA-256(TEXT as UTF-8)) with every discovery method neutralised
--echo      write every received message back to its sender with the last byte
            XOR 0xFF (identical content would be dropped as a duplicate)
--lan       keep the reference's LAN multicast discovery on (beacons to 239.0.0.1,
            its own LAN-IP detection, sockets bound to 0.0.0.0, sends to private and
            multicast addresses allowed). Refused unless this process runs in a named
            network namespace (ip netns exec; tests/lib/netns.py makes them): multicast
            must never leave the machine.
--lab URL   NAT lab mode (tests/net/test_nat_refpeer.py): the reference keeps its own
            STUN client and its hard-wired STUN host names (the lab maps those names to
            its own STUN servers in /etc/netns/<namespace>/hosts), and URL (http://IP:PORT
            of the lab's setowire-node) is its only HTTP bootstrap. Piping, seeds, the
            built-in HTTP bootstrap list and LAN beacons stay off; sockets bind 0.0.0.0;
            sends go only to private IPv4 addresses (the lab's 172.30/16 and home LANs) or
            to the STUN host names; HTTP only to URL. Refused outside a named network
            namespace, like --lan. --connect then accepts any private address.

stdout: one JSON object per line, flushed, one per event:
    {"event":"listening","id":"<40 hex>","port":N}
    {"event":"connection","peer":"<16 hex>"}
    {"event":"data","peer":"<16 hex>","hex":"<payload hex>"}
    {"event":"disconnect","peer":"<16 hex>"}
    {"event":"nat","addr":"IP:PORT","type":"..."}   (--lab: the reference's STUN result)
    {"event":"close"}
stdin, one command per line:
    send HEX     broadcast these bytes to every peer with a session
    sendbig N    broadcast N bytes of the pattern (i*7+3)&255
    flood N S    broadcast N distinct S-byte messages (S >= 8: a u64le counter that
                 keeps counting across floods, then 0xAB filler) in one go, then print
                 {"event":"flooded","count":N}.  The reference queues 2047 per peer
                 and drops silently beyond its window and token bucket (PROTOCOL 8.3)
    store K HEX  store(K, bytes) (PROTOCOL.md 12); storebig K N stores N pattern bytes
    fetch K MS   fetch(K, timeout=MS) in the background, then print
                 {"event":"fetched","key":K,"len":N,"sha256":"<hex>"} or
                 {"event":"fetch_error","key":K,"error":"..."}; every value the
                 reference accepts from a CHUNK also prints {"event":"sync","key":K,"len":N}
    relays       print {"event":"relays","list":[{"id","ip","port"}...]}: the relays the
                 reference remembered (from RELAY_ANN or the DHT)
    quit         destroy the swarm, print close, exit 0 (end of input = quit)
Diagnostics go to stderr only.  Exit 2 on bad arguments, 77 (with "SKIP:") when the
reference cannot be loaded.

The reference is the folder holding swarm.py: $SETOWIRE_REF_PY, else <repo>/.refs/py.
The driver only reads it; nothing of it is copied here.

Network rule: loopback only.  Before the Swarm exists we
  - empty the STUN, piping, HTTP bootstrap and seed lists and make STUN and the LAN
    multicast beacon no-ops (they are the reference's only outbound defaults);
  - replace the LAN-IP probe, which connect()s a UDP socket towards 8.8.8.8;
  - make urllib refuse to open anything (HTTP discovery, in case a list was missed);
  - bind every UDP endpoint of the loop (main socket, and the DHT socket that join()
    creates after its 5 s STUN fallback) to 127.0.0.1, and wrap sendto so that a
    non-loopback destination is dropped with a stderr line instead of sent.
Checked (with a second driver dialling it) by
    (sleep 9; echo quit) | strace -f -e trace=network -o /tmp/st \
        python3 ref_peer.py --seed 01 --topic t
    grep -E 'sin6?_addr' /tmp/st | grep -v '"127.0.0.1"'        -> prints nothing
(9 s lets join()'s 5 s discovery fallback run), and `ss -uanp` shows only
127.0.0.1 sockets (no 0.0.0.0 bind, no multicast socket on 45678).

Reference behaviour worth knowing: quit takes ~2 s (destroy() drains for 2 s), and
the 1-byte GOAWAY it sends is discarded by every reference, so the other side
reports "disconnect" only after its 60 s timeout.  Exit 1 if --port is taken.
"""
import argparse
import asyncio
import hashlib
import ipaddress
import json
import os
import re
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REF = os.environ.get('SETOWIRE_REF_PY') or os.path.join(REPO, '.refs', 'py')


def emit(**obj):
    sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')
    sys.stdout.flush()


def log(msg):
    print('ref_peer.py: ' + msg, file=sys.stderr, flush=True)


def is_loopback(host):
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False   # a name we would have to resolve: never ours to send to


def pattern(n):
    return bytes((i * 7 + 3) & 255 for i in range(n))


def in_own_netns():
    """Whether we run in a named network namespace (`ip netns add` + `ip netns exec`):
    our namespace is one of those bound under /run/netns (PID 1's is not readable here)."""
    try:
        me = os.stat('/proc/self/ns/net')
        for d in ('/run/netns', '/var/run/netns'):
            if os.path.isdir(d):
                for n in os.listdir(d):
                    st = os.stat(os.path.join(d, n))
                    if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
                        return True
    except OSError:
        pass
    return False


def lan_allowed(host):
    """Under --lan: loopback, private (the namespace's own /24) and the LAN group."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip == ipaddress.ip_address('239.0.0.1')


def lab_allowed(host):
    """Under --lab: a private IPv4 literal (lab public network 172.30/16, home LANs)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.version == 4 and ip.is_private and not ip.is_multicast


def parse_args():
    ap = argparse.ArgumentParser(description='Python reference Setowire peer driver')
    ap.add_argument('--seed', required=True, help='identity seed, hex')
    ap.add_argument('--port', type=int, default=0, help='UDP port of the main socket')
    ap.add_argument('--connect', action='append', default=[], metavar='HOST:PORT')
    ap.add_argument('--topic', help='join SHA-256(TEXT), discovery neutralised')
    ap.add_argument('--echo', action='store_true', help='echo messages, last byte flipped')
    ap.add_argument('--lan', action='store_true',
                    help='keep LAN multicast on (only inside a network namespace)')
    ap.add_argument('--lab', metavar='URL',
                    help='NAT lab mode: own STUN, URL as HTTP bootstrap (netns only)')
    a = ap.parse_args()
    if a.lan and not in_own_netns():
        ap.error('--lan only inside a network namespace of its own (ip netns exec)')
    if a.lab is not None:
        if not in_own_netns():
            ap.error('--lab only inside a network namespace of its own (ip netns exec)')
        m = re.fullmatch(r'http://([0-9.]+):(\d+)/?', a.lab)
        if not m or not lab_allowed(m.group(1)):
            ap.error('--lab URL: need http://PRIVATE-IPv4:PORT')
    # Both drivers insist on the same seed form so one seed gives one id in both
    # references (they disagree on empty and invalid hex, PROTOCOL.md 17.18).
    if not re.fullmatch(r'(?:[0-9a-fA-F]{2})+', a.seed):
        ap.error('--seed must be non-empty hex with an even number of digits')
    if not 0 <= a.port <= 65535:
        ap.error('--port out of range')
    dials = []
    for hp in a.connect:
        host, _, port = hp.rpartition(':')
        ok = lab_allowed(host) if a.lab else is_loopback(host)
        if not host or not port.isdigit() or not ok:
            ap.error(f'--connect {hp}: need a loopback HOST:PORT (private under --lab)')
        # The reference keys peers by the text "ip:port" of the datagram source.
        dials.append(('127.0.0.1' if host == 'localhost' else host, int(port)))
    a.dials = dials
    return a


def load_reference(lan=False, lab=None):
    if not os.path.isfile(os.path.join(REF, 'swarm.py')):
        print(f'SKIP: Python reference not found (no swarm.py in {REF})', file=sys.stderr)
        sys.exit(77)
    sys.dont_write_bytecode = True        # leave the reference folder untouched
    sys.path.insert(0, REF)
    try:
        import swarm as ref
    except ImportError as e:              # typically python3 `cryptography` missing
        print(f'SKIP: cannot import the Python reference: {e}', file=sys.stderr)
        sys.exit(77)

    # Outbound defaults.  swarm.py copied these names from constants.py at import
    # time, so patch the swarm module's own bindings.
    stun_names = {s['host'] for s in ref.STUN_HOSTS}
    if not lab:
        ref.STUN_HOSTS = []
    ref.PIPING_SERVERS = []
    ref.HARDCODED_HTTP_BOOTSTRAP = []
    ref.HARDCODED_SEEDS = []
    if not lab:
        ref.Swarm._stun_lazy = lambda self: None   # no STUN: public_address stays None
    if lab:
        ref.Swarm._init_lan = lambda self: None    # beacons are not what the lab tests
    elif not lan:
        ref._local_ip = lambda: '127.0.0.1'
        ref.Swarm._init_lan = lambda self: None    # no multicast socket, no beacons

    real_urlopen = ref.urllib.request.urlopen
    base = lab.rstrip('/') + '/' if lab else None

    def guarded_urlopen(req, *a, **k):
        url = req.full_url if hasattr(req, 'full_url') else str(req)
        if base and url.startswith(base):
            return real_urlopen(req, *a, **k)
        raise OSError(f'ref_peer.py: HTTP to {url[:60]} disabled')
    ref.urllib.request.urlopen = guarded_urlopen
    ref.lab_stun_names = stun_names
    return ref


def guard_loop(loop, main_port, lan=False, lab_names=None):
    """Bind every UDP endpoint to loopback (0.0.0.0 under --lan or --lab); the first
    one (Swarm._init) gets main_port.  lab_names: under --lab, the STUN host names the
    reference may send to (the lab resolves them to its own servers)."""
    host = '0.0.0.0' if lan or lab_names is not None else '127.0.0.1'
    if lab_names is not None:
        def allowed(h):
            return lab_allowed(h) or h in lab_names
    else:
        allowed = lan_allowed if lan else is_loopback
    real = loop.create_datagram_endpoint
    first = [True]

    async def create_datagram_endpoint(factory, local_addr=None, **kw):
        port = local_addr[1] if local_addr else 0
        if first[0]:
            first[0], port = False, main_port
        transport, proto = await real(factory, local_addr=(host, port), **kw)
        real_sendto = transport.sendto

        def sendto(data, addr=None):
            if addr is not None and not allowed(addr[0]):
                log(f'blocked send of {len(data)} bytes to {addr[0]}:{addr[1]}')
                return
            real_sendto(data, addr)
        transport.sendto = sendto
        return transport, proto

    loop.create_datagram_endpoint = create_datagram_endpoint


def start_stdin_reader(loop, queue):
    # A thread on the raw fd: works for pipes, ttys, files and /dev/null alike, and
    # (unlike sys.stdin) holds no buffer lock that could hang interpreter shutdown.
    def run():
        buf = b''
        while True:
            try:
                chunk = os.read(0, 65536)
            except OSError:
                chunk = b''
            *lines, buf = (buf + chunk).split(b'\n')
            if not chunk and buf:         # last line without a newline
                lines.append(buf)
            try:
                for ln in lines:
                    loop.call_soon_threadsafe(queue.put_nowait, ln.decode(errors='replace'))
                if not chunk:
                    loop.call_soon_threadsafe(queue.put_nowait, None)
                    return
            except RuntimeError:          # loop already closed: we are exiting
                return
    threading.Thread(target=run, daemon=True).start()


async def main(args, ref):
    loop = asyncio.get_running_loop()
    guard_loop(loop, args.port, args.lan, ref.lab_stun_names if args.lab else None)

    opts = {'seed': args.seed}
    if args.lab:
        opts['bootstrap_http'] = [args.lab.rstrip('/')]
    swarm = ref.Swarm(opts)  # must be built inside the running loop
    closed = []

    def on_close():
        if not closed:
            closed.append(1)
            emit(event='close')
    if args.echo:   # before the data event line: the echo is what gets timed
        swarm.on('data', lambda data, peer: data and peer.write(bytes(data[:-1]) + bytes([data[-1] ^ 0xFF])))
    swarm.on('connection', lambda peer: emit(event='connection', peer=peer.id))
    swarm.on('data', lambda data, peer: emit(event='data', peer=peer.id, hex=bytes(data).hex()))
    swarm.on('disconnect', lambda pid: emit(event='disconnect', peer=pid))
    swarm.on('nat', lambda *_: emit(event='nat', addr=swarm.public_address, type=swarm.nat_type))
    swarm.on('close', on_close)
    swarm.on('sync', lambda key, value: emit(event='sync', key=key, len=len(value)))

    # _init binds the socket and creates the batch sender; only after it has finished
    # can we be dialled or broadcast.  (Its ready event is set from connection_made,
    # which can run before _init has stored _lport and the batch sender.)
    try:
        await swarm._init_task
    except OSError as e:
        log(f'cannot bind the main socket: {e}')
        sys.exit(1)
    emit(event='listening', id=swarm._id, port=swarm._transport.get_extra_info('sockname')[1])

    if args.topic is not None:
        # join() stores the topic hash, then starts discovery 5 s later because STUN
        # never succeeds; every discovery method is already empty or loopback-bound.
        await swarm.join(hashlib.sha256(args.topic.encode('utf-8')).digest())

    for host, port in args.dials:
        # The reference's own dial: 8 HELLOs 300 ms apart, keyed "ip:port".
        swarm._dial(host, port, None, None, None)

    flood_seq = 0
    queue = asyncio.Queue()
    start_stdin_reader(loop, queue)
    while True:
        line = await queue.get()
        if line is None:
            break
        cmd, _, arg = line.strip().partition(' ')
        arg = arg.strip()
        if cmd == 'quit':
            break
        if cmd == 'relays':   # the relays the reference remembered (RELAY_ANN, DHT)
            emit(event='relays', list=[{'id': r['id'], 'ip': r['ip'], 'port': r['port']}
                                       for r in getattr(swarm, '_relays', {}).values()])
            continue
        if cmd == 'send':
            try:
                data = bytes.fromhex(arg)
            except ValueError:
                log(f'send: bad hex {arg!r}')
                continue
        elif cmd == 'sendbig' and arg.isdigit():
            data = pattern(int(arg))
        elif cmd == 'flood' and re.fullmatch(r'\d+ +\d+', arg) and int(arg.split()[1]) >= 8:
            count, size = map(int, arg.split())
            filler = b'\xab' * (size - 8)
            for _ in range(count):    # broadcast() only queues; nothing to wait for
                n = swarm.broadcast(flood_seq.to_bytes(8, 'little') + filler)
                flood_seq += 1
            log(f'flood: {count} x {size} bytes queued to {n if count else 0} peer(s)')
            emit(event='flooded', count=count)
            continue
        elif cmd in ('store', 'storebig', 'fetch'):
            key, _, rest = arg.partition(' ')
            rest = rest.strip()
            if cmd == 'fetch' and key and rest.isdigit():
                async def do_fetch(k, ms):
                    try:
                        v = await swarm.fetch(k, timeout=ms)
                        emit(event='fetched', key=k, len=len(v), sha256=hashlib.sha256(v).hexdigest())
                    except Exception as e:   # asyncio.TimeoutError: 'fetch timeout: <key>'
                        emit(event='fetch_error', key=k, error=str(e) or type(e).__name__)
                loop.create_task(do_fetch(key, int(rest)))
            elif cmd == 'storebig' and key and rest.isdigit():
                swarm.store(key, pattern(int(rest)))
                log(f'storebig: {key} = {rest} bytes')
            elif cmd == 'store' and key and re.fullmatch(r'(?:[0-9a-fA-F]{2})+', rest):
                swarm.store(key, bytes.fromhex(rest))
                log(f'store: {key} = {len(rest) // 2} bytes')
            else:
                log(f'bad command {line.strip()[:60]!r}')
            continue
        elif cmd == '':
            continue
        else:
            log(f'unknown command {line.strip()!r}')
            continue
        n = swarm.broadcast(data)
        log(f'{cmd}: {len(data)} bytes queued to {n} peer(s)')

    await swarm.destroy()                 # GOAWAYs, 2 s drain, then 'close'
    on_close()


if __name__ == '__main__':
    a = parse_args()
    r = load_reference(a.lan, a.lab)
    asyncio.run(main(a, r))
    sys.exit(0)
