#!/usr/bin/env python3
"""Two setowire-cat processes find each other through the DHT only: a setowire-node is
the DHT bootstrap node on loopback (its HTTP endpoint off), both cats know only its
DHT address (--bootstrap) and nothing else (--no-lan --no-http --no-stun, no
--connect), then exchange a message each way. A third cat on another topic, knowing
the same node, must meet neither. Reports the time to discovery."""
import json
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
from catproc import ProcError, eventproc  # noqa: E402

ONLY_DHT = ['--no-lan', '--no-http', '--no-stun']  # --no-http: no HTTP bootstrap, no piping


class DhtNode(eventproc.EventProc):
    """setowire-node as a DHT bootstrap node on loopback: any free DHT port (--dht-port
    0, never the well-known 49737), its HTTP endpoint off."""

    def __init__(self, bindir):
        super().__init__([os.path.join(bindir, 'setowire-node'), '--events', '--bind',
                          '127.0.0.1', '--dht-port', '0', '--http-port', '0'], 'node')

    def on_stdout(self, raw):
        self.add_stderr(raw.decode(errors='replace'))

    def on_stderr(self, raw):
        try:
            ev = json.loads(raw.decode())
        except ValueError:
            ev = None
        if isinstance(ev, dict) and 'event' in ev:
            self.add_event(ev)
        else:
            self.add_stderr(raw.decode(errors='replace'))

    def listening(self, timeout=10.0):
        return self.expect('listening', timeout)


def main():
    bindir = catproc.bin_dir()
    if not os.access(os.path.join(bindir, 'setowire-node'), os.X_OK):
        print(f'FAIL: no setowire-node in {bindir}', file=sys.stderr)
        return 1
    topic = 'disc-dht-' + uuid.uuid4().hex
    other = 'disc-dht-other-' + uuid.uuid4().hex
    try:
        with DhtNode(bindir) as node:
            ev = node.listening()
            assert ev['dht_port'] > 0, ev
            boot = ['--bootstrap', f'127.0.0.1:{ev["dht_port"]}']
            with catproc.Cat(bindir, args=ONLY_DHT + boot + [topic], quiet=False,
                             name='a') as a, \
                    catproc.Cat(bindir, args=ONLY_DHT + boot + [other], quiet=False,
                                name='c') as c:
                a.listening()
                c.listening()
                time.sleep(0.5)  # a has announced itself through the node by now
                t0 = time.monotonic()
                with catproc.Cat(bindir, args=ONLY_DHT + boot + [topic], quiet=False,
                                 name='b') as b:
                    b.listening()
                    eb = b.expect('connection', peer=a.wire_id, timeout=20)
                    ea = a.expect('connection', peer=b.wire_id, timeout=20)
                    t = max(ea['_t'], eb['_t']) - t0
                    b.feed('hello from b')
                    a.expect_line('hello from b', timeout=10)
                    a.feed('hello from a')
                    b.expect_line('hello from a', timeout=10)
                    # the cat on the other topic met nobody, and nobody dialled itself
                    assert not c.events('connection'), c.events('connection')
                    assert len(a.events('connection')) == 1, a.events('connection')
                    assert len(b.events('connection')) == 1, b.events('connection')
                    print(f'discovery through the DHT: both connected '
                          f'{t * 1000:.0f} ms after the second cat started')
    except (ProcError, AssertionError, KeyError) as e:
        print(f'FAIL: {e}', file=sys.stderr)
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
