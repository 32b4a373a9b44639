/*
 * What both kinds of subscriber process share (client-worker.mjs: socket.io-client;
 * wire-subscriber.mjs: raw TCP): named groups of connections with their delivery counters, the
 * lanes that open `count` connections with a bench token each, and the IPC commands run.mjs sends
 * (connect, close, reset, wait, stats). Each process brings only how one connection opens and
 * closes. The process exits when the IPC channel closes, so it never outlives the benchmark.
 */
import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';

export const now = () => performance.timeOrigin + performance.now();

/**
 * @param {{ connect(g, args, auth): Promise<{ ok: boolean, why?: string }>, close(member): void }} kind
 *   connect opens one connection of group `g` (pushing it to `g.members` once it is usable);
 *   auth is `{ token }` when the run has a JWT secret, else null.
 */
export function serveSubscriberGroups(kind) {
  const groups = new Map();
  const group = (name) => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { members: [], received: 0, first: 0, last: 0, latency: null, expect: 0, waiter: null }));
    return g;
  };

  async function connect(args) {
    const { group: name, count, secret, userPrefix, offset = 0, concurrency = 50 } = args;
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
        const r = await kind.connect(g, args, auth);
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
    for (const m of g.members) kind.close(m);
    groups.delete(name);
    return { closed: g.members.length };
  }

  function reset({ group: name, latency = false }) {
    const g = group(name);
    Object.assign(g, { received: 0, first: 0, last: 0, latency: latency ? [] : null, expect: 0, waiter: null });
    return { sockets: g.members.length };
  }

  /** Resolves when the group has received `perSocket` events per connection, or after timeoutMs. */
  function wait({ group: name, perSocket, timeoutMs }) {
    const g = group(name);
    g.expect = perSocket * g.members.length;
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
    return { received: g.received, first: g.first, last: g.last, sockets: g.members.length, latency: g.latency ?? [] };
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
}
