/**
 * @pushgate/client (client/src) against real nodes: real sockets, real HTTP pushes. The helper is
 * used from source; `npm run build:client` builds the published package and browser bundle.
 */
import request from 'supertest';
import {
  createPushgateClient,
  PushgateError,
  type JoinResult,
  type PushEvents,
  type PushgateClient,
  type PushgateClientOptions,
  type PushMeta,
  type RecoveredPayload,
  type StreamRecovery,
  type WelcomePayload,
} from '../../client/src';
import type * as Server from '../../server/src/contracts/socket-events';
import { FakeBackend, json } from '../support/fake-backend';
import { ADMIN_KEY, eventually, makeToken, startNode, type TestNode } from '../support/node';
import { testRedisUrl, uniquePrefix } from '../support/redis';
import { TcpBalancer } from '../support/tcp-balancer';

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };
/** websocket only, a fresh Manager per client, and quick reconnects (the tests cut transports). */
const socketOptions = { transports: ['websocket'], forceNew: true, reconnectionDelay: 20, reconnectionDelayMax: 100 };

const open = new Set<PushgateClient>();

function clientFor(node: TestNode, sub: string, claims: Record<string, unknown> = {}, opts: Partial<PushgateClientOptions> = {}): PushgateClient {
  const client = createPushgateClient({ url: node.url, token: makeToken({ sub, ...claims }), socketOptions, ...opts });
  open.add(client);
  return client;
}

/** A client and its first welcome. */
async function connect(node: TestNode, sub: string, claims: Record<string, unknown> = {}, opts: Partial<PushgateClientOptions> = {}) {
  const client = clientFor(node, sub, claims, opts);
  const welcome = await nextWelcome(client);
  return { client, welcome };
}

function closeClients(): void {
  for (const c of open) c.close();
  open.clear();
}

