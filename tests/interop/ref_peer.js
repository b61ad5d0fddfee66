#!/usr/bin/env node
// Run one JavaScript reference Setowire peer (js-setowire) under test control.
//
//     ref_peer.js --seed HEX [--port N] [--connect HOST:PORT]... [--topic TEXT] [--echo] [--lan]
//
// Same contract as ref_peer.py (see there): JSON event lines on stdout
// (listening / connection / data / disconnect / close / flooded), commands on stdin
// (send HEX, sendbig N, flood N S, store K HEX, storebig K N, fetch K MS, relays, quit; end of
// input = quit; fetch prints fetched / fetch_error, accepted CHUNK values print sync),
// diagnostics on stderr,
// exit 2 on bad arguments, 77 with "SKIP:" when the reference cannot be loaded.
// --lan keeps the reference's LAN multicast discovery on (as in ref_peer.py: sockets
// bound to 0.0.0.0, sends to private and multicast addresses allowed); it is refused
// unless the process runs in a named network namespace (ip netns exec).
// --lab URL is the NAT lab mode of ref_peer.py (see there): the reference keeps its
// STUN client and hard-wired STUN host names (the lab maps them in
// /etc/netns/<namespace>/hosts), URL (http://PRIVATE-IP:PORT, the lab's setowire-node)
// is its only HTTP bootstrap, sockets bind 0.0.0.0, sends go only to private IPv4
// addresses or the STUN names, HTTP only to URL; refused outside a named namespace.
// It adds {"event":"nat","addr":"IP:PORT","type":"..."} when STUN answers (and again
// with the reference's NAT guess, "nattype").
//
// The reference is the folder holding index.js / swarm.js: $SETOWIRE_REF_JS, else
// <repo>/.refs/js.  The driver only requires it; nothing of it is copied here.
//
// Network rule: loopback only.  Before the Swarm exists we
//   - empty, in place, the STUN, piping, HTTP bootstrap and seed arrays of the
//     reference's constants module (swarm.js destructured the same array objects),
//     and make STUN and the LAN multicast beacon no-ops;
//   - make http(s).request/get throw (HTTP discovery, in case a list was missed);
//   - bind every UDP socket to 127.0.0.1 and drop (with a stderr line) any
//     dgram send whose destination is not a loopback address.
// Without STUN the reference's join() never starts discovery at all (it waits for
// a public address forever), so DHT, piping, seeds and the peer cache stay idle.
// Checked (with a second driver dialling it) by
//     (sleep 9; echo quit) | strace -f -e trace=network -o /tmp/st \
//         node ref_peer.js --seed 01 --topic t
//     grep -E 'sin6?_addr' /tmp/st | grep -v '"127.0.0.1"'       -> prints nothing
//     ss -uanp                                  -> only a 127.0.0.1 socket
// (The only other network syscalls are a local netlink query: os.networkInterfaces()
// for the LAN address the reference would advertise.)  Exit 1 if --port is taken.
'use strict';

const path = require('path');
const fs = require('fs');
const dgram = require('dgram');
const crypto = require('crypto');
const http = require('http');
const https = require('https');

const REF = process.env.SETOWIRE_REF_JS || path.join(__dirname, '..', '..', '.refs', 'js');

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n'); // sync on pipes/files
const log = (msg) => process.stderr.write(`ref_peer.js: ${msg}\n`);

// Whether we run in a named network namespace (ip netns exec): ours is one of those
// bound under /run/netns.
function inOwnNetns() {
  try {
    const me = fs.statSync('/proc/self/ns/net');
    for (const d of ['/run/netns', '/var/run/netns']) {
      if (!fs.existsSync(d)) continue;
      for (const n of fs.readdirSync(d)) {
        const st = fs.statSync(path.join(d, n));
        if (st.ino === me.ino && st.dev === me.dev) return true;
      }
    }
  } catch (e) {
    return false;
  }
  return false;
}

