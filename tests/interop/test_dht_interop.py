#!/usr/bin/env python3
"""The Python reference's DHT (dht_lib.SimpleDHT, PROTOCOL.md 14.6) and ours speak the
same messages, both ways, on loopback:

1. a reference DHT node pings setowire-node's DHT socket and learns its id from the
   PONG, bootstraps through it (FIND_NODE), and STOREs a value there with put();
2. a second reference node, knowing only setowire-node, finds that value with its
   iterative find_value() (our node answers FOUND_VAL);
3. a setowire-cat given the first reference node as --bootstrap asks it by address,
   learns its id from the reply, and STOREs its `topic:<hash>:<id>` me record there
   (the reference keeps it in its storage, as it expects).

Skipped (77) when the Python reference is not present."""
import asyncio
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'net'))
import catproc  # noqa: E402
import eventproc  # noqa: E402
import refpeer  # noqa: E402


class DhtNode(eventproc.EventProc):
    """setowire-node with only its DHT side on loopback (any free DHT port, no HTTP)."""

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


async def scenario(dht_lib, bindir, node_port):
    a = dht_lib.SimpleDHT()
    b = dht_lib.SimpleDHT()
    await a.start()
    await b.start()
    try:
        # 1. ping by address: the PONG carries our node id and echoes the rpcId
        pong = await a._rpc('127.0.0.1', node_port, {'type': 1, 'from': a.node_id})
        assert pong.get('type') == 2, pong
        ours = pong.get('from')
        assert isinstance(ours, str) and len(ours) == 40, pong
        await a.bootstrap([{'id': ours, 'ip': '127.0.0.1', 'port': node_port}])
        assert a._table.size >= 1
        key = 'topic:cd5eb9c4d1a1:e0747b0fc2e5f8562239f8a2df040ff919018325'
        value = json.dumps({'id': 'e0747b0fc2e5f8562239f8a2df040ff919018325',
                            'ip': '127.0.0.1', 'port': 51001})
        a.put(key, value)
        await asyncio.sleep(0.3)
        # 2. another reference node finds it through ours
        await b.bootstrap([{'id': ours, 'ip': '127.0.0.1', 'port': node_port}])
        found = await asyncio.wait_for(b.find_value(key), 10)
        assert found == value, f'find_value gave {found!r}'
        # our node listed the first reference node to the second (FOUND_NODE)
        assert any(n['id'] == a.node_id for b_ in b._table.buckets for n in b_.nodes), \
            'our FOUND_NODE did not list the other reference node'
        print('reference -> ours: PING, FIND_NODE, STORE, FIND_VALUE answered')

        # 3. our cat bootstraps from the reference node and STOREs its record there
        topic = f'dht-interop-{os.getpid()}'
        cat = catproc.Cat(bindir, args=['--no-lan', '--no-http', '--no-stun', '--bootstrap',
                                        f'127.0.0.1:{a.port}', topic], quiet=False, name='cat')
        with cat:
            ev = cat.listening()
            deadline = time.monotonic() + 15
            rec = None
            while time.monotonic() < deadline and rec is None:
                await asyncio.sleep(0.2)
                for v in list(a.storage.values()):
                    try:
                        o = json.loads(v) if isinstance(v, str) else None
                    except ValueError:
                        o = None
                    if isinstance(o, dict) and o.get('id') == ev['id']:
                        rec = o
            assert rec is not None, 'no me record from the cat in the reference storage'
            assert rec.get('lport') == ev['port'] and rec.get('nat') == 'unknown', rec
            assert any(len(n['id']) == 40 for b_ in a._table.buckets for n in b_.nodes
                       if n['port'] == ev.get('dht_port')), 'the cat is not in its table'
            print(f'ours -> reference: bootstrap by address, STORE of {rec}')
    finally:
        for d in (a, b):
            if d._transport:
                d._transport.close()
            if d._republish_handle:
                d._republish_handle.cancel()


def main():
    bindir = catproc.bin_dir()
    d, why = refpeer.ref_dir('py')
    if not d:
        refpeer.skip(why)
    sys.path.insert(0, d)
    import dht_lib  # noqa: E402  (the reference, read from .refs/py)
    try:
        with DhtNode(bindir) as node:
            ev = node.expect('listening', 10)
            asyncio.run(scenario(dht_lib, bindir, ev['dht_port']))
    except (eventproc.ProcError, AssertionError, asyncio.TimeoutError) as e:
        print(f'FAIL: {e!r}', file=sys.stderr)
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
