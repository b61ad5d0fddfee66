"""Two network namespaces joined by a veth pair, for tests that need multicast (LAN
discovery) without any of it leaving this machine; and (Lossy, at the end) one
namespace whose loopback loses datagrams at random.

    import netns
    with netns.Pair() as pair:                  # skips (exit 77) when not possible
        pair.a.name, pair.a.ip                  # 'swt-<pid>-a', '10.201.x.1'
        argv = pair.a.wrap(['setowire-cat', ...])   # ['ip','netns','exec',name, ...]

Layout (every address chosen here, inside the namespaces only):

    netns A: lo up, veth <a> 10.201.N.1/24 up   <-- veth pair -->   netns B: lo up, veth <b> 10.201.N.2/24 up
    in each: a route for 224.0.0.0/4 and a default route, both via the veth, so the
    references' address detection (a route lookup towards 8.8.8.8, or the first
    interface) gives the veth address. The pair is the whole network: no link to the
    host's own namespace and forwarding is off, so a datagram can reach the other
    namespace and nowhere else. The veth is created inside A with its peer inside B;
    it never exists in the host's namespace.

Needs root and `ip netns`; when either is missing the test is skipped loudly (77).
Everything is removed when the `with` block ends, at interpreter exit, and on SIGTERM
(deleting a namespace deletes its veth; its processes are killed by PID by their own
helpers first).
"""
import atexit
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from eventproc import skip  # noqa: E402

_made = []


def _ip(*args, check=True):
    r = subprocess.run(['ip', *args], capture_output=True, text=True, timeout=20)
    if check and r.returncode:
        raise RuntimeError(f'ip {" ".join(args)}: {r.stderr.strip()}')
    return r


def _cleanup():
    while _made:
        _ip('netns', 'del', _made.pop(), check=False)


atexit.register(_cleanup)


def available():
    """None when namespaces can be made here, else the reason."""
    if os.geteuid() != 0:
        return 'network namespaces need root (run as root to test LAN multicast)'
    if not shutil.which('ip'):
        return '`ip` (iproute2) not found'
    probe = f'swt-{os.getpid()}-probe'
    r = _ip('netns', 'add', probe, check=False)
    if r.returncode:
        return f'`ip netns add` failed: {r.stderr.strip()}'
    _ip('netns', 'del', probe, check=False)
    return None


class Side:
    def __init__(self, name, ip, dev):
        self.name, self.ip, self.dev = name, ip, dev

    def wrap(self, argv):
        return ['ip', 'netns', 'exec', self.name, *[str(a) for a in argv]]

    def run(self, *argv):
        return subprocess.run(self.wrap(argv), capture_output=True, text=True, timeout=20)


class Pair:
    def __init__(self, tag='lan'):
        why = available()
        if why:
            skip(why)
        pid = os.getpid()
        net = 10 + pid % 240           # a /24 of our own per test process
        self.a = Side(f'swt-{pid}-{tag}-a', f'10.201.{net}.1', f'sw{pid % 100000}a')
        self.b = Side(f'swt-{pid}-{tag}-b', f'10.201.{net}.2', f'sw{pid % 100000}b')

    def __enter__(self):
        try:
            for s in (self.a, self.b):
                _ip('netns', 'add', s.name)
                _made.append(s.name)
            _ip('-n', self.a.name, 'link', 'add', self.a.dev, 'type', 'veth',
                'peer', 'name', self.b.dev, 'netns', self.b.name)
            for s in (self.a, self.b):
                _ip('-n', s.name, 'link', 'set', 'lo', 'up')
                _ip('-n', s.name, 'addr', 'add', f'{s.ip}/24', 'dev', s.dev)
                _ip('-n', s.name, 'link', 'set', s.dev, 'up')
                _ip('-n', s.name, 'route', 'add', '224.0.0.0/4', 'dev', s.dev)
                _ip('-n', s.name, 'route', 'add', 'default', 'dev', s.dev)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            self.close()
            skip(f'cannot set up the namespace pair: {e}')
        return self

    def close(self):
        for s in (self.a, self.b):
            if s.name in _made:
                _made.remove(s.name)
                _ip('netns', 'del', s.name, check=False)

    def __exit__(self, *exc):
        self.close()
        return False


