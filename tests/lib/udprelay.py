"""A transparent UDP relay on loopback that records every datagram it forwards.

    with UdpRelay(target_port) as r:           # listens on 127.0.0.1:r.port
        ... let a peer dial 127.0.0.1:r.port; it reaches 127.0.0.1:target_port ...
        r.frames('in')    # frames the dialer sent (BATCH frames flattened)
        r.frames('out')   # frames the target sent back

The dialer sees the target at the relay's front address, the target sees the dialer
at the relay's back address, so both sides keep one consistent address for each
other (Setowire keys peers by source address) and the relay can check what actually
travels on the wire: frame types, lengths, plaintext or encrypted.  Each datagram is
recorded before it is forwarded, so anything a receiver has reacted to is already in
the record.
"""
import select
import socket
import threading
import time

BATCH = 0x13


def split_frames(dgram):
    """The frames in one datagram: a BATCH (PROTOCOL.md 8.2) is opened, one level."""
    if len(dgram) >= 3 and dgram[0] == BATCH:
        out, off, count = [], 2, dgram[1]
        for _ in range(count):
            if off + 2 > len(dgram):
                break
            n = int.from_bytes(dgram[off:off + 2], 'big')
            if off + 2 + n > len(dgram):
                break
            out.append(dgram[off + 2:off + 2 + n])
            off += 2 + n
        return out
    return [dgram]


class UdpRelay:
    def __init__(self, target_port, host='127.0.0.1'):
        self.target = (host, target_port)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for s in (self.front, self.back):
            s.bind((host, 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.port = self.front.getsockname()[1]
        self.client = None
        self._lock = threading.Lock()
        self._log = []        # (monotonic time, 'in' | 'out', datagram)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            ready, _, _ = select.select([self.front, self.back], [], [], 0.05)
            for s in ready:
                try:
                    data, addr = s.recvfrom(65535)
                except OSError:
                    continue
                if s is self.front:
                    self.client = addr
                    self._record('in', data)
                    self._send(self.back, data, self.target)
                elif addr == self.target and self.client:
                    self._record('out', data)
                    self._send(self.front, data, self.client)

    def _record(self, way, data):
        with self._lock:
            self._log.append((time.monotonic(), way, data))

    @staticmethod
    def _send(sock, data, to):
        try:
            sock.sendto(data, to)
        except OSError:
            pass      # the other side is gone: as on a real network, the datagram is lost

    def datagrams(self, way):
        with self._lock:
            return [d for _, w, d in self._log if w == way]

    def frames(self, way):
        return [f for d in self.datagrams(way) for f in split_frames(d)]

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.front.close()
        self.back.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
