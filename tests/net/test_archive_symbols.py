#!/usr/bin/env python3
"""The libraries a program links (<build>/lib/libsetowire.a and libsetowire.so, the
ones `make install` installs) define no global symbol outside the public API, so a
program may name its own functions as libsetowire names its internal ones.

    test_archive_symbols.py --bin <build>/bin      (the build dir is its parent)

Checked (each part prints one "ok" line with its time on stderr):
  archive   `nm -g --defined-only` of lib/libsetowire.a: every global symbol starts
            with sw_, none is the internal sw_core_*, and every function declared in
            setowire.h and src/storage/sqlite.h is there.
  shared    `nm -D --defined-only` of lib/libsetowire.so: the same set as the archive.
  clash     a C program that defines, as its own functions, every non-sw_ global of the
            build's internal archives (libsetowire_core.a, libsetowire.a: crypto_*,
            dht_*, wire_* ...; crypto_hex_encode always) links statically against
            lib/libsetowire.a with the libraries of setowire.pc's Requires.private, and
            runs: sw_identity_from_seed gives the same id as the same program linked
            against libsetowire.so (so the library's internal calls stayed inside it),
            and the program's own crypto_hex_encode answers.
  control   the same program against the internal archives (the plain objects) either
            fails to link or computes a wrong id: the clash above is a real one.

Exit 0 pass, 1 failure, 77 skip (no nm or pkg-config on this host).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import catproc  # noqa: E402
import eventproc  # noqa: E402  (catproc put tests/lib on the path)
from catproc import ProcError  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUBLIC_HEADERS = [os.path.join(REPO, 'include', 'setowire.h'),
                  os.path.join(REPO, 'src', 'storage', 'sqlite.h')]
SEED = '5e' * 32   # any even-length hex string is a seed
IDENT = re.compile(r'[A-Za-z][A-Za-z0-9_]*$')


def check(cond, msg):
    if not cond:
        raise ProcError(msg)


def run(argv, env=None, timeout=120):
    """Run a command; return (exit code, stdout+stderr text)."""
    p = subprocess.run([str(a) for a in argv], capture_output=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    return p.returncode, (p.stdout + p.stderr).decode(errors='replace')


def run_ok(argv, env=None):
    rc, out = run(argv, env)
    check(rc == 0, f'{" ".join(map(str, argv))} exited {rc}:\n{out}')
    return out


def cache(builddir):
    vals = {}
    with open(os.path.join(builddir, 'CMakeCache.txt')) as f:
        for line in f:
            m = re.match(r'([A-Za-z0-9_]+):[A-Z]+=(.*)$', line.rstrip('\n'))
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


def defined_globals(argv):
    """Names of `nm` lines "<addr> <type> <name>" (archive member headers skipped)."""
    names = set()
    for line in run_ok(argv).splitlines():
        parts = line.split()
        if len(parts) == 3:
            names.add(parts[2].split('@')[0])
    return names


def declared():
    names = set()
    for h in PUBLIC_HEADERS:
        with open(h) as f:
            names |= set(re.findall(r'[^A-Za-z0-9_*](sw_[a-z0-9_]+)\s*\(', f.read()))
    check(names, 'found no function in the public headers')
    return names


def part_archive(archive, api):
    names = defined_globals(['nm', '-g', '--defined-only', archive])
    foreign = sorted(n for n in names if not n.startswith('sw_'))
    check(not foreign, f'{archive} defines {len(foreign)} global symbols without the sw_ '
          f'prefix:\n  ' + '\n  '.join(foreign))
    core = sorted(n for n in names if n.startswith('sw_core_'))
    check(not core, f'{archive} exports the internal core: {core}')
    absent = sorted(api - names)
    check(not absent, f'declared in the public headers but not in {archive}: {absent}')
    return names


def part_shared(so, archive_names):
    names = defined_globals(['nm', '-D', '--defined-only', so])
    foreign = sorted(n for n in names if not n.startswith('sw_'))
    check(not foreign, f'{so} exports {len(foreign)} symbols without the sw_ prefix:\n  '
          + '\n  '.join(foreign))
    check(names == archive_names, f'{so} and libsetowire.a differ: only in the .so '
          f'{sorted(names - archive_names)}, only in the .a {sorted(archive_names - names)}')
    return names


def program(internal):
    """C source: main() and one function of the program's own per internal name."""
    lines = ['#include <stdio.h>', '#include "setowire.h"', '',
             '/* The program\'s own functions, named as libsetowire\'s internal ones. */']
    own = {}
    for i, n in enumerate(sorted(internal)):
        own[n] = 1000 + i
        lines += [f'int {n}(void);', f'int {n}(void) {{ return {own[n]}; }}']
    lines += ['', 'int main(void) {',
              '  uint8_t pub[32], id[SW_ID_LEN];',
              '  sw_options opts;',
              '  sw_options_init(&opts);   /* pulls in the runtime too */',
              f'  int rc = sw_identity_from_seed("{SEED}", pub, id);',
              '  if (rc != SW_OK) { printf("sw_identity_from_seed: %d\\n", rc); return 2; }',
              '  printf("id ");',
              '  for (int i = 0; i < SW_ID_LEN; i++) printf("%02x", id[i]);',
              '  printf("\\ncrypto_hex_encode %d\\n", crypto_hex_encode());',
              '  return 0;', '}', '']
    return '\n'.join(lines), own['crypto_hex_encode']


