"""A NAT lab made of network namespaces: a public network, homes behind NAT routers of a
chosen type, a rendezvous host, a STUN server (coturn) with two addresses, and a loss knob.
For tests of NAT traversal that need real kernels, real NATs and separate hosts.

    import natlab
    with natlab.Lab() as lab:                   # skips (exit 77) when not possible
        stun = lab.stun_server()                # coturn, STUN only, RFC 5780 on
        rdv = lab.public_host('rendezvous')     # a host with a public address
        home = lab.home('symmetric', hosts=2)   # NAT router + 2 hosts on its LAN
        a, b = home.hosts
        a.ip, home.public_ip, stun.ip, stun.alt_ip, stun.port, stun.alt_port
        proc = a.spawn(['python3', 'client.py'], stdout=subprocess.PIPE)  # killed by PID
        argv = a.wrap(['setowire-cat', ...])    # ['ip', 'netns', 'exec', <ns>, ...]
        lab.set_loss(a, 30)                     # 30 % of a's datagrams dropped, both ways
        lab.set_loss(home, 10, direction='in')  # loss on the home's uplink
        lab.conntrack_flush(home)               # the router forgets every mapping
        lab.map_names(a, {'stun.example': stun.ip})  # a's /etc/hosts (ip netns exec)

API:
    Lab(tag='nat')                   context manager; lab.core, lab.homes, lab.public,
                                     lab.stun, lab.tmpdir (removed at close)
    lab.home(nat, hosts=1, lan=None, firewall=True, mapping_timeout=120) -> Home
        Home: .nat, .index, .public_ip, .lan, .router (a Node), .hosts [Host]
    lab.public_host(role) -> Host    a host with a public address (home is None)
    lab.stun_server(port=3478, alt_port=port+1) -> StunServer (a Host)
        .ip, .alt_ip, .port, .alt_port, .addresses (the four), .proc; lab.stun_log()
    Node / Host: .name (namespace), .ip, .role, .home, .ports (ephemeral slice, homes
        only); .wrap(argv), .run(*argv) -> CompletedProcess, .spawn(argv, **popen_kw)
    lab.set_loss(node, percent, direction='both')   Host, StunServer, Home or router
    lab.set_nat(home, nat)           change a NAT home's type in place (and flush its
                                     mappings, as a router restarted with new rules)
    lab.conntrack_flush(home), lab.conntrack(home) -> text,
    lab.set_udp_timeouts(home, unreplied=None, assured=None)  (conntrack, seconds)
    lab.map_names(node, {name: ip}) host names that resolve, inside node's namespace, to
        lab addresses: writes /etc/netns/<namespace>/{hosts,resolv.conf}, which
        `ip netns exec` bind-mounts over /etc (ip-netns(8)); for programs with host
        names built in (the references' STUN servers). resolv.conf names 127.0.0.1, so
        any other name fails at once inside the lab instead of asking a DNS server.

The STUN server is coturn's turnserver, STUN only (no TURN, no authentication, no CLI,
UDP only), listening on both addresses and both ports, logging to lab.tmpdir. Its RFC
5780 support is on: answers carry OTHER-ADDRESS (alt_ip, alt_port) and RESPONSE-ORIGIN,
and CHANGE-REQUEST is honoured (change IP: answer from alt_ip; change port: from
alt_port).

NAT types (`Lab.home(nat)`; '-' or ' ' may stand for '_'):

    open             no NAT: the home LAN is a public prefix routed to the router, so a
                     home host's address is public (mapped == local)
    full_cone        endpoint-independent mapping and filtering: MASQUERADE (port kept)
                     plus an nftables table in the router that remembers each mapped UDP
                     port (a timeout set per host, refreshed by outbound datagrams, 120 s)
                     and DNATs any inbound datagram to a remembered port to its host
    port_restricted  iptables MASQUERADE: endpoint-independent mapping (the port is kept
                     when free), address-and-port-dependent filtering (conntrack)
    symmetric        iptables MASQUERADE --random-fully: a new random port for each
                     destination (endpoint-dependent mapping), filtering as above

NAT routers also drop every datagram from the WAN to the router itself that belongs to
no known flow, before conntrack records it (`firewall=True`, the default). A bare Linux
router (`firewall=False`) answers it with ICMP port unreachable and keeps a conntrack
entry for it; when the host later sends to that same peer from the port the peer aimed
at, the entry clashes and MASQUERADE maps the flow to a new port: the peer's first punch
arriving before the host's own changes the host's mapping even on a "cone" NAT (the
peer then sees it at a peer-reflexive address). Linux routers without such a filter do
the same.

A full-cone mapping expires `mapping_timeout` s (120) after its last outbound
datagram: from then on new endpoints are dropped, but an endpoint that already got in
keeps its own conntrack entry (30 s unreplied, 120 s two-way) and still gets through.

Hairpinning (a host sending to its own home's public address) is not done: hosts of
one home reach each other by their LAN addresses.

Each host of a home gets its own slice of ephemeral ports (`host.ports`, set as the
namespace's ip_local_port_range) so that two hosts of one home never ask the NAT for the
same source port. Full cone holds for sockets bound to port 0 or to a port in host.ports:
a port that collides with another host's mapping is renumbered by MASQUERADE and then
inbound datagrams to the new port are not forwarded back (a real full-cone NAT would).

Layout (every address chosen here and used only inside the lab's namespaces):

    core  (router namespace, forwarding on; 172.30.255.254 on each of its veths)
      |-- veth -- public host   172.30.0.N/32   (default via 172.30.255.254)
      |-- veth -- STUN server   172.30.0.N/32 and 172.30.0.N+1/32
      |-- veth -- home K router 172.30.0.N/32 (WAN `eth0`)
                    |-- bridge `lan` 192.168.K.1/24 (NAT) or 172.30.K.1/24 (open)
                          |-- veth -- host 192.168.K.10+i/24 (default via .1)

Every public datagram is routed by core (no bridge there), so iptables in core sees it:
that is where the loss of public nodes is applied. A home's LAN is a bridge inside its
router (hosts of one home reach each other directly, multicast included). Homes may share
a LAN prefix (`lan='192.168.1.0/24'` for each), as real homes do. There is no link to the
host's own namespace and forwarding is enabled only in core and the routers, so nothing
in the lab can reach the host's network or anything beyond it.

Loss (`Lab.set_loss(node, percent, direction='both'|'in'|'out')`) uses the iptables
`statistic` match (random mode), never in the sender's own OUTPUT chain (a drop there
fails sendto() with EPERM instead of losing the datagram):
    public host, STUN server: core's FORWARD, towards / from its veth;
    home host: 'in' in its own INPUT chain (all it receives, LAN included), 'out' in its
               router's FORWARD (what it sends beyond the LAN; LAN traffic is bridged);
    home (or its router): core's FORWARD, towards / from the router's WAN veth.
Setting a new percentage replaces the old one; 0 removes the loss.

Needs root, iproute2, iptables, and for some parts nftables (full cone), coturn
(`turnserver`, for stun_server()) and conntrack (conntrack_flush()); a missing piece
skips the test loudly (exit 77). Everything is removed when the `with` block ends, at
interpreter exit and on SIGTERM: processes started through the lab are killed by PID,
any other process left in a lab namespace is killed by PID (`ip netns pids`), then the
namespaces are deleted (which deletes their veths and bridges) and their /etc/netns
folders removed. A lab that died without closing (SIGKILL) leaves namespaces and
/etc/netns folders named swl-<PID>-...: a new Lab removes the /etc/netns folders of
labs whose PID is gone.
"""
import atexit
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from eventproc import skip  # noqa: E402  (also turns SIGTERM into a clean exit)

