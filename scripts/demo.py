#!/usr/bin/env python3
"""A local demonstration: three setowire-cat peers on this machine.

alice listens; bob and carol dial alice. bob and carol never dial each other, so what
carol says reaches bob through alice's mesh flooding. Every step is printed. Only the
loopback address is used; every process started here is stopped here, by PID.
"""
import json
import os
import queue
import subprocess
import sys
import threading
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
CAT = os.path.join(BIN, "setowire-cat")
procs = []


class Peer:
    def __init__(self, name, args):
        self.name = name
        self.events = queue.Queue()
        self.lines = queue.Queue()
        self.p = subprocess.Popen([CAT, "--events", "--bind", "127.0.0.1", *args, "demo"],
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


def main():
    if not os.access(CAT, os.X_OK):
        raise SystemExit(f"demo: {CAT} not found; build first (make build)")
    print("== three peers on 127.0.0.1, topic 'demo'")
    alice = Peer("alice", [])
    ev = alice.wait_event("listening")
    port = ev["port"]
    print(f"  alice listens on port {port}, id {ev['id']}")
    bob = Peer("bob", ["--connect", f"127.0.0.1:{port}"])
    carol = Peer("carol", ["--connect", f"127.0.0.1:{port}"])
    for p in (bob, carol):
        ev = p.wait_event("listening")
        print(f"  {p.name} listens on port {ev['port']}, id {ev['id']}")
    print("== handshakes (X25519, then ChaCha20-Poly1305 sessions)")
    for p in (bob, carol):
        ev = p.wait_event("connection")
        print(f"  {p.name} connected to peer {ev['peer']} at {ev['addr']}")
    for _ in range(2):
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
    print("== done")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