// Under --lan: loopback, private IPv4 (the namespace's own /24) and the LAN group.
function lanAllowed(host) {
  if (isLoopback(host) || host === '239.0.0.1') return true;
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(host || '');
  if (!m) return false;
  const [a, b] = [+m[1], +m[2]];
  return a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168);
}

function isLoopback(host) {
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::1';
}

const pattern = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + 3) & 255));

function usage(msg) {
  process.stderr.write(`ref_peer.js: ${msg}\n` +
    'usage: ref_peer.js --seed HEX [--port N] [--connect HOST:PORT]... [--topic TEXT] [--echo] [--lan]\n');
  process.exit(2);
}

// Under --lab: a private IPv4 literal (the lab's 172.30/16 public network, home LANs).
function labAllowed(host) {
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(host || '');
  if (!m) return false;
  const [a, b] = [+m[1], +m[2]];
  return a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168);
}

function parseArgs(argv) {
  const a = { seed: null, port: 0, dials: [], topic: null, echo: false, lan: false, lab: null };
  for (let i = 0; i < argv.length; i++) {
    const opt = argv[i];
    if (opt === '--echo') { a.echo = true; continue; }
    if (opt === '--lan') { a.lan = true; continue; }
    if (!['--seed', '--port', '--connect', '--topic', '--lab'].includes(opt)) usage(`unknown argument ${opt}`);
    const val = argv[++i];
    if (val === undefined) usage(`${opt} needs a value`);
    if (opt === '--seed') a.seed = val;
    else if (opt === '--topic') a.topic = val;
    else if (opt === '--lab') {
      const m = /^http:\/\/([0-9.]+):(\d+)\/?$/.exec(val);
      if (!m || !labAllowed(m[1])) usage('--lab URL: need http://PRIVATE-IPv4:PORT');
      a.lab = val.replace(/\/$/, '');
    }
    else if (opt === '--port') {
      if (!/^\d+$/.test(val) || +val > 65535) usage('--port out of range');
      a.port = +val;
    } else {
      // (checked after the loop: --lab may come later and widens what is allowed)
      const c = val.lastIndexOf(':');
      const host = val.slice(0, c), port = val.slice(c + 1);
      if (c <= 0 || !/^\d+$/.test(port) || +port > 65535)
        usage(`--connect ${val}: need a loopback HOST:PORT`);
      // The reference keys peers by the text "ip:port" of the datagram source.
      a.dials.push([host === 'localhost' ? '127.0.0.1' : host, +port]);
    }
  }
  // Same seed rule as ref_peer.py, so one seed gives one id in both references
  // (JS would silently truncate invalid hex and use a random key for "").
  if (a.seed === null || !/^(?:[0-9a-fA-F]{2})+$/.test(a.seed))
    usage('--seed must be non-empty hex with an even number of digits');
  if (a.lan && !inOwnNetns()) usage('--lan only inside a network namespace of its own (ip netns exec)');
  if (a.lab && !inOwnNetns()) usage('--lab only inside a network namespace of its own (ip netns exec)');
  for (const [host] of a.dials)
    if (!(a.lab ? labAllowed(host) : isLoopback(host)))
      usage(`--connect ${host}: need a loopback HOST:PORT (private under --lab)`);
  return a;
}

