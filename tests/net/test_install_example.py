#!/usr/bin/env python3
"""The installed library, header, pkg-config file, tools and man pages, and the example
program built against them.

    test_install_example.py --bin <build>/bin      (the build dir is its parent)

Checked (each part prints one "ok" line with its time on stderr):
  install   `cmake --install <build> --prefix <tmp>` (no root) puts in <tmp>: the
            shared library (with a SONAME, and the .so link), libsetowire.a, setowire.h,
            setowire-sqlite.h, setowire.pc (naming <tmp>, version = the header's), the
            tools and their man pages (setowire-chat and its page when it is built).
            With DESTDIR, files land under DESTDIR and setowire.pc names the prefix.
  exports   `nm -D` of the shared library defines only sw_* symbols, every function
            declared in setowire.h among them, and none of the internal sw_core_*;
            `nm -g` of the installed libsetowire.a defines the same globals.
  example   examples/hello.c built by examples/Makefile through pkg-config (a copy,
            PKG_CONFIG_PATH=<tmp>/lib/pkgconfig), once against libsetowire.so (found
            through LD_LIBRARY_PATH) and once against libsetowire.a (STATIC=1); each
            runs against the installed setowire-cat on 127.0.0.1 with every discovery
            method off: cat prints hello's line, hello prints cat's line, and hello
            exits 0 on its own. examples/poll_loop.c is built the same two ways (it
            names no libuv header or library: only setowire); tests/net/test_examples.py
            runs it.
  man       each man page names every option its tool's --help prints.

The temporary folder is removed in every case. Exit 0 pass, 1 failure, 77 skip (no
cmake, cc, make, pkg-config or nm on this host).
"""
import glob
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
from catproc import Cat, ProcError  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 15.0
HELLO_LINE = b'hello from libsetowire'   # what examples/hello.c sends


def check(cond, msg, *procs):
    if not cond:
        raise ProcError(msg + ('\n' + '\n'.join(p.describe() for p in procs) if procs else ''))


def run(argv, env=None, cwd=None, timeout=300):
    """Run a command to completion; return its stdout text, fail with its output."""
    p = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, timeout=timeout,
                       env={**os.environ, **(env or {})})
    out = p.stdout.decode(errors='replace')
    check(p.returncode == 0, f'{" ".join(map(str, argv))} exited {p.returncode}:\n{out}'
          f'{p.stderr.decode(errors="replace")}')
    return out


def cache(builddir):
    """CMakeCache.txt as a dict of name -> value."""
    vals = {}
    with open(os.path.join(builddir, 'CMakeCache.txt')) as f:
        for line in f:
            m = re.match(r'([A-Za-z0-9_]+):[A-Z]+=(.*)$', line.rstrip('\n'))
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


class Hello(eventproc.EventProc):
    """The example program: stdout lines kept in order."""

    def __init__(self, path, target, topic, env):
        self.out = []
        super().__init__([path, target, topic, '127.0.0.1'], os.path.basename(path), env=env)

    def on_stdout(self, raw):
        with self._cond:
            self.out.append(raw)
            self._cond.notify_all()

    def describe_extra(self):
        with self._cond:
            return f'  stdout: {self.out[-8:]}'


# --------------------------------------------------------------------------- parts

