#!/usr/bin/env node
// Run the JavaScript reference's own chat program (chat.js) on loopback only.
//
//     ref_chat.js --port N [--dir DIR] NICK [ROOM]
//
// The chat program is the reference's, unchanged and not copied: this wrapper loads it
// from $SETOWIRE_REF_JS (else <repo>/.refs/js) after ref_peer.js's loadReference has
// applied its guards (no STUN, piping, HTTP bootstrap, seeds, LAN beacons or HTTP;
// every UDP socket bound to 127.0.0.1, the first one, the main socket, on --port;
// sends to anything but loopback dropped). chat.js writes ./identity.json: run it in a
// scratch folder (--dir). Exit 77 with "SKIP:" when the reference cannot be loaded.
'use strict';

const fs = require('fs');
const path = require('path');
const { loadReference } = require('./ref_peer.js');

const REF = process.env.SETOWIRE_REF_JS || path.join(__dirname, '..', '..', '.refs', 'js');
const args = process.argv.slice(2);
if (args.length < 3 || args[0] !== '--port' || !/^\d+$/.test(args[1]) || +args[1] > 65535) {
  process.stderr.write('usage: ref_chat.js --port N [--dir DIR] NICK [ROOM]\n');
  process.exit(2);
}
const port = +args[1];
args.splice(0, 2);
if (args[0] === '--dir' && args.length > 2) {
  process.chdir(args[1]);
  args.splice(0, 2);
}
const chat = path.join(REF, 'chat.js');
if (!fs.existsSync(chat)) {
  process.stderr.write(`SKIP: no chat.js in ${REF}\n`);
  process.exit(77);
}
loadReference(port, false);   // the Swarm chat.js requires is this patched module
process.argv = [process.argv[0], chat, ...args];
require(chat);