function loadReference(mainPort, lan, lab = null) {
  const entry = ['index.js', 'swarm.js'].map((f) => path.join(REF, f)).find((f) => fs.existsSync(f));
  if (!entry || !fs.existsSync(path.join(REF, 'constants.js'))) {
    process.stderr.write(`SKIP: JavaScript reference not found (no index.js/swarm.js in ${REF})\n`);
    process.exit(77);
  }
  const C = require(path.join(REF, 'constants.js'));
  const stunNames = new Set((C.STUN_HOSTS || []).map((s) => s.host));
  for (const name of ['STUN_HOSTS', 'PIPING_SERVERS', 'HARDCODED_HTTP_BOOTSTRAP', 'HARDCODED_SEEDS'])
    if (Array.isArray(C[name]) && !(lab && name === 'STUN_HOSTS')) C[name].length = 0;

  const noHttp = () => { throw new Error('ref_peer.js: HTTP disabled (loopback-only tests)'); };
  https.request = https.get = noHttp;
  if (lab) {
    // Only the lab's bootstrap URL: the reference calls request({hostname, port, ...})
    // and get('http://IP:PORT/peers').
    const want = new URL(lab);
    const onlyLab = (real) => function (opt, ...rest) {
      const u = typeof opt === 'string' || opt instanceof URL ? new URL(opt) : null;
      const host = u ? u.hostname : (opt.hostname || opt.host);
      const port = String(u ? u.port : opt.port);
      if (host !== want.hostname || port !== want.port) throw new Error(`ref_peer.js: HTTP to ${host} disabled`);
      return real.call(this, opt, ...rest);
    };
    http.request = onlyLab(http.request);
    http.get = onlyLab(http.get);
  } else {
    http.request = http.get = noHttp;
  }

  // The first socket bound is the Swarm's main socket (its constructor binds
  // synchronously); it gets --port.  Later ones (DHT) keep the port they ask for.
  const realBind = dgram.Socket.prototype.bind;
  let firstPort = mainPort;
  dgram.Socket.prototype.bind = function (port, cb) {
    if (typeof port === 'function') { cb = port; port = 0; }
    if (firstPort !== null) {
      port = firstPort; firstPort = null;
      // The reference attaches its error listener only after binding, and node then
      // drops bind errors silently: the driver would sit there, never listening.
      const fail = (e) => { log(`cannot bind the main socket: ${e.message}`); process.exit(1); };
      this.once('error', fail);
      this.once('listening', () => this.off('error', fail));
    }
    return realBind.call(this, { port: +port || 0, address: lan || lab ? '0.0.0.0' : '127.0.0.1' }, cb);
  };
  const realSend = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function (...args) {
    const host = args.slice(1).find((x) => typeof x === 'string');
    const ok = lab ? labAllowed(host) || stunNames.has(host) : lan ? lanAllowed(host) : isLoopback(host);
    if (!ok) {
      log(`blocked send to ${host}`);
      const cb = args[args.length - 1];
      if (typeof cb === 'function') process.nextTick(cb, null, 0);
      return;
    }
    return realSend.apply(this, args);
  };

  let Swarm;
  try {
    Swarm = require(entry);
  } catch (e) {
    process.stderr.write(`SKIP: cannot load the JavaScript reference: ${e.message}\n`);
    process.exit(77);
  }
  if (!lab) Swarm.prototype._stunLazy = function () {};  // no STUN: publicAddress stays null
  if (!lan || lab) Swarm.prototype._initLan = function () {};   // no multicast socket, no beacons
  return Swarm;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const Swarm = loadReference(args.port, args.lan, args.lab);

  const swarm = new Swarm(args.lab ? { seed: args.seed, bootstrapHttp: [args.lab] } : { seed: args.seed });
  let closed = false;
  const onClose = () => { if (!closed) { closed = true; emit({ event: 'close' }); } };
  if (args.echo) {   // before the data event line: the echo is what gets timed
    swarm.on('data', (data, peer) => {
      if (!data.length) return;
      const e = Buffer.from(data);
      e[e.length - 1] ^= 0xff;
      peer.write(e);
    });
  }
  swarm.on('connection', (peer) => emit({ event: 'connection', peer: peer.id }));
  swarm.on('data', (data, peer) => emit({ event: 'data', peer: peer.id, hex: Buffer.from(data).toString('hex') }));
  swarm.on('disconnect', (pid) => emit({ event: 'disconnect', peer: pid }));
  swarm.on('nat', () => emit({ event: 'nat', addr: swarm.publicAddress, type: swarm.natType }));
  swarm.on('nattype', () => emit({ event: 'nattype', addr: swarm.publicAddress, type: swarm.natType }));
  swarm.on('close', onClose);
  swarm.on('sync', (key, value) => emit({ event: 'sync', key, len: value.length }));

  // _init binds the socket and creates the batch sender; wait for all of it.
  await swarm._ready;
  emit({ event: 'listening', id: swarm._id, port: swarm._sock.address().port });

  // join() stores the topic hash; discovery itself never starts without STUN.
  if (args.topic !== null) swarm.join(crypto.createHash('sha256').update(args.topic, 'utf8').digest());

  // The reference's own dial: 8 HELLOs 300 ms apart, keyed "ip:port".
  for (const [host, port] of args.dials) swarm._dial(host, port, null, null, null);

  let quitting = false;
  let floodSeq = 0n;
  const quit = async () => {
    if (quitting) return;
    quitting = true;
    await swarm.destroy();           // GOAWAYs, 2 s drain, then 'close'
    onClose();
    process.exit(0);                 // the reference leaves intervals running
  };

  const rl = require('readline').createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (quitting) return;
    const t = line.trim();
    const sp = t.indexOf(' ');
    const cmd = sp < 0 ? t : t.slice(0, sp);
    const arg = sp < 0 ? '' : t.slice(sp + 1).trim();
    let data;
    if (cmd === 'quit') return void quit();
    if (cmd === '') return;
    if (cmd === 'relays') {          // the relays the reference remembered (RELAY_ANN, DHT)
      const list = [...(swarm._relays || new Map()).values()]
        .map((r) => ({ id: r.id, ip: r.ip, port: r.port }));
      return void emit({ event: 'relays', list });
    }
    if (cmd === 'store' || cmd === 'storebig' || cmd === 'fetch') {
      const m = /^(\S+) +(\S+)$/.exec(arg);
      if (!m) return log(`bad command '${t.slice(0, 60)}'`);
      const [, key, rest] = m;
      if (cmd === 'fetch' && /^\d+$/.test(rest)) {
        swarm.fetch(key, +rest).then(
          (v) => emit({ event: 'fetched', key, len: v.length,
                        sha256: crypto.createHash('sha256').update(v).digest('hex') }),
          (e) => emit({ event: 'fetch_error', key, error: String(e && e.message || e) }));
      } else if (cmd === 'storebig' && /^\d+$/.test(rest)) {
        swarm.store(key, pattern(+rest));
      } else if (cmd === 'store' && /^(?:[0-9a-fA-F]{2})+$/.test(rest)) {
        swarm.store(key, Buffer.from(rest, 'hex'));
      } else {
        return log(`bad command '${t.slice(0, 60)}'`);
      }
      return;
    }
    if (cmd === 'send') {
      if (!/^(?:[0-9a-fA-F]{2})*$/.test(arg)) return log(`send: bad hex '${arg}'`);
      data = Buffer.from(arg, 'hex');
    } else if (cmd === 'sendbig' && /^\d+$/.test(arg)) {
      data = pattern(+arg);
    } else if (cmd === 'flood' && /^\d+ +\d+$/.test(arg) && +arg.split(/ +/)[1] >= 8) {
      const [count, size] = arg.split(/ +/).map(Number);
      let n = 0;
      for (let i = 0; i < count; i++) {   // broadcast() only queues; nothing to wait for
        const m = Buffer.alloc(size, 0xab);
        m.writeBigUInt64LE(floodSeq++);
        n = swarm.broadcast(m);
      }
      log(`flood: ${count} x ${size} bytes queued to ${n} peer(s)`);
      return void emit({ event: 'flooded', count });
    } else {
      return log(`unknown command '${t}'`);
    }
    const n = swarm.broadcast(data);
    log(`${cmd}: ${data.length} bytes queued to ${n} peer(s)`);
  });
  rl.on('close', quit);
}

// ref_chat.js requires this file for loadReference (the same loopback guards).
if (require.main === module) main().catch((e) => { log(e.stack || String(e)); process.exit(1); });
module.exports = { loadReference };