def part_install(builddir, conf, prefix, with_chat):
    run([conf['cmake'], '--install', builddir, '--prefix', prefix])
    libdir = os.path.join(prefix, conf['libdir'])
    so = os.path.join(libdir, 'libsetowire.so')
    want = [so, os.path.join(libdir, 'libsetowire.a'),
            os.path.join(libdir, 'pkgconfig', 'setowire.pc'),
            os.path.join(prefix, 'include', 'setowire.h'),
            os.path.join(prefix, 'include', 'setowire-sqlite.h')]
    tools = ['setowire-cat', 'setowire-node'] + (['setowire-chat'] if with_chat else [])
    for t in tools:
        want += [os.path.join(prefix, 'bin', t),
                 os.path.join(prefix, 'share', 'man', 'man1', t + '.1')]
    missing = [w for w in want if not os.path.exists(w)]
    check(not missing, f'not installed: {missing}')
    for t in tools:
        check(os.access(os.path.join(prefix, 'bin', t), os.X_OK), f'{t} is not executable')

    dyn = run(['readelf', '-d', so])
    m = re.search(r'SONAME\)\s+Library soname: \[(libsetowire\.so\.\d+)\]', dyn)
    check(m, f'libsetowire.so has no SONAME libsetowire.so.N:\n{dyn}')
    check(os.path.exists(os.path.join(libdir, m.group(1))), f'{m.group(1)} not installed')

    with open(os.path.join(REPO, 'include', 'setowire.h')) as f:
        version = re.search(r'#define SW_VERSION_STRING "([^"]+)"', f.read()).group(1)
    env = {'PKG_CONFIG_PATH': os.path.join(libdir, 'pkgconfig')}
    got = run(['pkg-config', '--modversion', 'setowire'], env).strip()
    check(got == version, f'setowire.pc version {got!r}, setowire.h says {version!r}')
    cflags = run(['pkg-config', '--cflags', 'setowire'], env).split()
    check('-I' + os.path.join(prefix, 'include') in cflags, f'--cflags: {cflags}')
    libs = run(['pkg-config', '--libs', 'setowire'], env).split()
    check('-L' + libdir in libs and '-lsetowire' in libs, f'--libs: {libs}')
    req = run(['pkg-config', '--print-requires-private', 'setowire'], env).split()
    for r in ('libuv', 'libcrypto', 'jansson', 'libcurl', 'sqlite3'):
        check(r in req, f'Requires.private lacks {r}: {req}')

    # DESTDIR: a staged install for packagers; the .pc names the final prefix.
    stage = os.path.join(prefix, 'stage')
    run([conf['cmake'], '--install', builddir, '--prefix', '/opt/setowire'],
        {'DESTDIR': stage})
    pc = os.path.join(stage, 'opt', 'setowire', conf['libdir'], 'pkgconfig', 'setowire.pc')
    check(os.path.exists(pc), f'DESTDIR install: no {pc}')
    with open(pc) as f:
        text = f.read()
    check('prefix=/opt/setowire\n' in text, f'DESTDIR install: setowire.pc says\n{text}')
    check(os.path.exists(os.path.join(stage, 'opt', 'setowire', 'bin', 'setowire-cat')),
          'DESTDIR install: no bin/setowire-cat')
    shutil.rmtree(stage)
    return libdir


def part_exports(libdir):
    out = run(['nm', '-D', '--defined-only', os.path.join(libdir, 'libsetowire.so')])
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            names.add(parts[2].split('@')[0])
    foreign = sorted(n for n in names if not n.startswith('sw_'))
    check(not foreign, f'libsetowire.so exports non-API symbols: {foreign[:20]}')
    internal = sorted(n for n in names if n.startswith('sw_core_'))
    check(not internal, f'libsetowire.so exports the internal core: {internal[:20]}')
    with open(os.path.join(REPO, 'include', 'setowire.h')) as f:
        declared = set(re.findall(r'[^A-Za-z0-9_*](sw_[a-z0-9_]+)\s*\(', f.read()))
    check(declared, 'found no function in setowire.h')
    absent = sorted(declared - names)
    check(not absent, f'declared in setowire.h but not exported: {absent}')
    # The installed archive: the same globals (tests/net/test_archive_symbols.py has more).
    out = run(['nm', '-g', '--defined-only', os.path.join(libdir, 'libsetowire.a')])
    arnames = {p[2] for p in (line.split() for line in out.splitlines()) if len(p) == 3}
    check(arnames == names, f'libsetowire.a globals differ from the .so exports: only in '
          f'the .a {sorted(arnames - names)[:20]}, only in the .so {sorted(names - arnames)}')
    return len(names)


def build_example(prefix, libdir, extra_cflags, static):
    src = os.path.join(prefix, 'example-static' if static else 'example-shared')
    shutil.copytree(os.path.join(REPO, 'examples'), src)
    for prog in ('hello', 'poll_loop'):
        if os.path.exists(os.path.join(src, prog)):
            os.unlink(os.path.join(src, prog))
    args = ['make', '-C', src, 'hello', 'poll_loop', 'CFLAGS=-O1 -g ' + extra_cflags,
            'LDFLAGS=' + extra_cflags]
    if static:
        args.append('STATIC=1')
    run(args, {'PKG_CONFIG_PATH': os.path.join(libdir, 'pkgconfig')})
    check(os.access(os.path.join(src, 'poll_loop'), os.X_OK), 'poll_loop was not built')
    path = os.path.join(src, 'hello')
    needed = re.findall(r'NEEDED\)\s+Shared library: \[([^\]]+)\]', run(['readelf', '-d', path]))
    uses_so = any(n.startswith('libsetowire.so') for n in needed)
    check(uses_so != static, f'{path} NEEDED {needed} (static={static})')
    return path


