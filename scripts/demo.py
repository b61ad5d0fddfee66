#!/usr/bin/env python3
"""A local demonstration: a setowire-node and three setowire-cat peers on this machine.

alice and bob know only the node's HTTP bootstrap address and find each other through
it. carol dials alice directly and uses no discovery, so what carol says reaches bob
through alice's mesh flooding. Every step is printed. Only the loopback address is
used (third-party default servers are turned off); every process started here is
stopped here, by PID.
"""
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
CAT = os.path.join(BIN, "setowire-cat")
NODE = os.path.join(BIN, "setowire-node")
LOCAL_ONLY = ["--bind", "127.0.0.1", "--no-default-servers", "--no-lan", "--no-dht"]
procs = []


class Peer:
    def __init__(self, name, args, program=CAT, topic=("demo",), local=LOCAL_ONLY):
        self.name = name
        self.events = queue.Queue()
        self.lines = queue.Queue()
        self.p = subprocess.Popen([program, "--events", *local, *args, *topic],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        procs.append(self.p)
        threading.Thread(target=self._read, args=(self.p.stderr, self.events), daemon=True).start()
        threading.Thread(target=self._read, args=(self.p.stdout, self.lines), daemon=True).start()

    @staticmethod
    def _read(stream, q):
        for line in stream:
            q.put(line.rstrip(b"\n"))

    def wait_event(self, kind, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            try:
                raw = self.events.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            try:
                ev = json.loads(raw)
            except ValueError:
                print(f"  [{self.name}] {raw.decode(errors='replace')}")
                continue
            if ev.get("event") == kind:
                return ev
        raise SystemExit(f"demo: {self.name} saw no '{kind}' event within {timeout} s")

    def say(self, text):
        print(f"  {self.name} says: {text}")
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()

    def hear(self, timeout=10):
        try:
            msg = self.lines.get(timeout=timeout).decode(errors="replace")
        except queue.Empty:
            raise SystemExit(f"demo: {self.name} heard nothing within {timeout} s")
        print(f"  {self.name} hears: {msg}")
        return msg


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    for prog in (CAT, NODE):
        if not os.access(prog, os.X_OK):
            raise SystemExit(f"demo: {prog} not found; build first (make build)")
    print("== a bootstrap node on 127.0.0.1 (HTTP /announce and /peers)")
    node = Peer("node", ["--quiet", "--dht-port", "0", "--http-port", str(free_tcp_port())],
                NODE, (), ["--bind", "127.0.0.1"])
    ev = node.wait_event("listening")
    boot = f"http://127.0.0.1:{ev['http_port']}"
    print(f"  node serves {boot}")
    print("== alice and bob know only the node; topic 'demo'")
    alice = Peer("alice", ["--bootstrap-http", boot])
    ev = alice.wait_event("listening")
    port = ev["port"]
    print(f"  alice listens on port {port}, id {ev['id']}")
    bob = Peer("bob", ["--bootstrap-http", boot])
    ev = bob.wait_event("listening")
    print(f"  bob listens on port {ev['port']}, id {ev['id']}")
    print("== discovery, then handshakes (X25519, ChaCha20-Poly1305 sessions)")
    ev = bob.wait_event("connection")
    print(f"  bob found and connected to peer {ev['peer']} at {ev['addr']}")
    ev = alice.wait_event("connection")
    print(f"  alice connected to peer {ev['peer']} at {ev['addr']}")
    print("== carol dials alice directly, with no discovery at all")
    carol = Peer("carol", ["--no-http", "--connect", f"127.0.0.1:{port}"])
    ev = carol.wait_event("listening")
    print(f"  carol listens on port {ev['port']}, id {ev['id']}")
    ev = carol.wait_event("connection")
    print(f"  carol connected to peer {ev['peer']} at {ev['addr']}")
    ev = alice.wait_event("connection")
    print(f"  alice connected to peer {ev['peer']} at {ev['addr']}")
    print("== messages (encrypted; carol reaches bob through alice's mesh)")
    alice.say("hello from alice")
    bob.hear()
    carol.hear()
    carol.say("hi all, carol here")
    alice.hear()
    bob.hear()
    print("== goodbye: bob closes its input, says GOAWAY and exits")
    bob.p.stdin.close()
    print(f"  bob exited with status {bob.p.wait(timeout=10)}")
    ev = alice.wait_event("disconnect")
    print(f"  alice saw peer {ev['peer']} leave at once")
    for p in (alice, carol):
        p.p.stdin.close()
        p.p.wait(timeout=10)
    node.p.terminate()
    node.p.wait(timeout=10)
    print("== done")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