class Lossy:
    """One network namespace with only its loopback up, whose iptables drops a chosen
    share of the UDP datagrams leaving on it, at random (for transport tests under
    loss):

        with netns.Lossy() as ns:              # skips (exit 77) when not possible
            argv = ns.wrap(['setowire-cat', ...])
            ns.set_loss(0.10)                  # from now on 10 % of datagrams vanish
            ns.dropped()                       # datagrams the rule dropped so far

    The rule is `-m statistic --mode random --probability P -j DROP` on INPUT, so
    each datagram is dropped once at most, silently, on its way in (on OUTPUT the
    sender's sendto would fail with EPERM and learn of the loss). A segmented (GSO)
    send is one packet to iptables: it is dropped whole, so processes that must see
    per datagram loss run with SETOWIRE_NO_GSO=1, unless `segment_on_device()` succeeds:
    it turns off the loopback device's UDP segmentation offload, so the kernel splits
    each segmented send into datagrams when the device takes it, before the rule (as a
    NIC without offload would; the sender keeps its one syscall per 64 datagrams).
    Nothing leaves the namespace: it has no other interface. Removed like Pair's
    namespaces."""

    def __init__(self, tag='loss'):
        why = available() or (None if shutil.which('iptables') else '`iptables` not found')
        if why:
            skip(why)
        self.name = f'swt-{os.getpid()}-{tag}'

    def __enter__(self):
        try:
            _ip('netns', 'add', self.name)
            _made.append(self.name)
            _ip('-n', self.name, 'link', 'set', 'lo', 'up')
            self._ipt('-F', 'INPUT')
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            self.close()
            skip(f'cannot set up the lossy namespace: {e}')
        return self

    def _ipt(self, *args):
        r = subprocess.run(['ip', 'netns', 'exec', self.name, 'iptables', *args],
                           capture_output=True, text=True, timeout=20)
        if r.returncode:
            raise RuntimeError(f'iptables {" ".join(args)}: {r.stderr.strip()}')
        return r.stdout

    def wrap(self, argv):
        return ['ip', 'netns', 'exec', self.name, *[str(a) for a in argv]]

    def segment_on_device(self):
        """Have the device split segmented sends, so the rule sees every datagram
        (needs `ethtool`). Returns None on success, else why not."""
        if not shutil.which('ethtool'):
            return '`ethtool` not found'
        r = subprocess.run(['ip', 'netns', 'exec', self.name, 'ethtool', '-K', 'lo',
                            'tx-udp-segmentation', 'off'],
                           capture_output=True, text=True, timeout=20)
        if r.returncode == 0:
            return None
        return r.stderr.strip() or f'ethtool exit {r.returncode}'

    def set_loss(self, p):
        """Drop a share p (0..1) of the UDP datagrams from now on (0: none)."""
        self._ipt('-F', 'INPUT')
        if p > 0:
            self._ipt('-A', 'INPUT', '-i', 'lo', '-p', 'udp', '-m', 'statistic',
                      '--mode', 'random', '--probability', f'{p:.4f}', '-j', 'DROP')

    def dropped(self):
        """Datagrams the current rule dropped (0 without a rule)."""
        out = self._ipt('-L', 'INPUT', '-n', '-v', '-x')
        for line in out.splitlines():
            f = line.split()
            if len(f) > 2 and f[2] == 'DROP':
                return int(f[0])
        return 0

    def close(self):
        if self.name in _made:
            _made.remove(self.name)
            _ip('netns', 'del', self.name, check=False)

    def __exit__(self, *exc):
        self.close()
        return False
