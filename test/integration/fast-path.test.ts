import request from 'supertest';
import { NodeWebSocket, NodeXHR } from 'engine.io-client';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { PushMeta } from '../../server/src/contracts/socket-events';
import { testRedisUrl, uniquePrefix } from '../support/redis';
import { ADMIN_KEY, closeAllClients, connectClient, connectUser, emitAck, eventually, makeToken, nextEvent, startNode, type TestNode } from '../support/node';

/*
 * The delivery fast path (server/src/delivery): pushes are encoded once and the same WebSocket
 * frame is written to every recipient's TCP connection, coalesced per socket and event-loop turn.
 * Everything that used to rely on Socket.IO's per-socket path is checked here on real nodes with
 * real socket.io-client sockets, and each test also checks which path the deliveries took
 * (pushgate_socket_deliveries_total{path}), so a fast path that silently stopped being used fails
 * as loudly as one that delivers wrongly.
 */

type Got = { n: number; meta: PushMeta }[];

async function metric(node: TestNode, name: string, labels = ''): Promise<number> {
  const text = (await request(node.url).get('/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

async function paths(node: TestNode) {
  return {
    direct: await metric(node, 'pushgate_socket_deliveries_total', 'path="direct"'),
    engine: await metric(node, 'pushgate_socket_deliveries_total', 'path="engine"'),
    writes: await metric(node, 'pushgate_socket_writes_total'),
    delivered: await metric(node, 'pushgate_messages_delivered_total'),
  };
}

function api(node: TestNode, path: string, body: unknown) {
  return request(node.url).post(`/api/v1${path}`).set('Authorization', `Bearer ${ADMIN_KEY}`).send(body as object);
}

/** Records `data.n` and meta of every `event`; acknowledges when the server asks. */
function record(socket: ClientSocket, event = 'e'): Got {
  const got: Got = [];
  socket.on(event, (data: { n: number }, meta: PushMeta, ack?: (x: unknown) => void) => {
    got.push({ n: data.n, meta });
    if (typeof ack === 'function') ack(true);
  });
  return got;
}

const seq = (offset: string | undefined) => Number(offset!.slice(offset!.indexOf(':') + 1));
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** Lost, duplicated and out-of-order counts of the `n`s one socket got, against 0..sent-1. */
function audit(got: Got, sent: number) {
  const ns = got.map((g) => g.n);
  const seen = new Set(ns);
  return {
    lost: range(sent).filter((n) => !seen.has(n)).length,
    duplicated: ns.length - seen.size,
    outOfOrder: ns.filter((n, i) => i > 0 && n < ns[i - 1]!).length,
  };
}

// In memory, pushes reach the fanout from the HTTP request; on Redis, from the subscription (and
// history reads are real round trips, so a replay spans several turns with live pushes between them).
describe.each([['in memory', false], ['on Redis', true]])('delivery fast path on one node %s', (_label, onRedis) => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ HISTORY_SIZE: '500', ...(onRedis ? { REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('fast') } : {}) });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('a burst to a room reaches every WebSocket socket once, in order, with its stream offsets, in fewer writes than deliveries', async () => {
    const members = await Promise.all(range(20).map((i) => connectUser(node.url, `fan-${i}`, { rooms: ['fast:*'] })));
    for (const m of members) await emitAck(m.socket, 'room:join', { room: 'fast:burst' });
    const gots = members.map((m) => record(m.socket));
    const before = await paths(node);

    const messages = range(50).map((n) => ({ rooms: ['fast:burst'], event: 'e', data: { n } }));
    const res = await api(node, '/batch', { messages }).expect(200);
    expect(res.body.data.results.map((r: { data: { recipients: number } }) => r.data.recipients)).toEqual(range(50).map(() => 20));
    await eventually(() => gots.every((g) => g.length >= 50));

    for (const got of gots) {
      expect(got.map((g) => g.n)).toEqual(range(50));
      expect(got.every((g) => g.meta.stream === 'fast:burst' && g.meta.room === 'fast:burst')).toBe(true);
      const offsets = got.map((g) => seq(g.meta.offset));
      expect(offsets).toEqual(range(50, offsets[0]));
    }
    const after = await paths(node);
    expect(after.direct - before.direct).toBe(1000);
    expect(after.engine - before.engine).toBe(0);
    expect(after.delivered - before.delivered).toBe(1000);
    // In memory one batch request is admitted within one event-loop turn, so each socket's first
    // frame leaves at once and the other 49 in one writev. Over Redis they arrive in as many reads
    // as the subscription takes (scheduling decides), so only the bound holds there.
    if (onRedis) expect(after.writes - before.writes).toBeLessThanOrEqual(1000);
    else expect(after.writes - before.writes).toBe(40);
  });

  it('long-polling sockets get the same pushes through Socket.IO, in order, beside WebSocket ones', async () => {
    const polling = await Promise.all(range(2).map((i) => connectUser(node.url, `poll-${i}`, { rooms: ['fast:*'] }, { transports: ['polling'] })));
    const ws = await connectUser(node.url, 'poll-ws', { rooms: ['fast:*'] });
    const all = [...polling, ws];
    for (const m of all) await emitAck(m.socket, 'room:join', { room: 'fast:mixed' });
    const gots = all.map((m) => record(m.socket));
    const before = await paths(node);
    for (let n = 0; n < 30; n += 10) await api(node, '/batch', { messages: range(10, n).map((i) => ({ rooms: ['fast:mixed'], event: 'e', data: { n: i } })) }).expect(200);
    await eventually(() => gots.every((g) => g.length >= 30));
    for (const got of gots) expect(got.map((g) => g.n)).toEqual(range(30));
    const after = await paths(node);
    expect(after.engine - before.engine).toBe(60);
    expect(after.direct - before.direct).toBe(30);
  });

  it('an upgrade from long-polling to WebSocket in the middle of a burst loses nothing, repeats nothing and keeps order', async () => {
    const before = await paths(node);
    // The client's WebSocket transport waits until the test lets it open, so the upgrade happens
    // while the burst is already flowing over long-polling.
    let letOpen!: () => void;
    const mayOpen = new Promise<void>((r) => (letOpen = r));
    class HeldWebSocket extends NodeWebSocket {
      override doOpen() {
        void mayOpen.then(() => super.doOpen());
        return this;
      }
    }
    const socket = connectClient(node.url, { token: makeToken({ sub: 'upgrader' }) }, { transports: [NodeXHR, HeldWebSocket] as never });
    const got = record(socket);
    let upgradedAt = -1;
    let sent = 0;
    socket.io.engine.once('upgrade', () => (upgradedAt = sent));
    await nextEvent(socket, 'welcome');
    expect(socket.io.engine.transport.name).toBe('polling');
    // Pushes in small batches, back to back: 20 over long-polling, then on until 40 were sent after the upgrade.
    while (upgradedAt < 0 || sent < upgradedAt + 40) {
      if (sent > 5000) throw new Error('the client never upgraded');
      await api(node, '/batch', { messages: range(4, sent).map((n) => ({ users: ['upgrader'], event: 'e', data: { n } })) }).expect(200);
      sent += 4;
      if (sent === 20) letOpen();
    }
    await eventually(() => got.length >= sent);
    expect(upgradedAt).toBeGreaterThan(0);
    expect(audit(got, sent)).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(got).toHaveLength(sent);
    const after = await paths(node);
    // Both paths carried part of this socket's burst.
    expect(after.engine - before.engine).toBeGreaterThan(0);
    expect(after.direct - before.direct).toBeGreaterThanOrEqual(20);
  });

  it('a recovery holds live pushes (direct writes included) until the replay is out: every message once, in order', async () => {
    const first = await connectUser(node.url, 'recoverer', { rooms: ['fast:*'] });
    await emitAck(first.socket, 'room:join', { room: 'fast:rec' });
    const early = record(first.socket);
    // 4 KiB each: the replay of the gap (1.2 MB) passes the 256 KiB a replay may leave unsent, so
    // it pauses for the socket to drain, over many turns, while live pushes keep arriving.
    const pad = 'p'.repeat(4096);
    const broadcast = (from: number, count: number) => api(node, '/batch', { messages: range(count, from).map((n) => ({ rooms: ['fast:rec'], event: 'e', data: { n, pad } })) }).expect(200);
    await broadcast(0, 10);
    await eventually(() => early.length === 10);
    const last = early[9]!.meta.offset!;
    first.socket.disconnect();
    for (let n = 10; n < 310; n += 100) await broadcast(n, 100);
    // A bystander keeps the room on this node, so live pushes go on through the fast path meanwhile.
    const bystander = await connectUser(node.url, 'bystander', { rooms: ['fast:*'] });
    await emitAck(bystander.socket, 'room:join', { room: 'fast:rec' });
    const before = await paths(node);

    const back = connectClient(node.url, { token: makeToken({ sub: 'recoverer', rooms: ['fast:*'] }), recover: { 'fast:rec': last } });
    const got = record(back);
    const recovered = nextEvent<[{ streams: Record<string, { recovered: boolean; replayed: number }> }]>(back, 'recovered');
    const live = (async () => {
      for (let n = 310; n < 410; n += 5) await broadcast(n, 5);
    })();
    const [report] = await recovered;
    await live;
    await eventually(() => got.length >= 400);
    expect(report.streams['fast:rec']).toMatchObject({ recovered: true });
    expect(got.map((g) => g.n)).toEqual(range(400, 10));
    const offsets = got.map((g) => seq(g.meta.offset));
    expect(offsets).toEqual(range(400, seq(last) + 1));
    const after = await paths(node);
    expect(after.direct - before.direct).toBeGreaterThan(0);
  });

  it('pushes asking for receipts keep their place among plain pushes, and every socket acknowledges', async () => {
    const members = await Promise.all(range(3).map((i) => connectUser(node.url, `rcpt-${i}`, { rooms: ['fast:*'] })));
    for (const m of members) await emitAck(m.socket, 'room:join', { room: 'fast:rcpt' });
    const gots = members.map((m) => record(m.socket));
    const messages = range(30).map((n) => ({ rooms: ['fast:rcpt'], event: 'e', data: { n }, ...(n % 3 === 0 ? { ack: true, ackTimeoutMs: 5000 } : {}) }));
    const res = await api(node, '/batch', { messages }).expect(200);
    const results = res.body.data.results as { data: { recipients: number; acked?: number } }[];
    expect(results.filter((_, n) => n % 3 === 0).map((r) => r.data.acked)).toEqual(range(10).map(() => 3));
    await eventually(() => gots.every((g) => g.length >= 30));
    for (const got of gots) expect(got.map((g) => g.n)).toEqual(range(30));
  });

  it('`except` skips the named sockets on the direct path', async () => {
    const members = await Promise.all(range(3).map((i) => connectUser(node.url, `exc-${i}`, { rooms: ['fast:*'] })));
    for (const m of members) await emitAck(m.socket, 'room:join', { room: 'fast:exc' });
    const gots = members.map((m) => record(m.socket));
    const skipped = members[1]!.welcome.socketId;
    const before = await paths(node);
    await api(node, '/rooms/fast:exc/broadcast', { event: 'e', data: { n: 0 }, except: [skipped] }).expect(200);
    await api(node, '/rooms/fast:exc/broadcast', { event: 'e', data: { n: 1 } }).expect(200);
    await eventually(() => gots.every((g) => g.length >= (g === gots[1] ? 1 : 2)));
    expect(gots.map((g) => g.map((x) => x.n))).toEqual([[0, 1], [1], [0, 1]]);
    const after = await paths(node);
    expect(after.direct - before.direct).toBe(5);
  });
});

