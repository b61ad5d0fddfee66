"""Chat programs (setowire-chat, the references' chat.py / chat.js) as child processes
whose stdout is read as text lines, for tests/net/test_chat_*.py and
tests/interop/test_chat_interop.py. Process handling (kill by PID, atexit, waits with
deadlines) is eventproc.EventProc's."""
import os
import re
import sys

import eventproc

# Colours, cursor moves and carriage returns the references print even on a pipe.
ANSI = re.compile(rb'\x1b\[[0-9;?]*[A-Za-z]|\r')
NET = ['--bind', '127.0.0.1', '--no-default-servers', '--no-lan', '--no-dht', '--no-http']


class ChatProc(eventproc.EventProc):
    """A chat program; .raw holds stdout lines as bytes, .out the same as text with
    escape sequences removed."""

    def __init__(self, argv, name, env=None):
        self.out, self.raw = [], []
        super().__init__(argv, name, env)

    def on_stdout(self, raw):
        with self._cond:
            self.raw.append(raw)
            self.out.append(ANSI.sub(b'', raw).decode(errors='replace'))
            self._cond.notify_all()
        if os.environ.get('TEST_VERBOSE'):
            print(f'[{self.name}] {self.out[-1]}', file=sys.stderr, flush=True)

    def describe_extra(self):
        with self._cond:
            return '  last output:\n    ' + '\n    '.join(self.out[-15:])

    def expect_text(self, pattern, what, timeout=10.0):
        """Wait for an output line matching the regular expression; return the match."""
        rx = re.compile(pattern)

        def find():
            for ln in self.out:
                m = rx.search(ln)
                if m:
                    return m
            return None
        return self.wait_until(find, timeout, what)

    def count(self, pattern):
        rx = re.compile(pattern)
        with self._cond:
            return sum(1 for ln in self.out if rx.search(ln))

    def say(self, text):
        self.write(text.encode() + b'\n')
