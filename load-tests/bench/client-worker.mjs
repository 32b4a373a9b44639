/*
 * A client process: holds many socket.io-client connections (websocket transport only) in named
 * groups, counts `bench` events per group and, when asked, records push→receive latency from the
 * `t` field the orchestrator put in the data. Driven over IPC by run.mjs; exits when the IPC
 * channel closes, so it can never outlive the benchmark.
 */
import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';

const now = () => performance.timeOrigin + performance.now();
const groups = new Map();

function group(name) {
  let g = groups.get(name);
  if (!g) groups.set(name, (g = { sockets: [], received: 0, first: 0, last: 0, latency: null, expect: 0, waiter: null }));
  return g;
}

function onBench(g, data) {
  const t = now();
  g.received += 1;
  if (g.first === 0) g.first = t;
  g.last = t;
  if (g.latency && data && typeof data.t === 'number') g.latency.push(t - data.t);
  if (g.waiter && g.received >= g.expect) {
    const w = g.waiter;
    g.waiter = null;
    w();
  }
}

function connectOne(g, url, auth, room, timeoutMs) {
  return new Promise((resolve) => {
    const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: timeoutMs, ...(auth ? { auth } : {}) });
    const timer = setTimeout(() => done(false, 'timeout'), timeoutMs);
    const done = (ok, why) => {
      clearTimeout(timer);
      if (!ok) s.disconnect();
      else g.sockets.push(s);
      resolve({ ok, why });
    };
    s.on('bench', (data) => onBench(g, data));
    s.once('connect_error', (err) => done(false, err.message));
    s.once('connect', () => {
      if (!room) return done(true);
      s.timeout(timeoutMs).emit('room:join', { room }, (err, res) => done(!err && res && res.ok === true, err ? 'join timeout' : JSON.stringify(res)));
    });
  });
}

async function connect({ group: name, url, count, room, secret, userPrefix, offset = 0, concurrency = 50, timeoutMs = 20000 }) {
  const g = group(name);
  const key = secret ? createSecretKey(Buffer.from(secret)) : null;
  let next = 0;
  let ok = 0;
  const errors = {};
  const started = now();
  const lane = async () => {
    while (next < count) {
      const i = offset + next++;
      const auth = key ? { token: jwt.sign({ sub: `${userPrefix}${i}`, rooms: ['bench:*'] }, key, { algorithm: 'HS256', expiresIn: '6h' }) } : null;
      const r = await connectOne(g, url, auth, room, timeoutMs);
      if (r.ok) ok += 1;
      else errors[r.why] = (errors[r.why] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { connected: ok, failed: count - ok, errors, ms: now() - started };
}

function close({ group: name }) {
  const g = groups.get(name);
  if (!g) return { closed: 0 };
  for (const s of g.sockets) s.disconnect();
  groups.delete(name);
  return { closed: g.sockets.length };
}

function reset({ group: name, latency = false }) {
  const g = group(name);
  Object.assign(g, { received: 0, first: 0, last: 0, latency: latency ? [] : null, expect: 0, waiter: null });
  return { sockets: g.sockets.length };
}

/** Resolves when the group has received `perSocket` events per socket, or after timeoutMs. */
function wait({ group: name, perSocket, timeoutMs }) {
  const g = group(name);
  g.expect = perSocket * g.sockets.length;
  return new Promise((resolve) => {
    const finish = (complete) => {
      clearTimeout(timer);
      g.waiter = null;
      resolve({ complete, received: g.received, expected: g.expect, first: g.first, last: g.last });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    if (g.received >= g.expect) return finish(true);
    g.waiter = () => finish(true);
  });
}

function stats({ group: name }) {
  const g = group(name);
  return { received: g.received, first: g.first, last: g.last, sockets: g.sockets.length, latency: g.latency ?? [] };
}

const handlers = { connect, close, reset, wait, stats };

process.on('message', async (msg) => {
  const h = handlers[msg?.cmd];
  if (!h) return;
  try {
    process.send({ reply: msg.id, ok: true, result: await h(msg) });
  } catch (err) {
    process.send({ reply: msg.id, ok: false, error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