NAT_TYPES = ('open', 'full_cone', 'port_restricted', 'symmetric')
GATEWAY = '172.30.255.254'       # core's address on every veth
PUBLIC_POOL = '172.30.0.0/24'    # public hosts, STUN server, routers' WAN
FULL_CONE_TIMEOUT = 120          # seconds a full-cone mapping lives without outbound
PORT_SLICE = 1000                # ephemeral ports per home host
PORT_BASE = 20000

_labs = []          # every Lab not yet closed, for the atexit sweep


def _close_all():
    for lab in list(_labs):
        lab.close()


atexit.register(_close_all)

ETC_NETNS = '/etc/netns'


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_etc_netns():
    """Remove /etc/netns/swl-<PID>-* left by labs whose process is gone."""
    try:
        names = os.listdir(ETC_NETNS)
    except OSError:
        return
    for n in names:
        m = re.fullmatch(r'swl-(\d+)-.+', n)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(ETC_NETNS, n), ignore_errors=True)


def _cmd(argv, check=True, input=None, timeout=20):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       input=input, timeout=timeout)
    if check and r.returncode:
        raise RuntimeError(f'{" ".join(map(str, argv))}: {(r.stderr or r.stdout).strip()}')
    return r


def available():
    """None when the lab can be built here, else the reason."""
    if os.geteuid() != 0:
        return 'the NAT lab needs root (network namespaces and iptables)'
    for tool, pkg in (('ip', 'iproute2'), ('iptables', 'iptables')):
        if not shutil.which(tool):
            return f'`{tool}` not found (install {pkg}, see scripts/setup.sh)'
    probe = f'swl-{os.getpid()}-probe'
    r = _cmd(['ip', 'netns', 'add', probe], check=False)
    if r.returncode:
        return f'`ip netns add` failed: {r.stderr.strip()}'
    try:
        r = _cmd(['ip', 'netns', 'exec', probe, 'iptables', '-t', 'nat', '-S'], check=False)
        if r.returncode:
            return f'iptables nat table not usable in a namespace: {r.stderr.strip()}'
    finally:
        _cmd(['ip', 'netns', 'del', probe], check=False)
    return None


