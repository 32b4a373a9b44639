/*
 * "The Node limit": a raw WebSocket fan-out server on the `ws` package, nothing else. Subscribers
 * connect to `/sub/<room>` (the upgrade is ws's, no per-message handling), and
 * `POST /rooms/:room/broadcast` with `{ event, data }` builds ONE WebSocket text frame per publish
 * (header + payload, the same Socket.IO-style text the other servers send:
 * `42["<event>",<data>,{"id":…,"ts":…,"room":…}]`) and writes that same Buffer to the net socket of
 * every subscriber of the room: one write per delivery, no per-socket framing or encoding.
 * Also `GET /health/live`. Loaded with probe.cjs like the other servers under test.
 *
 * env: PORT, HOST (127.0.0.1)
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Sender, WebSocketServer } from 'ws';

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';
const MAX = 1048576;

/** room → Set of net sockets */
const rooms = new Map();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX, clientTracking: false });

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function broadcast(room, event, data) {
  const id = randomUUID();
  const payload = `42${JSON.stringify([event, data, { id, ts: Date.now(), room }])}`;
  const members = rooms.get(room);
  if (members && members.size) {
    const frame = Buffer.concat(Sender.frame(Buffer.from(payload), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
    for (const sock of members) sock.write(frame);
  }
  return { id, recipients: members?.size ?? 0 };
}

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health/live') return json(res, 200, { ok: true });
  const m = req.method === 'POST' && /^\/rooms\/([^/?]+)\/broadcast$/.exec(req.url);
  if (!m) return json(res, 404, { success: false });
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= MAX) chunks.push(c);
  });
  req.on('end', () => {
    let body;
    try {
      if (size > MAX) throw new Error('too large');
      body = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      return json(res, 400, { success: false });
    }
    json(res, 200, { success: true, data: broadcast(decodeURIComponent(m[1]), body.event, body.data) });
  });
});

http.on('upgrade', (req, socket, head) => {
  const m = /^\/sub\/([^/?]+)/.exec(req.url ?? '');
  if (!m) return socket.destroy();
  const room = decodeURIComponent(m[1]);
  wss.handleUpgrade(req, socket, head, (ws) => {
    const raw = ws._socket;
    let members = rooms.get(room);
    if (!members) rooms.set(room, (members = new Set()));
    members.add(raw);
    ws.on('close', () => {
      members.delete(raw);
      if (members.size === 0 && rooms.get(room) === members) rooms.delete(room);
    });
    ws.on('error', () => {});
  });
});

http.listen(port, host, () => {
  if (process.send) process.send({ listening: http.address().port });
});

const stop = () => {
  http.closeAllConnections();
  for (const members of rooms.values()) for (const s of members) s.destroy();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
