// The node.js `ws` fan-out peer of `make bench`: the same recorded events, the same
// viewers, the same window as the gateway and the minimal Python fan-out.
//
//   node fanout.js PORT RECORDING [send|prepared]
//
// GET  /ws?chat=<uuid>  a viewer of one chat; greeted with {"type":"connected"} like the gateway
// POST /start           broadcast the recording (JSON lines {"chat", "value"}) once, as fast as
//                       the viewers read it: BATCH events, then yield to the event loop, and
//                       wait while any socket has more than HIGH bytes buffered (flow control)
// GET  /health          200 once listening
//
// "send": the ws README's broadcast, `client.send(text)` per viewer (ws frames it per viewer).
// "prepared": the frame built once per event with ws's own Sender.frame, one socket write each.
'use strict';
const fs = require('fs');
const http = require('http');
const { WebSocketServer, Sender } = require('ws');

const [port, recordingPath, mode = 'prepared'] = process.argv.slice(2);
const BATCH = 1000; // events per turn: the gateway's Kafka poll (max_poll_records) at most
const HIGH = 256 * 1024;

const recording = fs.readFileSync(recordingPath, 'utf8').split('\n').filter(Boolean).map((line) => {
  const { chat, value } = JSON.parse(line);
  return { chat, value: Buffer.from(value) };
});
const rooms = new Map();
const sockets = new Set();
let broadcasting = false;

const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));
const backlogged = () => {
  for (const ws of sockets) if (ws._socket.writableLength > HIGH) return true;
  return false;
};

async function broadcast() {
  for (let at = 0; at < recording.length; at += BATCH) {
    for (const { chat, value } of recording.slice(at, at + BATCH)) {
      const room = rooms.get(chat);
      if (!room) continue;
      if (mode === 'send') {
        for (const ws of room) ws.send(value, { binary: false });
      } else {
        const frame = Buffer.concat(Sender.frame(value, {
          fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false,
        }));
        for (const ws of room) ws._socket.write(frame);
      }
    }
    do { await yieldToLoop(); } while (backlogged());
  }
  broadcasting = false;
}

const server = http.createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/start') {
    if (!broadcasting) { broadcasting = true; broadcast(); }
    res.writeHead(202).end('{"started":true}');
  } else {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}');
  }
});
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const chat = new URL(req.url, 'http://x').searchParams.get('chat') || '';
  if (!rooms.has(chat)) rooms.set(chat, new Set());
  rooms.get(chat).add(ws);
  sockets.add(ws);
  ws.on('close', () => { rooms.get(chat).delete(ws); sockets.delete(ws); });
  ws.on('error', () => {});
  ws.send('{"type":"connected"}');
});
server.listen(Number(port), '127.0.0.1');