def main():
    bindir = catproc.bin_dir()
    builddir = os.path.dirname(bindir)
    for tool in ('nm', 'pkg-config'):
        if not shutil.which(tool):
            eventproc.skip(f'{tool} is not installed')
    vals = cache(builddir)
    cc = vals.get('CMAKE_C_COMPILER') or shutil.which('cc')
    sanitize = vals.get('SW_SANITIZE', 'OFF').upper() in ('ON', '1', 'TRUE', 'YES')
    san = ['-fsanitize=address,undefined'] if sanitize else []
    lib = os.path.join(builddir, 'lib')
    archive = os.path.join(lib, 'libsetowire.a')
    so = os.path.join(lib, 'libsetowire.so')
    plain = [os.path.join(builddir, 'libsetowire.a'),
             os.path.join(builddir, 'libsetowire_core.a')]

    with open(os.path.join(REPO, 'cmake', 'setowire.pc.in')) as f:
        req = re.search(r'^Requires\.private:(.*)$', f.read(), re.M).group(1).split()
    tmp = tempfile.mkdtemp(prefix='sw-archive-')
    try:
        t0 = time.monotonic()
        api = declared()
        names = part_archive(archive, api)
        print(f'ok archive ({len(names)} sw_* symbols) {time.monotonic() - t0:.2f} s',
              file=sys.stderr, flush=True)

        t0 = time.monotonic()
        part_shared(so, names)
        print(f'ok shared (the same {len(names)}) {time.monotonic() - t0:.2f} s',
              file=sys.stderr, flush=True)

        t0 = time.monotonic()
        internal = set()
        for a in plain:
            internal |= {n for n in defined_globals(['nm', '-g', '--defined-only', a])
                         if not n.startswith('sw_') and IDENT.match(n)}
        internal.add('crypto_hex_encode')
        src, marker = program(internal)
        csrc = os.path.join(tmp, 'clash.c')
        with open(csrc, 'w') as f:
            f.write(src)
        deps = run_ok(['pkg-config', '--libs'] + req).split() + ['-lm']
        cflags = ['-std=c11', '-O1', '-Wall', '-Wextra', '-Werror',
                  '-I', os.path.join(REPO, 'include')] + san

        def build(out, libs):
            return run([cc] + cflags + ['-o', os.path.join(tmp, out), csrc] + libs + deps)

        rc, out = build('clash-static', [archive])
        check(rc == 0, f'a program defining {len(internal)} former internal names does not '
              f'link against {archive}:\n{out[:4000]}')
        static_out = run_ok([os.path.join(tmp, 'clash-static')])
        rc, out = build('clash-shared', ['-L' + lib, '-Wl,-rpath,' + lib, '-lsetowire'])
        check(rc == 0, f'the same program does not link against {so}:\n{out[:4000]}')
        shared_out = run_ok([os.path.join(tmp, 'clash-shared')])
        check(static_out == shared_out, f'static and shared runs differ:\n--- static\n'
              f'{static_out}--- shared\n{shared_out}')
        check(f'crypto_hex_encode {marker}\n' in static_out,
              f'the program\'s own crypto_hex_encode did not answer:\n{static_out}')
        print(f'ok clash ({len(internal)} names defined by the program) '
              f'{time.monotonic() - t0:.2f} s', file=sys.stderr, flush=True)

        t0 = time.monotonic()
        rc, out = build('clash-plain', plain)
        if rc == 0:
            rc, got = run([os.path.join(tmp, 'clash-plain')])
            check(rc != 0 or got != static_out,
                  'the program also links and runs against the internal archives: '
                  'this test no longer shows a clash')
            how = f'wrong result, exit {rc}'
        else:
            check('multiple definition' in out or 'duplicate symbol' in out,
                  f'the control link failed for another reason:\n{out[:4000]}')
            how = 'multiple definition'
        print(f'ok control (internal archives: {how}) {time.monotonic() - t0:.2f} s',
              file=sys.stderr, flush=True)
    except (ProcError, subprocess.TimeoutExpired) as e:
        print(f'FAIL: {e}', file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