def part_example(prefix, libdir, hello, tag):
    """hello against the installed setowire-cat on loopback: one line each way."""
    topic = f'install-example-{os.getpid()}-{tag}'
    args = ['--no-default-servers', topic]
    with Cat(os.path.join(prefix, 'bin'), args=args, name='cat') as cat:
        port = cat.listening(TIMEOUT)['port']
        env = {'LD_LIBRARY_PATH': libdir}
        with Hello(hello, f'127.0.0.1:{port}', topic, env) as h:
            cat.expect('connection', timeout=TIMEOUT)
            cat.expect_line(HELLO_LINE, timeout=TIMEOUT)
            reply = f'hi from cat {tag}'.encode()
            cat.feed(reply)
            h.wait_until(lambda: reply in h.out, TIMEOUT, f'hello never printed {reply!r}')
            rc = h.wait_exit(TIMEOUT)
            check(rc == 0, f'hello exited {rc}', h)
            check(h.out == [reply], f'hello printed {h.out}, want exactly [{reply!r}]', h)
        cat.close_stdin()
        cat.wait_exit(TIMEOUT)


def part_man(prefix, tools):
    for t in tools:
        helptext = subprocess.run([os.path.join(prefix, 'bin', t), '--help'],
                                  capture_output=True, timeout=10).stdout.decode()
        opts = sorted(set(re.findall(r'(?<![\w-])--[a-z][a-z0-9-]*', helptext)))
        check(opts, f'{t} --help lists no option')
        with open(os.path.join(prefix, 'share', 'man', 'man1', t + '.1')) as f:
            page = f.read().replace('\\-', '-').replace('\\fB', '').replace('\\fR', '')
        absent = [o for o in opts if not re.search(re.escape(o) + r'(?![a-z0-9-])', page)]
        check(not absent, f'man/{t}.1 does not document {absent}')


def main():
    bindir = catproc.bin_dir()
    builddir = os.path.dirname(bindir)
    vals = cache(builddir)
    conf = {'cmake': vals.get('CMAKE_COMMAND') or shutil.which('cmake'),
            'libdir': vals.get('CMAKE_INSTALL_LIBDIR', 'lib')}
    for tool in ('make', 'pkg-config', 'nm', 'readelf'):
        if not shutil.which(tool):
            eventproc.skip(f'{tool} is not installed')
    if not conf['cmake'] or os.path.isabs(conf['libdir']):
        eventproc.skip('no cmake, or an absolute CMAKE_INSTALL_LIBDIR')
    # An instrumented library needs instrumented programs linked against it.
    sanitize = vals.get('SW_SANITIZE', 'OFF').upper() in ('ON', '1', 'TRUE', 'YES')
    extra = '-fsanitize=address,undefined' if sanitize else ''
    with_chat = os.access(os.path.join(bindir, 'setowire-chat'), os.X_OK)
    tools = ['setowire-cat', 'setowire-node'] + (['setowire-chat'] if with_chat else [])

    # cmake --install rewrites <build>/install_manifest.txt, which `make uninstall`
    # reads: keep the one a real `make install` wrote.
    manifest = os.path.join(builddir, 'install_manifest.txt')
    saved = open(manifest, 'rb').read() if os.path.exists(manifest) else None
    prefix = tempfile.mkdtemp(prefix='sw-install-')
    try:
        t0 = time.monotonic()
        libdir = part_install(builddir, conf, prefix, with_chat)
        print(f'ok install ({", ".join(tools)}) {time.monotonic() - t0:.2f} s',
              file=sys.stderr, flush=True)
        t0 = time.monotonic()
        n = part_exports(libdir)
        print(f'ok exports ({n} sw_* symbols) {time.monotonic() - t0:.2f} s',
              file=sys.stderr, flush=True)
        for static in (False, True):
            t0 = time.monotonic()
            hello = build_example(prefix, libdir, extra, static)
            part_example(prefix, libdir, hello, 'static' if static else 'shared')
            print(f'ok example ({"libsetowire.a" if static else "libsetowire.so"}) '
                  f'{time.monotonic() - t0:.2f} s', file=sys.stderr, flush=True)
        t0 = time.monotonic()
        part_man(prefix, tools)
        print(f'ok man ({len(tools)} pages) {time.monotonic() - t0:.2f} s',
              file=sys.stderr, flush=True)
    except (ProcError, subprocess.TimeoutExpired) as e:
        print(f'FAIL: {e}', file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
        if saved is not None:
            with open(manifest, 'wb') as f:
                f.write(saved)
        elif os.path.exists(manifest):
            os.unlink(manifest)
    return 0


if __name__ == '__main__':
    sys.exit(main())
