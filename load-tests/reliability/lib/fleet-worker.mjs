/*
 * A client process driven by the runner over IPC: groups of counting Socket.IO clients, and the
 * floods (connection storms, event floods, push-API floods). Floods and crowds live here, not in the
 * runner, so that the runner's own probe client measures pushgate and not a busy event loop next
 * to it. Exits when the IPC channel closes, so it can never outlive the run.
 *
 * Request: { id, cmd, ...args } → answer { reply: id, ok, result | error }.
 */
import { io } from 'socket.io-client';
import { countBy, now, sleep } from './common.mjs';
import { makeToken, TrackedClient } from './clients.mjs';
import { outcome, request } from './http.mjs';

const secret = process.env.RELIABILITY_JWT_SECRET;
if (!secret) throw new Error('RELIABILITY_JWT_SECRET is not set');
const groups = new Map();
const clientsOf = (name) => groups.get(name)?.clients ?? [];

async function inLanes(count, lanes, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

const commands = {
  async connect({ group, url, users, rooms = [], join = [], localAddress, recover = true, concurrency = 25, latencyEvents }) {
    let g = groups.get(group);
    if (!g) groups.set(group, (g = { clients: [], emitting: null }));
    const errors = [];
    let connected = 0;
    const started = now();
    await inLanes(users.length, concurrency, async (i) => {
      const c = new TrackedClient(url, { secret, userId: users[i], rooms, recover, localAddress, latencyEvents });
      g.clients.push(c);
      if (!(await c.ready())) return void errors.push(c.connectErrors[c.connectErrors.length - 1]?.code ?? 'timeout');
      try {
        for (const room of join) await c.join(room);
        connected += 1;
      } catch (err) {
        errors.push(err.message);
      }
    });
    return { connected, failed: errors.length, errors: countBy(errors), ms: now() - started, byNode: countBy(g.clients, (c) => c.nodeId) };
  },

  nodes({ group }) {
    const cs = clientsOf(group);
    return { clients: cs.length, connected: cs.filter((c) => c.socket.connected).length, byNode: countBy(cs.filter((c) => c.socket.connected), (c) => c.nodeId) };
  },

  /** Deliveries of `event` against `sent`, summed over the group; `losses` names the first clients that missed some, and which. */
  tally({ group, event, sent }) {
    const out = { clients: 0, received: 0, lost: 0, duplicated: 0, outOfOrder: 0, clientsWithLoss: 0, withLossNeverDisconnected: 0, losses: [], duplicates: [] };
    for (const c of clientsOf(group)) {
      const t = c.tally(event, sent);
      out.clients += 1;
      out.received += t.received;
      out.lost += t.lost;
      out.duplicated += t.duplicated;
      out.outOfOrder += t.outOfOrder;
      for (const n of t.duplicates) if (out.duplicates.length < 50 && !out.duplicates.includes(n)) out.duplicates.push(n);
      if (t.lost === 0) continue;
      out.clientsWithLoss += 1;
      if (c.disconnects.length === 0) out.withLossNeverDisconnected += 1;
      if (out.losses.length < 20) out.losses.push({ userId: c.userId, missing: t.missing.slice(0, 20), welcomes: c.welcomes, disconnects: c.disconnects, recovered: c.recovered.map((r) => ({ at: r.at, streams: r.streams })) });
    }
    return out;
  },

  /** For each client that lost its connection after `after`: when, why, and when and where it was welcomed again. */
  reconnects({ group, after }) {
    const out = [];
    for (const c of clientsOf(group)) {
      const d = c.disconnects.find((x) => x.at >= after);
      if (!d) continue;
      const w = c.welcomes.find((x) => x.at >= d.at);
      const rec = c.recovered.find((x) => x.at >= d.at);
      out.push({ userId: c.userId, lostAt: d.at, reason: d.reason, backAt: w?.at ?? null, nodeId: w?.nodeId ?? null, drainedNotice: c.draining.some((t) => t >= after), recovered: rec ? Object.values(rec.streams).every((s) => s.recovered) : null });
    }
    return out;
  },

  latency({ group, event }) {
    return clientsOf(group).flatMap((c) => c.latency.filter(([, , e]) => !event || e === event).map(([t, ms]) => [t, ms]));
  },

  /** Stops reading: pauses the TCP socket under the WebSocket, so the server's writes pile up. */
  pause({ group }) {
    let n = 0;
    for (const c of clientsOf(group)) {
      const tcp = c.tcp();
      if (tcp) {
        tcp.pause();
        n += 1;
      }
    }
    return { paused: n };
  },

  resume({ group }) {
    for (const c of clientsOf(group)) c.tcp()?.resume();
    return { resumed: clientsOf(group).length };
  },

  /** Each client emits `event` every `everyMs` (skipping while disconnected) and records every acknowledgement. */
  emitStart({ group, event, everyMs, timeoutMs = 15000 }) {
    const g = groups.get(group);
    const records = [];
    const inflight = new Set();
    let running = true;
    let skipped = 0;
    const loops = g.clients.map(async (c, i) => {
      await sleep((everyMs * i) / g.clients.length);
      for (let n = 1; running; n++) {
        if (c.socket.connected) {
          const nodeId = c.nodeId;
          const p = c.emit(event, { n }, timeoutMs).then((r) => records.push({ ...r, nodeId }));
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
        } else skipped += 1;
        await sleep(everyMs);
      }
    });
    g.emitting = {
      stop: async () => {
        running = false;
        await Promise.all(loops);
        await Promise.all([...inflight]);
        return { records: records.map((r) => [r.at, r.ms, r.code, r.nodeId]), skipped };
      },
    };
    return { emitting: g.clients.length };
  },

  async emitStop({ group }) {
    const g = groups.get(group);
    const r = await g.emitting.stop();
    g.emitting = null;
    return r;
  },

  /**
   * `count` handshakes, `concurrency` at a time, spread over `localAddresses` in turn; each is closed
   * as soon as it is accepted. → accepted / refused by code, per address.
   */
  async storm({ url, count, localAddresses, concurrency = 50, userPrefix = 'storm' }) {
    const perAddress = {};
    const started = now();
    await inLanes(count, concurrency, async (i) => {
      const addr = localAddresses[i % localAddresses.length];
      const token = makeToken(secret, `${userPrefix}-${i}`);
      const code = await new Promise((resolve) => {
        const s = io(url, { forceNew: true, transports: ['websocket'], reconnection: false, timeout: 10000, localAddress: addr, auth: { token } });
        const t = setTimeout(() => finish('timeout'), 15000);
        const finish = (c) => {
          clearTimeout(t);
          s.disconnect();
          resolve(c);
        };
        s.once('connect', () => finish('accepted'));
        s.once('connect_error', (err) => finish(err.data?.code ?? err.message));
      });
      const a = (perAddress[addr] ??= {});
      a[code] = (a[code] ?? 0) + 1;
    });
    const total = {};
    for (const a of Object.values(perAddress)) for (const [k, v] of Object.entries(a)) total[k] = (total[k] ?? 0) + v;
    return { total, perAddress, ms: now() - started };
  },

  /**
   * One socket emits as fast as `window` outstanding acknowledgements allow, for `seconds`. A
   * persistent flooder: when the node disconnects it, it connects again (as fast as the node lets
   * it) and goes on, so the flood lasts the whole spell.
   */
  async eventFlood({ url, userId, event, seconds, window = 64, localAddress }) {
    const codes = [];
    let connections = 0;
    let refusedHandshakes = 0;
    let stillConnected = false;
    const started = now();
    const end = started + seconds * 1000;
    while (now() < end) {
      const c = new TrackedClient(url, { secret, userId, localAddress, reconnection: false });
      try {
        if (!(await c.ready(Math.max(1, end - now())))) {
          refusedHandshakes += 1;
          await sleep(100);
          continue;
        }
        connections += 1;
        await inLanes(window, window, async () => {
          while (now() < end && c.socket.connected) {
            const r = await c.emit(event, { flood: true }, 10000);
            codes.push(r.code);
          }
        });
        stillConnected = c.socket.connected;
      } finally {
        c.close();
      }
    }
    if (connections === 0) throw new Error('flooding socket could not connect');
    return { sent: codes.length, byCode: countBy(codes), ms: now() - started, stillConnected, connections, refusedHandshakes };
  },

  /** `connections` keep-alive request loops pushing with one key for `seconds`. */
  async httpFlood({ url, key, seconds, connections = 16, body }) {
    const outcomes = [];
    const retryAfter = [];
    let missingRetryAfter = 0;
    const started = now();
    const end = started + seconds * 1000;
    await inLanes(connections, connections, async () => {
      while (now() < end) {
        const r = await request(url, { method: 'POST', path: '/api/v1/push', key, body });
        const o = outcome(r);
        outcomes.push(o);
        if (r.status === 429) {
          if (r.headers['retry-after'] === undefined) missingRetryAfter += 1;
          else if (retryAfter.length < 10000) retryAfter.push(Number(r.headers['retry-after']));
        }
      }
    });
    const ms = now() - started;
    return {
      requests: outcomes.length,
      byOutcome: countBy(outcomes),
      rps: Math.round(outcomes.length / (ms / 1000)),
      retryAfter: retryAfter.length ? { min: Math.min(...retryAfter), max: Math.max(...retryAfter) } : null,
      missingRetryAfter,
      ms,
    };
  },

  close({ group }) {
    for (const c of clientsOf(group)) c.close();
    groups.delete(group);
    return { closed: true };
  },
};

process.on('message', async (m) => {
  if (!m || m.id === undefined) return;
  try {
    const result = await commands[m.cmd](m);
    process.send({ reply: m.id, ok: true, result });
  } catch (err) {
    process.send({ reply: m.id, ok: false, error: err?.stack ?? String(err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