def normalize_nat(nat):
    n = str(nat).strip().lower().replace('-', '_').replace(' ', '_')
    if n not in NAT_TYPES:
        raise ValueError(f'unknown NAT type {nat!r}: one of {", ".join(NAT_TYPES)}')
    return n


class Node:
    """One namespace: `name`, `ip` (its main address), `role`."""

    def __init__(self, lab, name, ip, role):
        self.lab, self.name, self.ip, self.role = lab, name, ip, role
        self.dev = None        # core's veth towards it (nodes on the public network)

    def wrap(self, argv):
        """argv run inside this namespace (`ip netns exec` execs it: same PID)."""
        return ['ip', 'netns', 'exec', self.name, *[str(a) for a in argv]]

    def run(self, *argv, check=False, timeout=20, input=None):
        """Run a short command here and return its CompletedProcess (text)."""
        return _cmd(self.wrap(argv), check=check, timeout=timeout, input=input)

    def spawn(self, argv, **popen_kw):
        """Start a process here; the lab kills it by PID when it closes."""
        return self.lab.spawn(self, argv, **popen_kw)

    def __repr__(self):
        return f'<{type(self).__name__} {self.role} {self.name} {self.ip}>'


class Host(Node):
    """A host: public (home is None) or on a home's LAN (ports: its ephemeral slice)."""

    def __init__(self, lab, name, ip, role, home=None, ports=None):
        super().__init__(lab, name, ip, role)
        self.home, self.ports = home, ports


class StunServer(Host):
    """coturn in STUN-only mode on two addresses and two ports (RFC 5780)."""

    def __init__(self, lab, name, ip, alt_ip, port, alt_port):
        super().__init__(lab, name, ip, 'stun')
        self.alt_ip, self.port, self.alt_port = alt_ip, port, alt_port
        self.proc = None
        self.log = None

    @property
    def addresses(self):
        """The four transport addresses it answers on: (ip, port) tuples."""
        return [(self.ip, self.port), (self.alt_ip, self.port),
                (self.ip, self.alt_port), (self.alt_ip, self.alt_port)]


class Home:
    """A NAT router (`router`, a Node whose ip is the home's public address) and its
    LAN hosts (`hosts`)."""

    def __init__(self, index, nat, router, lan):
        self.index, self.nat, self.router, self.lan = index, nat, router, lan
        self.hosts = []

    @property
    def public_ip(self):
        return self.router.ip

    def __repr__(self):
        return f'<Home {self.index} {self.nat} {self.public_ip} lan {self.lan}>'