/** Runs `test` against a node of its own with `env`, stopped afterwards whatever happens. */
async function withNode(env: Record<string, string>, test: (node: TestNode) => Promise<void>): Promise<void> {
  const node = await startNode(env);
  try {
    await test(node);
  } finally {
    await node.stop();
  }
}

describe('delivery fast path: buffers, compression', () => {
  afterEach(closeAllClients);

  it('bytes written directly count toward MAX_SOCKET_BUFFER_BYTES: a client that stops reading is cut, the others get everything', async () => {
    await withNode({ MAX_SOCKET_BUFFER_BYTES: String(1024 * 1024), HISTORY_SIZE: '10' }, async (node) => {
      const healthy = await connectUser(node.url, 'fp-reader', { rooms: ['fbig:*'] });
      const slow = await connectUser(node.url, 'fp-stalled', { rooms: ['fbig:*'] });
      for (const c of [healthy, slow]) await emitAck(c.socket, 'room:join', { room: 'fbig:1' });
      let received = 0;
      healthy.socket.on('chunk', () => (received += 1));
      const transport = slow.socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void } } };
      transport.ws._socket.pause();
      const before = await paths(node);
      const payload = 'y'.repeat(64 * 1024);
      let sent = 0;
      while (sent < 2000) {
        await api(node, '/rooms/fbig:1/broadcast', { event: 'chunk', data: payload }).expect(200);
        sent += 1;
        if (sent % 20 === 0 && !(await request(node.url).get('/api/v1/users/fp-stalled').set('Authorization', `Bearer ${ADMIN_KEY}`)).body.data.online) break;
      }
      expect(sent).toBeLessThan(2000);
      expect(await metric(node, 'pushgate_slow_consumer_disconnects_total')).toBe(1);
      await eventually(() => received === sent);
      const after = await paths(node);
      // Every byte the stalled socket was owed went the direct way, and still counted.
      expect(after.engine - before.engine).toBe(0);
      expect(after.direct - before.direct).toBeGreaterThan(sent);
    });
  });

  it('with WS_PER_MESSAGE_DEFLATE, sockets that negotiate it get compressed frames through Socket.IO, the others direct ones, all in order', async () => {
    await withNode({ WS_PER_MESSAGE_DEFLATE: 'true' }, async (node) => {
      const deflating = await connectUser(node.url, 'deflate-yes', { rooms: ['fz:*'] });
      const plain = await connectUser(node.url, 'deflate-no', { rooms: ['fz:*'] }, { perMessageDeflate: false } as never);
      const negotiated = (s: ClientSocket) => Object.keys((s.io.engine.transport as unknown as { ws: { _extensions: object } }).ws._extensions);
      expect(negotiated(deflating.socket)).toEqual(['permessage-deflate']);
      expect(negotiated(plain.socket)).toEqual([]);
      for (const c of [deflating, plain]) await emitAck(c.socket, 'room:join', { room: 'fz:1' });
      const gots = [record(deflating.socket), record(plain.socket)];
      const before = await paths(node);
      // Large, compressible messages (over the 1 KiB threshold) between small ones.
      const messages = range(40).map((n) => ({ rooms: ['fz:1'], event: 'e', data: { n, text: n % 2 ? 'z'.repeat(20_000) : 'small' } }));
      await api(node, '/batch', { messages }).expect(200);
      await eventually(() => gots.every((g) => g.length >= 40));
      for (const got of gots) expect(got.map((g) => g.n)).toEqual(range(40));
      const after = await paths(node);
      expect(after.engine - before.engine).toBe(40);
      expect(after.direct - before.direct).toBe(40);
    });
  });

  it('DELIVERY_FAST_PATH=false sends everything through Socket.IO, with the same result', async () => {
    await withNode({ DELIVERY_FAST_PATH: 'false' }, async (node) => {
      const m = await connectUser(node.url, 'slowpath', { rooms: ['sp:*'] });
      await emitAck(m.socket, 'room:join', { room: 'sp:1' });
      const got = record(m.socket);
      await api(node, '/batch', { messages: range(20).map((n) => ({ rooms: ['sp:1'], event: 'e', data: { n } })) }).expect(200);
      await eventually(() => got.length >= 20);
      expect(got.map((g) => g.n)).toEqual(range(20));
      const p = await paths(node);
      expect(p.direct).toBe(0);
      expect(p.engine).toBe(20);
    });
  });
});