function withTimeout<T>(what: string, subscribe: (resolve: (v: T) => void) => () => void, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${what} within ${ms} ms`));
    }, ms);
    const off = subscribe((v) => {
      clearTimeout(timer);
      off();
      resolve(v);
    });
  });
}

const nextWelcome = (c: PushgateClient) => withTimeout<WelcomePayload>('welcome', (done) => c.on('welcome', done));
/** The next `recovered` that reports on `stream`. */
const recoveredFor = (c: PushgateClient, stream: string) =>
  withTimeout<RecoveredPayload>(`recovered for ${stream}`, (done) => c.onRecovered((p) => (p.streams[stream] ? done(p) : undefined)));

/** Every `event` the client's handlers get, in order. */
function collect(c: PushgateClient, event: string): { data: unknown; meta: PushMeta }[] {
  const got: { data: unknown; meta: PushMeta }[] = [];
  c.on(event, (data, meta) => {
    got.push({ data, meta });
  });
  return got;
}

const push = (node: TestNode, body: Record<string, unknown>) => request(node.url).post('/api/v1/push').set(auth).send(body).expect(200);
const broadcast = (node: TestNode, room: string, body: Record<string, unknown>) => request(node.url).post(`/api/v1/rooms/${room}/broadcast`).set(auth).send(body).expect(200);

/**
 * Cuts the client's transport and keeps it offline while `whileOffline` runs (so what it pushes
 * is really missed), then lets it reconnect. Resolves with the reconnection's welcome.
 */
async function offline(c: PushgateClient, whileOffline: () => Promise<unknown> = async () => undefined): Promise<WelcomePayload> {
  c.socket.io.reconnection(false);
  const gone = new Promise((resolve) => c.socket.once('disconnect', resolve));
  c.socket.io.engine.close();
  await gone;
  await whileOffline();
  const back = nextWelcome(c);
  c.socket.io.reconnection(true);
  c.socket.connect();
  return back;
}

function useNode(env: Record<string, string | undefined> = {}): { node: TestNode } {
  const n = {} as { node: TestNode };
  beforeAll(async () => {
    n.node = await startNode(env);
  });
  afterEach(closeClients);
  afterAll(async () => {
    await n.node?.stop();
  });
  return n;
}

describe('client helper: events, de-duplication and offsets (history on)', () => {
  const n = useNode();

  it('handlers get (data, meta) with the message’s stream and offset, and offsets() follows the last one', async () => {
    const { client, welcome } = await connect(n.node, 'alice');
    expect(welcome.userId).toBe('alice');
    expect(client.userId).toBe('alice');
    // A fresh connection starts at the personal stream's current position.
    expect(client.offsets()).toEqual({ 'user:alice': welcome.offsets?.['user:alice'] });
    const got = collect(client, 'note');
    await push(n.node, { users: ['alice'], event: 'note', data: { n: 1 }, id: 'note-1' });
    await push(n.node, { users: ['alice'], event: 'note', data: { n: 2 }, id: 'note-2' });
    await eventually(() => got.length === 2);
    expect(got.map((g) => g.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(got[0]!.meta).toEqual({ id: 'note-1', ts: expect.any(Number), stream: 'user:alice', offset: expect.any(String) });
    expect(got[1]!.meta.offset).not.toBe(got[0]!.meta.offset);
    expect(client.offsets()).toEqual({ 'user:alice': got[1]!.meta.offset });
  });

  it('a message the server sends twice reaches the handlers once', async () => {
    const { client } = await connect(n.node, 'bob', { rooms: ['chat:*'] });
    const joined = await client.join('chat:dup');
    expect(joined).toEqual({ room: 'chat:dup', offset: expect.any(String) });
    const got = collect(client, 'line');
    await broadcast(n.node, 'chat:dup', { event: 'line', data: 'one' });
    await broadcast(n.node, 'chat:dup', { event: 'line', data: 'two' });
    await eventually(() => got.length === 2);
    // Plain socket.io on the same socket asks for both again: the server replays them.
    const replayed = recoveredFor(client, 'chat:dup');
    await expect(client.socket.emitWithAck('room:join', { room: 'chat:dup', since: joined.offset })).resolves.toMatchObject({ ok: true });
    expect((await replayed).streams['chat:dup']).toMatchObject({ recovered: true, replayed: 2 });
    expect(got.map((g) => g.data)).toEqual(['one', 'two']);
    expect(client.offsets()['chat:dup']).toBe(got[1]!.meta.offset);
  });

  it('dedupWindow bounds what is remembered: ids older than the window are delivered again', async () => {
    const { client } = await connect(n.node, 'bea', { rooms: ['chat:*'] }, { dedupWindow: 1 });
    const joined = await client.join('chat:window');
    const got = collect(client, 'line');
    await broadcast(n.node, 'chat:window', { event: 'line', data: 'one' });
    await broadcast(n.node, 'chat:window', { event: 'line', data: 'two' });
    await eventually(() => got.length === 2);
    const replayed = recoveredFor(client, 'chat:window');
    await client.socket.emitWithAck('room:join', { room: 'chat:window', since: joined.offset });
    await replayed;
    // Only "two" was remembered: the replayed "one" is new to the helper, and evicts "two".
    expect(got.map((g) => g.data)).toEqual(['one', 'two', 'one', 'two']);
  });

  it('pushes to socket ids arrive without stream or offset and leave offsets() alone', async () => {
    const { client, welcome } = await connect(n.node, 'carl');
    const before = client.offsets();
    const got = collect(client, 'direct');
    await push(n.node, { socketIds: [welcome.socketId], event: 'direct', data: 7 });
    await eventually(() => got.length === 1);
    expect(got[0]).toEqual({ data: 7, meta: { id: expect.any(String), ts: expect.any(Number) } });
    expect(client.offsets()).toEqual(before);
  });

  it('onAny() gets every event with its name: pushes with meta, meta-less server events without', async () => {
    const client = clientFor(n.node, 'cora');
    const seen: [string, unknown, PushMeta | undefined][] = [];
    client.onAny((event, data, meta) => {
      seen.push([event, data, meta]);
    });
    const welcome = await nextWelcome(client);
    await push(n.node, { users: ['cora'], event: 'a', data: 1, id: 'cora-a' });
    await push(n.node, { users: ['cora'], event: 'b', data: 2, id: 'cora-b' });
    await eventually(() => seen.length === 3);
    expect(seen).toEqual([
      ['welcome', welcome, undefined],
      ['a', 1, expect.objectContaining({ id: 'cora-a', stream: 'user:cora' })],
      ['b', 2, expect.objectContaining({ id: 'cora-b', stream: 'user:cora' })],
    ]);
  });

  it('an unsubscribed handler gets nothing more', async () => {
    const { client } = await connect(n.node, 'cleo');
    const seen: unknown[] = [];
    const off = client.on('note', (d) => {
      seen.push(d);
    });
    const marker = collect(client, 'marker');
    await push(n.node, { users: ['cleo'], event: 'note', data: 1 });
    await eventually(() => seen.length === 1);
    off();
    await push(n.node, { users: ['cleo'], event: 'note', data: 2 });
    // A later message proves the earlier one had its chance to arrive.
    await push(n.node, { users: ['cleo'], event: 'marker', data: 0 });
    await eventually(() => marker.length === 1);
    expect(seen).toEqual([1]);
  });
});

describe('client helper: receipts', () => {
  const n = useNode();

  it('a push with ack: true is acknowledged after the handler ran', async () => {
    const { client } = await connect(n.node, 'dora');
    const handled: unknown[] = [];
    client.on('note', (d) => {
      handled.push(d);
    });
    const res = await push(n.node, { users: ['dora'], event: 'note', data: 'hi', ack: true });
    expect(res.body.data).toEqual({ id: expect.any(String), recipients: 1, acked: 1 });
    expect(handled).toEqual(['hi']);
  });

  it('the receipt is sent even when the app has no handler for the event', async () => {
    await connect(n.node, 'dan');
    const res = await push(n.node, { users: ['dan'], event: 'nobody-listens', data: 1, ack: true });
    expect(res.body.data.acked).toBe(1);
  });

  it('an async handler delays the receipt until its promise settles', async () => {
    const { client } = await connect(n.node, 'dina');
    let finish: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      client.on('job', () => {
        resolve();
        return new Promise<void>((done) => (finish = done));
      });
    });
    let answered = false;
    const pending = push(n.node, { users: ['dina'], event: 'job', data: 1, ack: true, ackTimeoutMs: 10_000 }).then((r) => {
      answered = true;
      return r;
    });
    await started;
    expect(answered).toBe(false);
    finish();
    expect((await pending).body.data.acked).toBe(1);
  });

  it('a handler whose promise never settles withholds the receipt (acked: 0 after ackTimeoutMs)', async () => {
    const { client } = await connect(n.node, 'dirk');
    client.on('job', () => new Promise(() => undefined));
    const res = await push(n.node, { users: ['dirk'], event: 'job', data: 1, ack: true, ackTimeoutMs: 200 });
    expect(res.body.data).toMatchObject({ recipients: 1, acked: 0 });
  });
});

describe('client helper: recovery after reconnects (history on)', () => {
  const n = useNode();

  it('after the transport is cut, socket.io-client reconnects on its own and every message arrives once, in order', async () => {
    const { client } = await connect(n.node, 'erin');
    const got = collect(client, 'note');
    const recovered = recoveredFor(client, 'user:erin');
    const gone = new Promise((resolve) => client.socket.once('disconnect', resolve));
    client.socket.io.engine.close();
    await gone;
    for (let i = 1; i <= 3; i += 1) await push(n.node, { users: ['erin'], event: 'note', data: i, id: `erin-${i}` });
    expect((await recovered).streams['user:erin']).toMatchObject({ recovered: true });
    await eventually(() => got.length === 3);
    expect(got.map((g) => g.meta.id)).toEqual(['erin-1', 'erin-2', 'erin-3']);
    expect(client.socket.connected).toBe(true);
  });

  it('messages pushed while offline are replayed in order before recovered, and the offset moves to the last one', async () => {
    const { client } = await connect(n.node, 'fay');
    const timeline: string[] = [];
    const got = collect(client, 'note');
    client.on('note', (d) => {
      timeline.push(`note ${String(d)}`);
    });
    client.onRecovered(() => {
      timeline.push('recovered');
    });
    const recovered = recoveredFor(client, 'user:fay');
    await offline(client, async () => {
      for (let i = 1; i <= 3; i += 1) await push(n.node, { users: ['fay'], event: 'note', data: i });
    });
    const report = (await recovered).streams['user:fay']!;
    expect(timeline).toEqual(['note 1', 'note 2', 'note 3', 'recovered']);
    expect(report).toEqual({ recovered: true, replayed: 3, offset: got[2]!.meta.offset });
    expect(got.every((g) => g.meta.stream === 'user:fay')).toBe(true);
    expect(client.offsets()).toEqual({ 'user:fay': got[2]!.meta.offset });
  });

  it('joined rooms are recovered too: the server re-joins them and replays what the room missed', async () => {
    const { client } = await connect(n.node, 'gus', { rooms: ['chat:*'] });
    await client.join('chat:gus');
    const got = collect(client, 'line');
    const recovered = recoveredFor(client, 'chat:gus');
    await offline(client, async () => {
      await broadcast(n.node, 'chat:gus', { event: 'line', data: 'a' });
      await broadcast(n.node, 'chat:gus', { event: 'line', data: 'b' });
    });
    expect((await recovered).streams['chat:gus']).toMatchObject({ recovered: true, replayed: 2 });
    expect(got.map((g) => [g.data, g.meta.room, g.meta.stream])).toEqual([
      ['a', 'chat:gus', 'chat:gus'],
      ['b', 'chat:gus', 'chat:gus'],
    ]);
    expect(client.rooms()).toEqual(['chat:gus']);
    // Still a member: a live broadcast arrives.
    await broadcast(n.node, 'chat:gus', { event: 'line', data: 'c' });
    await eventually(() => got.length === 3);
  });

  it('offsets restored from storage are recovered by a new client', async () => {
    const first = await connect(n.node, 'hal', { rooms: ['chat:*'] });
    await first.client.join('chat:hal');
    const saved = first.client.offsets();
    first.client.close();
    await broadcast(n.node, 'chat:hal', { event: 'line', data: 'while away' });
    await push(n.node, { users: ['hal'], event: 'note', data: 'while away' });

    const client = clientFor(n.node, 'hal', { rooms: ['chat:*'] }, { offsets: saved });
    const lines = collect(client, 'line');
    const notes = collect(client, 'note');
    const report = await recoveredFor(client, 'chat:hal');
    expect(report.streams).toEqual({
      'user:hal': { recovered: true, replayed: 1, offset: expect.any(String) },
      'chat:hal': { recovered: true, replayed: 1, offset: expect.any(String) },
    });
    expect(lines.map((l) => l.data)).toEqual(['while away']);
    expect(notes.map((l) => l.data)).toEqual(['while away']);
    expect(client.rooms()).toEqual(['chat:hal']);
  });

  it('leave() forgets the room and its offset, so a reconnect does not bring it back', async () => {
    const { client } = await connect(n.node, 'ida', { rooms: ['chat:*'] });
    await client.join('chat:ida');
    expect(Object.keys(client.offsets()).sort()).toEqual(['chat:ida', 'user:ida']);
    await client.leave('chat:ida');
    expect(client.rooms()).toEqual([]);
    expect(Object.keys(client.offsets())).toEqual(['user:ida']);
    const recovered = recoveredFor(client, 'user:ida');
    const welcome = await offline(client);
    expect(welcome.rooms).toEqual(['user:ida']);
    expect(Object.keys((await recovered).streams)).toEqual(['user:ida']);
  });
});

describe('client helper: resync when history no longer covers the gap (HISTORY_SIZE=2)', () => {
  const n = useNode({ HISTORY_SIZE: '2' });

  it('missing more than the history keeps ends in resync for the stream and a new offset', async () => {
    const { client } = await connect(n.node, 'jan');
    const resyncs: [string, StreamRecovery][] = [];
    client.onResync((stream, detail) => {
      resyncs.push([stream, detail]);
    });
    const recovered = recoveredFor(client, 'user:jan');
    await offline(client, async () => {
      for (let i = 1; i <= 5; i += 1) await push(n.node, { users: ['jan'], event: 'note', data: i });
    });
    const report = (await recovered).streams['user:jan']!;
    expect(report.recovered).toBe(false);
    expect(resyncs).toEqual([['user:jan', report]]);
    expect(client.offsets()['user:jan']).toBe(report.offset);
    // From the new position, the next gap is covered again.
    const again = recoveredFor(client, 'user:jan');
    await offline(client, () => push(n.node, { users: ['jan'], event: 'note', data: 6 }));
    expect((await again).streams['user:jan']).toMatchObject({ recovered: true, replayed: 1 });
    expect(resyncs).toHaveLength(1);
  });
});

describe('client helper: history off (HISTORY_SIZE=0)', () => {
  const n = useNode({ HISTORY_SIZE: '0' });

  it('rooms have no offsets and are joined again explicitly after a reconnect', async () => {
    const { client, welcome } = await connect(n.node, 'kim', { rooms: ['chat:*'] });
    expect(welcome.offsets).toBeUndefined();
    expect(await client.join('chat:kim')).toEqual({ room: 'chat:kim' });
    expect(client.offsets()).toEqual({});
    const back = await offline(client);
    const got = collect(client, 'line');
    // The re-join is sent right after the welcome: wait until the new socket is in the room.
    await eventually(async () => {
      const user = await request(n.node.url).get('/api/v1/users/kim').set(auth);
      const sockets = (user.body.data?.sockets ?? []) as { id: string; rooms: string[] }[];
      return sockets.some((s) => s.id === back.socketId && s.rooms.includes('chat:kim'));
    });
    await broadcast(n.node, 'chat:kim', { event: 'line', data: 'back' });
    await eventually(() => got.length === 1);
    expect(got[0]!.meta).toEqual({ id: expect.any(String), ts: expect.any(Number), room: 'chat:kim' });
  });

  it('rooms restored through offsets are joined even though the server cannot recover them', async () => {
    const resyncs: string[] = [];
    const client = clientFor(n.node, 'kai', { rooms: ['chat:*'] }, { offsets: { 'user:kai': 'old:1', 'chat:kai': 'old:2' } });
    client.onResync((stream) => {
      resyncs.push(stream);
    });
    const report = await recoveredFor(client, 'chat:kai');
    expect(report.streams['chat:kai']).toMatchObject({ recovered: false });
    expect(resyncs).toEqual(['user:kai', 'chat:kai']);
    expect(client.offsets()).toEqual({});
    expect(client.rooms()).toEqual(['chat:kai']);
    const got = collect(client, 'line');
    await eventually(async () => (await request(n.node.url).get('/api/v1/users/kai').set(auth)).body.data?.sockets?.[0]?.rooms?.includes('chat:kai'));
    await broadcast(n.node, 'chat:kai', { event: 'line', data: 'joined' });
    await eventually(() => got.length === 1);
  });
});

describe('client helper: presence events (PRESENCE_ROOMS=chat:*)', () => {
  const n = useNode({ PRESENCE_ROOMS: 'chat:*' });

  it('presence:join and presence:leave reach on() handlers as a payload without meta', async () => {
    const { client: watcher } = await connect(n.node, 'quin', { rooms: ['chat:*'] });
    await watcher.join('chat:presence');
    const seen: unknown[][] = [];
    watcher.on('presence:join', (...args: unknown[]) => {
      seen.push(['join', ...args]);
    });
    watcher.on('presence:leave', (...args: unknown[]) => {
      seen.push(['leave', ...args]);
    });
    const { client: other } = await connect(n.node, 'rae', { rooms: ['chat:*'] });
    await other.join('chat:presence');
    await eventually(() => seen.length === 1);
    await other.leave('chat:presence');
    await eventually(() => seen.length === 2);
    expect(seen).toEqual([
      ['join', { room: 'chat:presence', userId: 'rae' }],
      ['leave', { room: 'chat:presence', userId: 'rae' }],
    ]);
  });
});

describe('client helper: rooms the backend stops allowing', () => {
  const backend = new FakeBackend();
  let allowed = true;
  let node: TestNode;
  beforeAll(async () => {
    const url = await backend.start();
    backend.handler = (req, res) => (req.path === '/authorize' && allowed ? json(res, 200, {}) : json(res, 403, {}));
    node = await startNode({ BACKEND_URL: url });
  });
  afterEach(closeClients);
  afterAll(async () => {
    await node?.stop();
    await backend.stop();
  });

  it('a room refused on recovery (FORBIDDEN) is dropped from rooms() and offsets(), with a resync', async () => {
    allowed = true;
    const { client } = await connect(node, 'lea');
    await client.join('team:1');
    expect(client.rooms()).toEqual(['team:1']);
    allowed = false;
    const resyncs: [string, StreamRecovery][] = [];
    client.onResync((stream, detail) => {
      resyncs.push([stream, detail]);
    });
    const recovered = recoveredFor(client, 'team:1');
    await offline(client);
    expect((await recovered).streams['team:1']).toMatchObject({ recovered: false, error: { code: 'FORBIDDEN' } });
    expect(client.rooms()).toEqual([]);
    expect(Object.keys(client.offsets())).toEqual(['user:lea']);
    expect(resyncs.map(([s, d]) => [s, d.error?.code])).toEqual([['team:1', 'FORBIDDEN']]);
  });

  it('join() rejects with the server’s code and does not remember the room', async () => {
    allowed = false;
    const { client } = await connect(node, 'leo');
    const err = await client.join('team:2').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushgateError);
    expect(err).toMatchObject({ code: 'FORBIDDEN' });
    expect(client.rooms()).toEqual([]);
  });
});

describe('client helper: emit() to the backend', () => {
  const backend = new FakeBackend();
  let node: TestNode;
  let bare: TestNode;
  beforeAll(async () => {
    const url = await backend.start();
    backend.handler = (req, res) => json(res, 200, { echoed: req.body.data });
    node = await startNode({ BACKEND_URL: url });
    bare = await startNode();
  });
  afterEach(closeClients);
  afterAll(async () => {
    await node?.stop();
    await bare?.stop();
    await backend.stop();
  });

  it('resolves with the backend’s answer', async () => {
    const { client } = await connect(node, 'max');
    await expect(client.emit('chat:send', { text: 'hi' })).resolves.toEqual({ echoed: { text: 'hi' } });
  });

  it('rejects with a PushgateError carrying the code on { ok: false }', async () => {
    const { client } = await connect(bare, 'max');
    const err = await client.emit('chat:send', { text: 'hi' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PushgateError);
    expect(err).toMatchObject({ code: 'NO_BACKEND' });
  });

  it('after close(), requests reject with DISCONNECTED instead of waiting for a connection', async () => {
    const { client } = await connect(bare, 'max');
    client.close();
    await expect(client.emit('chat:send', 1)).rejects.toMatchObject({ code: 'DISCONNECTED' });
    await expect(client.join('chat:1')).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });

  it('refuses the events the helper sends itself', async () => {
    const { client } = await connect(bare, 'max');
    await expect(client.emit('room:join', { room: 'x' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });
});

describe('client helper: a node that drains', () => {
  const backend = new FakeBackend();
  let draining: TestNode;
  let next: TestNode;
  let balancer: TcpBalancer;
  beforeAll(async () => {
    const url = await backend.start();
    backend.handler = (req, res) => json(res, 200, { handledBy: req.body.nodeId });
    const env = { BACKEND_URL: url, REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('helper-drain'), SHUTDOWN_TIMEOUT_MS: '4000' };
    draining = await startNode({ ...env, NODE_ID: 'draining' });
    next = await startNode({ ...env, NODE_ID: 'next' });
    // Failover order: the first node while it listens, the second after.
    balancer = await TcpBalancer.start([draining.port, next.port]);
  });
  afterEach(closeClients);
  afterAll(async () => {
    await draining.stop();
    await next.stop();
    await balancer.close();
    await backend.stop();
  });

  it('holds a request made after server:draining and sends it to the next node, instead of getting SERVICE_UNAVAILABLE', async () => {
    const client = createPushgateClient({ url: balancer.url, token: makeToken({ sub: 'mover' }), socketOptions });
    open.add(client);
    expect((await nextWelcome(client)).nodeId).toBe('draining');
    const answer = new Promise<unknown>((resolve) => {
      client.on('server:draining', () => {
        resolve(client.emit('work', { n: 1 }, { timeoutMs: 10_000 }).catch((err: unknown) => err));
      });
    });
    const welcomed = nextWelcome(client);
    const stopped = draining.stop();
    expect(await answer).toEqual({ handledBy: 'next' });
    expect((await welcomed).nodeId).toBe('next');
    await stopped;
  });
});

describe('client helper: token refresh', () => {
  const n = useNode();

  it('refreshes a short-lived token over auth:refresh before exp: the socket stays connected past the first exp', async () => {
    const first = makeToken({ sub: 'nia' }, { expiresIn: 3 });
    const firstExp = (JSON.parse(Buffer.from(first.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
    let refreshes = 0;
    const { client, welcome } = await connect(n.node, 'nia', {}, {
      token: first,
      refreshToken: () => {
        refreshes += 1;
        return makeToken({ sub: 'nia' }, { expiresIn: 600 });
      },
    });
    const disconnects: string[] = [];
    client.socket.on('disconnect', (reason) => disconnects.push(reason));
    await eventually(() => refreshes === 1);
    const serverSide = n.node.io.sockets.sockets.get(welcome.socketId);
    await eventually(() => (serverSide?.data.tokenExp ?? 0) > firstExp * 1000);
    // Waiting for time itself: the server would have disconnected the socket at the first exp.
    await eventually(() => Date.now() > firstExp * 1000 + 500, 10_000, 100);
    expect(disconnects).toEqual([]);
    expect(client.socket.id).toBe(welcome.socketId);
    const got = collect(client, 'note');
    await push(n.node, { users: ['nia'], event: 'note', data: 'still here' });
    await eventually(() => got.length === 1);
  });

  it('a handshake refused with TOKEN_EXPIRED is retried with refreshToken’s token', async () => {
    const refused: string[] = [];
    const client = clientFor(n.node, 'oli', {}, {
      token: () => makeToken({ sub: 'oli' }, { expiresIn: -10 }),
      refreshToken: () => makeToken({ sub: 'oli' }),
    });
    client.socket.on('connect_error', (err) => refused.push(err.message));
    const welcome = await nextWelcome(client);
    expect(welcome.userId).toBe('oli');
    expect(refused).toEqual(['TOKEN_EXPIRED']);
  });

  it('a token already expired is refreshed before the handshake instead of being sent', async () => {
    const refused: string[] = [];
    const client = clientFor(n.node, 'pia', {}, {
      token: makeToken({ sub: 'pia' }, { expiresIn: -10 }),
      refreshToken: () => makeToken({ sub: 'pia' }),
    });
    client.socket.on('connect_error', (err) => refused.push(err.message));
    expect((await nextWelcome(client)).userId).toBe('pia');
    expect(refused).toEqual([]);
  });
});

// --- types (checked by `npm run typecheck`; never executed) -------------------------------------

/** What the server sends must fit the helper's types. */
type Fits<A, B> = [A] extends [B] ? true : false;
const _typesFit: [
  Fits<Server.PushMeta, PushMeta>,
  Fits<Server.WelcomePayload, WelcomePayload>,
  Fits<Server.RecoveredPayload, RecoveredPayload>,
  Fits<Server.JoinResult, JoinResult>,
] = [true, true, true, true];
void _typesFit;

function _apiTypes(c: PushgateClient<{ 'order:shipped': { orderId: string } }>, plain: PushgateClient<PushEvents>): void {
  c.on('order:shipped', (data, meta) => {
    data.orderId.toUpperCase();
    meta.offset?.toUpperCase();
  });
  // @ts-expect-error not in the client's event map
  c.on('order:lost', () => undefined);
  // @ts-expect-error data is typed by the event map
  c.on('order:shipped', (data: { orderId: number }) => data);
  c.on('presence:join', (p) => p.userId.toUpperCase());
  plain.on('anything', (data: unknown, meta: PushMeta) => [data, meta.id]);
  void c.join('chat:1').then((r) => r.offset?.toUpperCase());
  c.onResync((stream, detail) => [stream.toUpperCase(), detail.recovered]);
  // @ts-expect-error a token is required
  createPushgateClient({ url: 'http://127.0.0.1:3000' });
  createPushgateClient({ url: 'http://127.0.0.1:3000', token: async () => 'jwt', socketOptions: { transports: ['websocket'] } });
}
void _apiTypes;
