/*
 * The baseline: a minimal Socket.IO 4 server with pushgate's transport settings (path, no client
 * bundle, same payload limit, CORS reflecting the origin), rooms joined with `room:join` + ack, and
 * Express JSON endpoints that emit to a room or to user rooms. With REDIS_URL it uses
 * @socket.io/redis-adapter, like pushgate does. Nothing else: no auth, no presence, no metrics.
 *
 * env: PORT, HOST (127.0.0.1), REDIS_URL, REDIS_KEY
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import express from 'express';
import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';
const MAX = 1048576;

const app = express();
app.disable('x-powered-by');
app.use(express.json({ limit: MAX }));
const http = createServer(app);

let adapter;
let closeRedis = async () => {};
if (process.env.REDIS_URL) {
  const { createClient } = await import('redis');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  adapter = createAdapter(pub, sub, { key: process.env.REDIS_KEY ?? 'bare#io' });
  closeRedis = async () => {
    await Promise.allSettled([pub.close(), sub.close()]);
  };
}

const io = new Server(http, {
  path: '/socket.io',
  serveClient: false,
  maxHttpBufferSize: MAX,
  cors: { origin: true },
  ...(adapter ? { adapter } : {}),
});

io.on('connection', (socket) => {
  socket.on('room:join', (payload, ack) => {
    socket.join(String(payload?.room));
    if (typeof ack === 'function') ack({ ok: true });
  });
});

const localCount = (room) => io.of('/').adapter.rooms.get(room)?.size ?? 0;

app.post('/rooms/:room/broadcast', (req, res) => {
  const { room } = req.params;
  const { event, data } = req.body;
  const id = randomUUID();
  io.to(room).emit(event, data, { id, ts: Date.now(), room });
  res.json({ success: true, data: { id, recipients: localCount(room) } });
});

app.post('/push', (req, res) => {
  const { users = [], event, data } = req.body;
  const rooms = users.map((u) => `user:${u}`);
  const id = randomUUID();
  io.to(rooms).emit(event, data, { id, ts: Date.now() });
  res.json({ success: true, data: { id, recipients: rooms.reduce((n, r) => n + localCount(r), 0) } });
});

app.get('/health/live', (_req, res) => res.json({ ok: true }));

http.listen(port, host, () => {
  if (process.send) process.send({ listening: http.address().port });
});

const stop = () => {
  io.close();
  http.closeAllConnections();
  void closeRedis().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
