#!/usr/bin/env python3
"""Two setowire-cat processes find each other through HTTP bootstrap only: a
setowire-node serves POST /announce and GET /peers on loopback, both cats know its URL
and nothing else (--no-lan --no-dht --no-stun --no-default-servers, no --connect), then
exchange a message each way. Reports the time to discovery."""
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import catproc  # noqa: E402
from nodeproc import Node, free_tcp_port, ProcError  # noqa: E402

ONLY_HTTP = ['--no-lan', '--no-dht', '--no-stun', '--no-default-servers']


def main():
    bindir = catproc.bin_dir()
    topic = 'disc-http-' + uuid.uuid4().hex
    try:
        with Node(bindir, http_port=free_tcp_port()) as node:
            node.listening()
            boot = ['--bootstrap-http', node.url + '/']
            with catproc.Cat(bindir, args=ONLY_HTTP + boot + [topic], quiet=False,
                             name='a') as a:
                a.listening()
                node.expect('announce', id=a.id, timeout=10)  # at join
                t0 = time.monotonic()
                with catproc.Cat(bindir, args=ONLY_HTTP + boot + [topic], quiet=False,
                                 name='b') as b:
                    b.listening()
                    eb = b.expect('connection', peer=a.wire_id, timeout=15)
                    ea = a.expect('connection', peer=b.wire_id, timeout=15)
                    t = max(ea['_t'], eb['_t']) - t0
                    node.expect('announce', id=b.id, port=b.port, timeout=5)
                    b.feed('hello from b')
                    a.expect_line('hello from b', timeout=10)
                    a.feed('hello from a')
                    b.expect_line('hello from a', timeout=10)
                    # each announced itself with its own address; nobody dialled a
                    # server-listed copy of itself (D9): one connection each
                    assert len(a.events('connection')) == 1, a.events('connection')
                    assert len(b.events('connection')) == 1, b.events('connection')
                    print(f'discovery through HTTP bootstrap: both connected '
                          f'{t * 1000:.0f} ms after the second cat started')
    except (ProcError, AssertionError) as e:
        print(f'FAIL: {e}', file=sys.stderr)
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