class Lab:
    def __init__(self, tag='nat'):
        why = available()
        if why:
            skip(why)
        self.prefix = f'swl-{os.getpid()}-{tag}'
        _sweep_etc_netns()
        self.namespaces = []      # created, in order
        self.procs = []           # Popen objects started through spawn()
        self.homes = []
        self.public = []          # public hosts and the STUN server
        self.stun = None
        self._links = 0
        self._pool = ipaddress.ip_network(PUBLIC_POOL).hosts()
        self._chains = set()      # (namespace, chain) loss chains already made
        self.tmpdir = None
        self.core = None

    # -- life cycle
    def __enter__(self):
        try:
            self.tmpdir = tempfile.mkdtemp(prefix='natlab-')
            _labs.append(self)
            self.core = Node(self, self._ns('core'), GATEWAY, 'core')
            self._sysctl(self.core, 'net.ipv4.ip_forward', 1)
            self._sysctl(self.core, 'net.ipv4.conf.all.send_redirects', 0)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
            self.close()
            skip(f'cannot set up the NAT lab: {e}')
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        for p in self.procs:
            _stop(p)
        self.procs = []
        for ns in reversed(self.namespaces):
            r = _cmd(['ip', 'netns', 'pids', ns], check=False)
            for pid in r.stdout.split():      # a stray child of one of ours
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _cmd(['ip', 'netns', 'del', ns], check=False)
            if ns.startswith(self.prefix + '-'):
                shutil.rmtree(os.path.join(ETC_NETNS, ns), ignore_errors=True)
        self.namespaces = []
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        if self in _labs:
            _labs.remove(self)

    # -- building blocks
    def _ns(self, short):
        name = f'{self.prefix}-{short}'
        _cmd(['ip', 'netns', 'add', name])
        self.namespaces.append(name)
        _cmd(['ip', '-n', name, 'link', 'set', 'lo', 'up'])
        return name

    @staticmethod
    def _sysctl(node, key, value):
        node.run('sysctl', '-qw', f'{key}={value}', check=True)

    @staticmethod
    def _ipt(node, *args, table='filter'):
        node.run('iptables', '-w', '-t', table, *args, check=True)

    def _next_public(self):
        return str(next(self._pool))

    def _attach(self, node, *ips):
        """A veth from core to node (`eth0` there), ips routed to it as /32s."""
        self._links += 1
        dev = f'v{self._links}'
        core = self.core.name
        _cmd(['ip', '-n', core, 'link', 'add', dev, 'type', 'veth',
              'peer', 'name', 'eth0', 'netns', node.name])
        _cmd(['ip', '-n', core, 'addr', 'add', f'{GATEWAY}/32', 'dev', dev])
        _cmd(['ip', '-n', core, 'link', 'set', dev, 'up'])
        for ip in ips:
            _cmd(['ip', '-n', node.name, 'addr', 'add', f'{ip}/32', 'dev', 'eth0'])
        _cmd(['ip', '-n', node.name, 'link', 'set', 'eth0', 'up'])
        _cmd(['ip', '-n', node.name, 'route', 'add', 'default', 'via', GATEWAY,
              'dev', 'eth0', 'onlink'])
        for ip in ips:
            _cmd(['ip', '-n', core, 'route', 'add', f'{ip}/32', 'dev', dev])
        node.dev = dev
        return dev

    def _guard(self, what, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
            self.close()
            skip(f'cannot {what}: {e}')

    # -- public side
    def public_host(self, role='peer'):
        """A host with a public address on the public network."""
        return self._guard(f'add public host {role}', self._public_host, role)

    def _public_host(self, role):
        tag = re.sub(r'[^A-Za-z0-9_]', '', role)[:12] or 'host'
        name = self._ns(f'p{len(self.public) + 1}-{tag}')
        host = Host(self, name, self._next_public(), role)
        self._attach(host, host.ip)
        self.public.append(host)
        return host

    def stun_server(self, port=3478, alt_port=None, timeout=10.0):
        """Start coturn (STUN only, no TURN, no auth, RFC 5780 on) on a host with two
        public addresses; returns the StunServer once it listens on all four addresses."""
        if self.stun:
            return self.stun
        if not shutil.which('turnserver'):
            self.close()
            skip('`turnserver` not found (install coturn, see scripts/setup.sh)')
        return self._guard('start the STUN server', self._stun_server, port,
                           alt_port or port + 1, timeout)

    def _stun_server(self, port, alt_port, timeout):
        name = self._ns(f'p{len(self.public) + 1}-stun')
        srv = StunServer(self, name, self._next_public(), self._next_public(), port, alt_port)
        self._attach(srv, srv.ip, srv.alt_ip)
        self.public.append(srv)
        self.stun = srv
        srv.log = os.path.join(self.tmpdir, 'turnserver.log')
        argv = ['turnserver', '-n',                    # no configuration file
                '--stun-only', '--no-auth', '--no-cli',
                '--no-tcp', '--no-tls', '--no-dtls',
                '--listening-ip', srv.ip, '--listening-ip', srv.alt_ip,
                '--listening-port', port, '--alt-listening-port', alt_port,
                '--log-file', 'stdout', '--simple-log',
                '--pidfile', os.path.join(self.tmpdir, 'turnserver.pid'),
                '--userdb', os.path.join(self.tmpdir, 'turndb'),
                '--no-software-attribute']
        with open(srv.log, 'wb') as log:
            srv.proc = self.spawn(srv, argv, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        want = {f'{ip}:{p}' for ip in (srv.ip, srv.alt_ip) for p in (port, alt_port)}
        deadline = time.monotonic() + timeout
        while True:
            r = srv.run('ss', '-Hlun')
            have = {f[3] for f in (ln.split() for ln in r.stdout.splitlines()) if len(f) > 3}
            if want <= have:
                return srv
            if srv.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f'turnserver not listening on {sorted(want - have)} '
                                   f'(exit {srv.proc.poll()}); log:\n{self.stun_log()[-2000:]}')
            time.sleep(0.1)

    def stun_log(self):
        if not self.stun or not self.stun.log or not os.path.exists(self.stun.log):
            return ''
        with open(self.stun.log, errors='replace') as f:
            return f.read()

    # -- homes
    def home(self, nat, hosts=1, lan=None, firewall=True, mapping_timeout=FULL_CONE_TIMEOUT):
        """A home: a NAT router of type `nat` (NAT_TYPES) on the public network and
        `hosts` hosts on its LAN. `lan` (NAT types only) is its LAN prefix, a /24 or
        larger; default 192.168.K.0/24 for the K-th home. `firewall` (NAT types only):
        the router drops unsolicited datagrams to itself (as home routers do); False
        gives a bare Linux router (see the module docstring). `mapping_timeout`
        (full cone only): seconds a mapping lives after its last outbound datagram
        (conntrack's own UDP timeouts: set_udp_timeouts()). Returns the Home."""
        nat = normalize_nat(nat)
        if not 1 <= hosts <= 40:
            raise ValueError('a home has 1 to 40 hosts')
        if nat == 'full_cone' and not shutil.which('nft'):
            self.close()
            skip('`nft` not found (install nftables, see scripts/setup.sh): '
                 'the full-cone NAT needs it')
        return self._guard(f'add a {nat} home', self._home, nat, hosts, lan, firewall,
                           mapping_timeout)

    def _home(self, nat, nhosts, lan, firewall, mapping_timeout):
        k = len(self.homes) + 1
        if nat == 'open':
            lan = ipaddress.ip_network(f'172.30.{k}.0/24')
        else:
            lan = ipaddress.ip_network(lan or f'192.168.{k}.0/24')
            if (not lan.is_private or lan.prefixlen > 24
                    or lan.overlaps(ipaddress.ip_network('172.30.0.0/16'))):
                raise ValueError(f'home LAN {lan} must be a private /24 or larger, '
                                 'outside 172.30.0.0/16')
        addrs = list(lan.hosts())
        router = Node(self, self._ns(f'h{k}'), self._next_public(), f'home{k}-router')
        self._attach(router, router.ip)
        home = Home(k, nat, router, str(lan))
        home.firewall, home.mapping_timeout = firewall, int(mapping_timeout)
        router.lan_ip = str(addrs[0])
        r = router.name
        _cmd(['ip', '-n', r, 'link', 'add', 'lan', 'type', 'bridge'])
        _cmd(['ip', '-n', r, 'addr', 'add', f'{addrs[0]}/{lan.prefixlen}', 'dev', 'lan'])
        _cmd(['ip', '-n', r, 'link', 'set', 'lan', 'up'])
        self._sysctl(router, 'net.ipv4.ip_forward', 1)
        if nat == 'open':
            _cmd(['ip', '-n', self.core.name, 'route', 'add', str(lan), 'via', router.ip,
                  'dev', router.dev])
        for i in range(nhosts):
            letter = chr(ord('a') + i) if i < 26 else f'x{i}'
            host = Host(self, self._ns(f'h{k}{letter}'), str(addrs[9 + i]),
                        f'home{k}-{letter}', home=home,
                        ports=(PORT_BASE + PORT_SLICE * i, PORT_BASE + PORT_SLICE * (i + 1) - 1))
            dev = f'p{i}'
            _cmd(['ip', '-n', r, 'link', 'add', dev, 'type', 'veth',
                  'peer', 'name', 'eth0', 'netns', host.name])
            _cmd(['ip', '-n', r, 'link', 'set', dev, 'master', 'lan'])
            _cmd(['ip', '-n', r, 'link', 'set', dev, 'up'])
            _cmd(['ip', '-n', host.name, 'addr', 'add', f'{host.ip}/{lan.prefixlen}',
                  'dev', 'eth0'])
            _cmd(['ip', '-n', host.name, 'link', 'set', 'eth0', 'up'])
            _cmd(['ip', '-n', host.name, 'route', 'add', 'default', 'via', router.lan_ip])
            self._sysctl(host, 'net.ipv4.ip_local_port_range', f'{host.ports[0]} {host.ports[1]}')
            home.hosts.append(host)
        self._nat_rules(home)
        self.homes.append(home)
        return home

    def _nat_rules(self, home):
        router = home.router
        if home.nat == 'open':
            return
        if home.firewall:
            # Drop what comes from the WAN to the router itself unless it belongs to a
            # known flow, as home routers do. Dropped before conntrack confirms it, an
            # unsolicited datagram leaves no entry behind; without this the router
            # answers ICMP port unreachable and keeps an entry that later clashes with
            # the host's own outbound flow to that peer, so MASQUERADE gives that flow a
            # new port (a changed mapping, not port-restricted cone behaviour).
            self._ipt(router, '-A', 'INPUT', '-i', 'eth0', '-m', 'conntrack', '!',
                      '--ctstate', 'ESTABLISHED,RELATED', '-j', 'DROP')
        masq = ['-A', 'POSTROUTING', '-o', 'eth0', '-j', 'MASQUERADE']
        if home.nat == 'symmetric':
            masq.append('--random-fully')
        self._ipt(router, *masq, table='nat')
        if home.nat != 'full_cone':
            return
        # Full cone: remember the mapped port of every outbound UDP datagram (after
        # MASQUERADE, hence priority srcnat + 10, reading the host from the original
        # tuple) and send any new inbound flow to a remembered port to that host.
        lines = ['table ip natlab_fc {']
        for i, host in enumerate(home.hosts):
            lines.append(f'  set h{i} {{ type inet_service; flags timeout; '
                         f'timeout {home.mapping_timeout}s; }}')
        lines.append('  chain inbound { type nat hook prerouting priority dstnat; '
                     'policy accept;')
        for i, host in enumerate(home.hosts):
            lines.append(f'    iifname "eth0" udp dport @h{i} dnat to {host.ip}')
        lines.append('  }')
        lines.append('  chain record { type filter hook postrouting priority srcnat + 10; '
                     'policy accept;')
        for i, host in enumerate(home.hosts):
            lines.append(f'    oifname "eth0" meta l4proto udp ct original ip saddr {host.ip} '
                         f'update @h{i} {{ udp sport }}')
        lines.append('  }')
        lines.append('}')
        router.run('nft', '-f', '-', input='\n'.join(lines) + '\n', check=True)

    # -- processes
    def spawn(self, node, argv, **popen_kw):
        """Start argv inside node's namespace; killed by PID when the lab closes."""
        p = subprocess.Popen(node.wrap(argv), **popen_kw)
        self.procs.append(p)
        return p

    # -- knobs
    def set_loss(self, node, percent, direction='both'):
        """Drop `percent` % of the datagrams of node (a Host, the StunServer, a Home or
        a home's router), at random (iptables statistic match). direction: 'in'
        (towards node), 'out' (from node) or 'both'. 0 removes it.

        A segmented send (UDP GSO, which libsetowire uses for runs of equal-sized
        datagrams to one peer) crosses the veths and routers as one packet, so the match
        drops whole runs of up to 64 datagrams: for loss per datagram, start our
        processes with SETOWIRE_NO_GSO=1."""
        if direction not in ('in', 'out', 'both'):
            raise ValueError("direction is 'in', 'out' or 'both'")
        if not 0 <= percent <= 100:
            raise ValueError('percent is 0 to 100')
        if isinstance(node, Home):
            node = node.router
        dirs = ('in', 'out') if direction == 'both' else (direction,)
        for d in dirs:
            where, hook, match = self._loss_point(node, d)
            chain = f'loss-{d}-{node.name[len(self.prefix) + 1:]}'[:28]
            if (where.name, chain) not in self._chains:
                self._ipt(where, '-N', chain)
                self._ipt(where, '-A', hook, *match, '-j', chain)
                self._chains.add((where.name, chain))
            self._ipt(where, '-F', chain)
            if percent > 0:
                self._ipt(where, '-A', chain, '-m', 'statistic', '--mode', 'random',
                          '--probability', f'{percent / 100:.6f}', '-j', 'DROP')

    def _loss_point(self, node, d):
        """(namespace node, hook, match) where node's loss in direction d is applied."""
        home = getattr(node, 'home', None)
        if home is not None:
            if d == 'in':
                return node, 'INPUT', ['!', '-i', 'lo']
            return home.router, 'FORWARD', ['-i', 'lan', '-s', node.ip]
        if node.dev is None:
            raise ValueError(f'{node!r} is not on the public network')
        return self.core, 'FORWARD', (['-o', node.dev] if d == 'in' else ['-i', node.dev])

    def map_names(self, node, names):
        """Inside node's namespace (for what is started after this call), each host
        name of `names` ({name: ip}) resolves to that lab address and no other name
        resolves. Removed when the lab closes."""
        if isinstance(node, Home):
            node = node.router
        if not node.name.startswith(self.prefix + '-'):
            raise ValueError(f'{node!r} is not a namespace of this lab')
        for name, ip in names.items():
            ipaddress.ip_address(ip)
            if not re.fullmatch(r'[A-Za-z0-9.-]+', name):
                raise ValueError(f'bad host name {name!r}')
        d = os.path.join(ETC_NETNS, node.name)
        os.makedirs(d, exist_ok=True)
        lines = ['127.0.0.1 localhost', '::1 localhost']
        lines += [f'{ip} {name}' for name, ip in names.items()]
        with open(os.path.join(d, 'hosts'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        with open(os.path.join(d, 'resolv.conf'), 'w') as f:
            f.write('nameserver 127.0.0.1\noptions timeout:1 attempts:1\n')
        return d

    def set_nat(self, home, nat):
        """Give a NAT home another NAT type (not 'open': its LAN stays private): the
        router's rules are replaced and every mapping forgotten, as when a home router
        restarts with a new configuration. Hosts keep their addresses and sockets."""
        nat = normalize_nat(nat)
        if nat == 'open' or home.nat == 'open':
            raise ValueError('set_nat changes one NAT type into another; open has none')
        if nat == 'full_cone' and not shutil.which('nft'):
            self.close()
            skip('`nft` not found (install nftables, see scripts/setup.sh): '
                 'the full-cone NAT needs it')
        if not shutil.which('conntrack'):
            self.close()
            skip('`conntrack` not found (install conntrack, see scripts/setup.sh)')
        return self._guard(f'set {home!r} to {nat}', self._set_nat, home, nat)

    def _set_nat(self, home, nat):
        r = home.router
        self._ipt(r, '-F', 'POSTROUTING', table='nat')
        self._ipt(r, '-F', 'INPUT')  # only the firewall rule lives there (_nat_rules)
        if home.nat == 'full_cone':
            r.run('nft', 'delete', 'table', 'ip', 'natlab_fc', check=True)
        home.nat = nat
        self._nat_rules(home)
        # Flows keep the mapping they were given: forget them all, so that every flow
        # is mapped anew under the new rules.
        r.run('conntrack', '-F', check=True)

    def conntrack_flush(self, home):
        """Make the home's router forget every mapping (conntrack entries and, for a
        full cone, its remembered ports)."""
        if not shutil.which('conntrack'):
            self.close()
            skip('`conntrack` not found (install conntrack, see scripts/setup.sh)')
        home.router.run('conntrack', '-F', check=True)
        if home.nat == 'full_cone':
            for i in range(len(home.hosts)):
                home.router.run('nft', 'flush', 'set', 'ip', 'natlab_fc', f'h{i}', check=True)

    def conntrack(self, home):
        """The router's conntrack table as text (for diagnostics)."""
        return home.router.run('conntrack', '-L').stdout

    def set_udp_timeouts(self, home, unreplied=None, assured=None):
        """Shorten (or lengthen) the router's conntrack UDP timeouts, in seconds."""
        if unreplied is not None:
            self._sysctl(home.router, 'net.netfilter.nf_conntrack_udp_timeout', unreplied)
        if assured is not None:
            self._sysctl(home.router, 'net.netfilter.nf_conntrack_udp_timeout_stream', assured)


def _stop(p):
    """Terminate one child by its PID, then kill it if it lingers."""
    if p.poll() is not None:
        return
    try:
        p.terminate()
        p.wait(timeout=2)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
    except ProcessLookupError:
        pass
