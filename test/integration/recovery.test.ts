import request from 'supertest';
import type { Socket as ClientSocket } from 'socket.io-client';
import { ADMIN_KEY, closeAllClients, connectClient, connectUser, emitAck, eventually, makeToken, nextEvent, startNode, type TestNode } from '../support/node';

/*
 * Contract section 6 on a single node (memory history): recovery on connect and on room:join,
 * what cannot be recovered, history off, presence events and receipts. The cluster versions, with
 * faults and counts, are in test/cluster/delivery.test.ts.
 */

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };
const OFFSET = expect.stringMatching(/^[0-9a-z]+:\d+$/);

type Meta = { id: string; ts: number; room?: string; stream?: string; offset?: string };
type Recovered = { streams: Record<string, { recovered: boolean; replayed: number; offset?: string; error?: { code: string } }> };

/** Every event a socket receives, in arrival order, as [event, data, meta]. */
function recordAll(socket: ClientSocket): [string, unknown, Meta | undefined][] {
  const got: [string, unknown, Meta | undefined][] = [];
  socket.onAny((event: string, data: unknown, meta: Meta | undefined) => got.push([event, data, meta]));
  return got;
}

async function push(node: TestNode, body: Record<string, unknown>) {
  return request(node.url).post('/api/v1/push').set(auth).send(body).expect(200);
}

/** Connects with auth.recover; resolves with what arrived up to and including `recovered`. */
async function reconnect(node: TestNode, sub: string, recover: unknown, extra: Record<string, unknown> = {}) {
  const socket = connectClient(node.url, { token: makeToken({ sub, ...extra }), recover });
  const got = recordAll(socket);
  const [recovered] = await nextEvent<[Recovered]>(socket, 'recovered');
  return { socket, got, recovered };
}

describe('recovery on a single node', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ HISTORY_SIZE: '5' });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('auth.recover replays the personal stream and a room after the given offsets, in order, before `recovered`', async () => {
    const { socket, welcome } = await connectUser(node.url, 'rec', { rooms: ['news:*'] });
    const joined = await emitAck<{ ok: true; data: { room: string; offset: string } }>(socket, 'room:join', { room: 'news:1' });
    const userStart = welcome.offsets!['user:rec']!;
    expect(joined.data).toEqual({ room: 'news:1', offset: OFFSET });
    socket.disconnect();
    for (const n of [1, 2]) await push(node, { users: ['rec'], event: 'dm', data: n, id: `dm-${n}` });
    for (const n of [1, 2, 3]) await request(node.url).post('/api/v1/rooms/news:1/broadcast').set(auth).send({ event: 'headline', data: n, id: `hl-${n}` }).expect(200);

    const back = await reconnect(node, 'rec', { 'user:rec': userStart, 'news:1': joined.data.offset }, { rooms: ['news:*'] });
    const names = back.got.map(([e]) => e);
    expect(names[0]).toBe('welcome');
    expect(names[names.length - 1]).toBe('recovered');
    const replay = (event: string) => back.got.filter(([e]) => e === event).map(([, data, meta]) => [data, meta] as [unknown, Meta]);
    expect(replay('dm')).toEqual([
      [1, { id: 'dm-1', ts: expect.any(Number), stream: 'user:rec', offset: OFFSET }],
      [2, { id: 'dm-2', ts: expect.any(Number), stream: 'user:rec', offset: OFFSET }],
    ]);
    expect(replay('headline')).toEqual([1, 2, 3].map((n) => [n, { id: `hl-${n}`, ts: expect.any(Number), room: 'news:1', stream: 'news:1', offset: OFFSET }]));
    expect(back.recovered).toEqual({
      streams: {
        'user:rec': { recovered: true, replayed: 2, offset: replay('dm')[1]![1]!.offset },
        'news:1': { recovered: true, replayed: 3, offset: replay('headline')[2]![1]!.offset },
      },
    });
    // The room was re-joined on the way: a new message arrives live, after the replayed ones.
    const live = nextEvent<[number, Meta]>(back.socket, 'headline');
    await request(node.url).post('/api/v1/rooms/news:1/broadcast').set(auth).send({ event: 'headline', data: 4 }).expect(200);
    expect((await live)[0]).toBe(4);
  });

  it('an offset the client is already at recovers with nothing to replay', async () => {
    const { socket, welcome } = await connectUser(node.url, 'uptodate');
    socket.disconnect();
    const back = await reconnect(node, 'uptodate', welcome.offsets ?? {});
    expect(back.recovered).toEqual({ streams: { 'user:uptodate': { recovered: true, replayed: 0, offset: welcome.offsets!['user:uptodate'] } } });
  });

  it('answers recovered: false when more than HISTORY_SIZE messages were missed', async () => {
    const { socket, welcome } = await connectUser(node.url, 'toolong');
    socket.disconnect();
    for (let n = 1; n <= 7; n++) await push(node, { users: ['toolong'], event: 'm', data: n });
    const back = await reconnect(node, 'toolong', welcome.offsets);
    expect(back.recovered.streams['user:toolong']).toEqual({ recovered: false, replayed: 0, offset: OFFSET });
    expect(back.got.filter(([e]) => e === 'm')).toEqual([]);
  });

  it('room:join { since } replays the room after `since`, emits recovered, and acks with the new offset', async () => {
    const { socket } = await connectUser(node.url, 'joiner', { rooms: ['j:*'] });
    const first = await emitAck<{ data: { offset: string } }>(socket, 'room:join', { room: 'j:1' });
    await emitAck(socket, 'room:leave', { room: 'j:1' });
    for (const n of [1, 2]) await request(node.url).post('/api/v1/rooms/j:1/broadcast').set(auth).send({ event: 'x', data: n }).expect(200);
    const got = recordAll(socket);
    const recovered = nextEvent<[Recovered]>(socket, 'recovered');
    const ack = await emitAck<{ ok: true; data: { room: string; offset: string } }>(socket, 'room:join', { room: 'j:1', since: first.data.offset });
    expect((await recovered)[0]).toEqual({ streams: { 'j:1': { recovered: true, replayed: 2, offset: ack.data.offset } } });
    expect(got.map(([e, d]) => [e, d])).toEqual([
      ['x', 1],
      ['x', 2],
      ['recovered', expect.any(Object)],
    ]);
    expect(ack).toEqual({ ok: true, data: { room: 'j:1', offset: OFFSET } });
  });

  it('room:join refuses a malformed `since` with BAD_REQUEST and does not join', async () => {
    const { socket } = await connectUser(node.url, 'badsince', { rooms: ['b:*'] });
    for (const since of ['', 'abc', 42, { o: 1 }, 'x:1:2']) {
      expect(await emitAck(socket, 'room:join', { room: 'b:1', since })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }
    expect((await request(node.url).get('/api/v1/rooms/b:1').set(auth)).status).toBe(404);
  });

  it('refuses to recover another user’s stream or a room the token no longer allows, and says why', async () => {
    const { socket } = await connectUser(node.url, 'owner', { rooms: ['vip:*'] });
    const joined = await emitAck<{ data: { offset: string } }>(socket, 'room:join', { room: 'vip:1' });
    const other = await connectUser(node.url, 'victim');
    const back = await reconnect(node, 'intruder', { 'user:victim': other.welcome.offsets!['user:victim'], 'vip:1': joined.data.offset }, { rooms: [] });
    expect(back.recovered.streams).toEqual({
      'user:victim': { recovered: false, replayed: 0, error: { code: 'FORBIDDEN', message: expect.any(String) } },
      'vip:1': { recovered: false, replayed: 0, error: { code: 'FORBIDDEN', message: expect.any(String) } },
    });
    const members = await request(node.url).get('/api/v1/rooms/vip:1').set(auth).expect(200);
    expect(members.body.data.users).toEqual([{ userId: 'owner', sockets: 1 }]);
  });

  it.each([
    ['a malformed offset', { 'user:odd': 'not-an-offset' }, { 'user:odd': { recovered: false, replayed: 0, error: { code: 'BAD_REQUEST', message: expect.any(String) } } }],
    ['a number as offset', { 'user:odd': 5 }, { 'user:odd': { recovered: false, replayed: 0, error: { code: 'BAD_REQUEST', message: expect.any(String) } } }],
    ['a bad room name', { 'has space': 'a:1' }, { 'has space': { recovered: false, replayed: 0, error: { code: 'BAD_REQUEST', message: expect.any(String), details: expect.any(Array) } } }],
    // Built with JSON.parse so "__proto__" is an own key, as it arrives over the wire.
    ['a __proto__ key', JSON.parse('{"__proto__": "a:1"}') as Record<string, unknown>, JSON.parse('{"__proto__": {"recovered": false, "replayed": 0, "error": {"code": "FORBIDDEN", "message": "Not allowed to join __proto__"}}}') as Record<string, unknown>],
    ['an array', ['user:odd'], {}],
    ['a string', 'user:odd', {}],
  ])('answers recover with %s per stream, and the socket works', async (_name, recover, streams) => {
    const back = await reconnect(node, 'odd', recover);
    expect(back.recovered).toEqual({ streams });
    expect(Object.getPrototypeOf(back.recovered.streams)).toBe(Object.prototype);
    expect(await emitAck(back.socket, 'room:leave', { room: 'anything' })).toEqual({ ok: true, data: { room: 'anything' } });
  });

  it('recovers at most 100 streams per handshake; the others are answered BAD_REQUEST', async () => {
    const { welcome } = await connectUser(node.url, 'many', { rooms: ['*'] });
    const recover: Record<string, string> = { 'user:many': welcome.offsets!['user:many']! };
    for (let i = 0; i < 120; i++) recover[`many:${i}`] = welcome.offsets!['user:many']!;
    const back = await reconnect(node, 'many', recover, { rooms: ['*'] });
    const reports = Object.values(back.recovered.streams);
    expect(reports).toHaveLength(121);
    expect(reports.filter((r) => r.error?.code === 'BAD_REQUEST')).toHaveLength(21);
  });

  it('a restarted single node does not mistake an old offset for a gap-free one', async () => {
    const first = await startNode({});
    const { socket, welcome } = await connectUser(first.url, 'phoenix');
    socket.disconnect();
    await first.stop();
    const second = await startNode({});
    try {
      const back = await reconnect(second, 'phoenix', welcome.offsets);
      expect(back.recovered.streams['user:phoenix']).toEqual({ recovered: false, replayed: 0, offset: OFFSET });
    } finally {
      closeAllClients();
      await second.stop();
    }
  });
});

/** The TCP socket under a socket.io-client WebSocket transport (engine.io-client → ws → net.Socket). */
function tcpOf(socket: ClientSocket): { pause(): void; resume(): void } {
  const transport = socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void; resume(): void } } };
  return transport.ws._socket;
}

/** Resolves once `got` holds `n` events named `event` (checked as each event arrives). */
function untilCount(socket: ClientSocket, got: [string, unknown, Meta | undefined][], event: string, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (got.filter(([e]) => e === event).length < n) return;
      socket.offAny(check);
      resolve();
    };
    socket.onAny(check);
    socket.once('disconnect', (reason: string) => reject(new Error(`disconnected (${reason}) before ${n} "${event}"`)));
    check();
  });
}

describe('recovery of a gap larger than one page (REPLAY_PAGE_ENTRIES = 100)', () => {
  const LIMIT = 1024 * 1024;
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ HISTORY_SIZE: '1000', MAX_SOCKET_BUFFER_BYTES: String(LIMIT) });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  const slowConsumerCuts = async () => Number(/^pushgate_slow_consumer_disconnects_total\{[^}]*\} (\d+)$/m.exec((await request(node.url).get('/metrics')).text)?.[1]);

  /** Pushes `n` messages numbered from `from` to the user, one after another. */
  async function pushRun(user: string, from: number, n: number, pad = '') {
    for (let i = from; i < from + n; i++) await push(node, { users: [user], event: 'chunk', data: { n: i, pad }, id: `${user}-${i}` });
  }

  /** Reconnects recovering the personal stream; the client stops reading at `welcome` until `whilePaused` is done. */
  async function recoverPaused(user: string, offset: string, whilePaused: () => Promise<void>) {
    const socket = connectClient(node.url, { token: makeToken({ sub: user }), recover: { [`user:${user}`]: offset } });
    const got = recordAll(socket);
    const paused = new Promise<void>((resolve) => socket.once('welcome', () => (tcpOf(socket).pause(), resolve())));
    await paused;
    await whilePaused();
    tcpOf(socket).resume();
    return { socket, got };
  }

  /** What arrived, checked: every chunk once and in order, the replay before `recovered`, the live ones after. */
  function checkArrival(got: [string, unknown, Meta | undefined][], total: number) {
    const names = got.map(([e]) => e);
    expect(names[0]).toBe('welcome');
    const chunks = got.filter(([e]) => e === 'chunk').map(([, data]) => (data as { n: number }).n);
    expect(chunks).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const at = names.indexOf('recovered');
    const report = (got[at]![1] as Recovered).streams;
    const [stream] = Object.keys(report);
    const before = got.slice(0, at).filter(([e]) => e === 'chunk');
    // `replayed` counts exactly what came before the report; `offset` is the last of those.
    expect(report[stream!]).toEqual({ recovered: true, replayed: before.length, offset: before[before.length - 1]![2]!.offset });
    return before.length;
  }

  it('replays several pages complete, in order and once, then the live messages held meanwhile', async () => {
    const { socket, welcome } = await connectUser(node.url, 'pages');
    socket.disconnect();
    await pushRun('pages', 1, 250);
    const back = await recoverPaused('pages', welcome.offsets!['user:pages']!, () => pushRun('pages', 251, 5));
    await untilCount(back.socket, back.got, 'chunk', 255);
    expect(checkArrival(back.got, 255)).toBeGreaterThanOrEqual(250);
    // Still joined and gated no more: the next push arrives live, once.
    const live = nextEvent<[{ n: number }]>(back.socket, 'chunk');
    await pushRun('pages', 256, 1);
    expect((await live)[0].n).toBe(256);
  });

  it('keeps a recovering socket’s unsent data under MAX_SOCKET_BUFFER_BYTES: a client that reads normally is not cut and gets everything', async () => {
    const { socket, welcome } = await connectUser(node.url, 'bulk');
    socket.disconnect();
    const pad = 'x'.repeat(64 * 1024);
    // 300 × 64 KiB: almost 19 times the limit, far more than the loopback socket buffers absorb.
    await pushRun('bulk', 1, 300, pad);
    const cutsBefore = await slowConsumerCuts();
    const back = await recoverPaused('bulk', welcome.offsets!['user:bulk']!, async () => {
      await pushRun('bulk', 301, 5, pad);
      // Not being cut is an absence, so nothing to await: the pause spans a check of the guard (every second).
      await new Promise((r) => setTimeout(r, 1500));
    });
    await untilCount(back.socket, back.got, 'chunk', 305);
    expect(checkArrival(back.got, 305)).toBeGreaterThanOrEqual(300);
    expect(back.socket.connected).toBe(true);
    expect(await slowConsumerCuts()).toBe(cutsBefore);
  });

  it('a client that stops reading during a replay while live pushes continue is cut by the guard (held messages count), and the replay stops', async () => {
    const { socket, welcome } = await connectUser(node.url, 'stops');
    socket.disconnect();
    const pad = 'x'.repeat(64 * 1024);
    await pushRun('stops', 1, 200, pad);
    const cutsBefore = await slowConsumerCuts();
    const back = connectClient(node.url, { token: makeToken({ sub: 'stops' }), recover: { 'user:stops': welcome.offsets!['user:stops'] } });
    const got = recordAll(back);
    await new Promise<void>((resolve) => back.once('welcome', () => (tcpOf(back).pause(), resolve())));
    // The replay waits for a buffer that never drains; what is pushed live meanwhile is held for the socket.
    let sent = 200;
    while (sent < 1000) {
      await pushRun('stops', sent + 1, 10, pad);
      sent += 10;
      if (!(await request(node.url).get('/api/v1/users/stops').set(auth)).body.data.online) break;
    }
    expect(sent).toBeLessThan(1000);
    expect(await slowConsumerCuts()).toBe(cutsBefore + 1);
    const cut = node.logs.find((l) => l.userId === 'stops' && String(l.message).startsWith('slow consumer'));
    expect(cut?.heldBytes).toBeGreaterThan(0);
    const gone = new Promise<string>((resolve) => back.once('disconnect', resolve));
    tcpOf(back).resume();
    expect(await gone).toBe('transport close');
    // The replay stopped where the cut found it: no `recovered`, and what arrived is a prefix, in order.
    expect(got.map(([e]) => e)).not.toContain('recovered');
    const chunks = got.filter(([e]) => e === 'chunk').map(([, data]) => (data as { n: number }).n);
    expect(chunks).toEqual(Array.from({ length: chunks.length }, (_, i) => i + 1));
    expect(chunks.length).toBeLessThan(200);
    await eventually(async () => (await request(node.url).get('/metrics')).text.match(/^pushgate_stream_recoveries_total\{[^}]*result="interrupted"[^}]*\} 1$/m));
  });
});

describe('history off (HISTORY_SIZE=0)', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ HISTORY_SIZE: '0' });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('sends meta { id, ts } without stream or offset, a welcome without offsets, and recovers nothing', async () => {
    const { socket, welcome } = await connectUser(node.url, 'plain', { rooms: ['p:*'] });
    expect(welcome).not.toHaveProperty('offsets');
    expect(await emitAck(socket, 'room:join', { room: 'p:1' })).toEqual({ ok: true, data: { room: 'p:1' } });
    const got = nextEvent<[unknown, Meta]>(socket, 'n');
    await push(node, { users: ['plain'], event: 'n', data: 1, id: 'plain-1' });
    expect((await got)[1]).toEqual({ id: 'plain-1', ts: expect.any(Number) });

    const recovered = nextEvent<[Recovered]>(socket, 'recovered');
    await emitAck(socket, 'room:join', { room: 'p:2', since: 'x:1' });
    expect((await recovered)[0]).toEqual({ streams: { 'p:2': { recovered: false, replayed: 0 } } });
    // The rooms asked for are joined again (when still allowed), though nothing can be replayed.
    const back = await reconnect(node, 'plain', { 'user:plain': 'x:1', 'p:1': 'x:1', 'no:1': 'x:1' }, { rooms: ['p:*'] });
    expect(back.recovered).toEqual({
      streams: {
        'user:plain': { recovered: false, replayed: 0 },
        'p:1': { recovered: false, replayed: 0 },
        'no:1': { recovered: false, replayed: 0, error: { code: 'FORBIDDEN', message: expect.any(String) } },
      },
    });
    const room = await request(node.url).get('/api/v1/rooms/p:1').set(auth).expect(200);
    expect(room.body.data.sockets).toBe(2);
  });
});

describe('presence events and receipts on a single node', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ PRESENCE_ROOMS: 'chat:*,lobby' });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('announces a user’s first join and last leave (disconnect included) to the room, once each', async () => {
    const watcher = await connectUser(node.url, 'watcher', { rooms: ['chat:*'] });
    await emitAck(watcher.socket, 'room:join', { room: 'chat:x' });
    const events: string[] = [];
    watcher.socket.on('presence:join', (p: { userId: string; room: string }) => events.push(`+${p.userId}@${p.room}`));
    watcher.socket.on('presence:leave', (p: { userId: string; room: string }) => events.push(`-${p.userId}@${p.room}`));
    const one = await connectUser(node.url, 'dup', { rooms: ['chat:*'] });
    const two = await connectUser(node.url, 'dup', { rooms: ['chat:*'] });
    await emitAck(one.socket, 'room:join', { room: 'chat:x' });
    await emitAck(two.socket, 'room:join', { room: 'chat:x' });
    await emitAck(one.socket, 'room:leave', { room: 'chat:x' });
    const left = nextEvent(watcher.socket, 'presence:leave');
    two.socket.disconnect();
    await left;
    expect(events).toEqual(['+dup@chat:x', '-dup@chat:x']);
  });

  it('announces server-side membership changes too (PUT and DELETE members)', async () => {
    const watcher = await connectUser(node.url, 'w2', { rooms: ['*'] });
    await emitAck(watcher.socket, 'room:join', { room: 'lobby' });
    await connectUser(node.url, 'moved');
    const joined = nextEvent(watcher.socket, 'presence:join');
    await request(node.url).put('/api/v1/rooms/lobby/members/moved').set(auth).expect(200);
    expect((await joined)[0]).toEqual({ room: 'lobby', userId: 'moved' });
    const left = nextEvent(watcher.socket, 'presence:leave');
    await request(node.url).delete('/api/v1/rooms/lobby/members/moved').set(auth).expect(200);
    expect((await left)[0]).toEqual({ room: 'lobby', userId: 'moved' });
  });

  it('counts receipts from the sockets that acknowledge within ackTimeoutMs', async () => {
    const acking = await connectUser(node.url, 'rcpt');
    const silent = await connectUser(node.url, 'rcpt');
    acking.socket.on('r', (_d: unknown, _m: unknown, ack: () => void) => ack());
    silent.socket.on('r', () => undefined);
    const res = await push(node, { users: ['rcpt'], event: 'r', data: 1, ack: true, ackTimeoutMs: 300 });
    expect(res.body.data).toEqual({ id: expect.any(String), recipients: 2, acked: 1 });
    const none = await push(node, { users: ['nobody-here'], event: 'r', data: 1, ack: true, ackTimeoutMs: 300 });
    expect(none.body.data).toEqual({ id: expect.any(String), recipients: 0, acked: 0 });
  });

  it.each([
    ['ack not a boolean', { ack: 'yes' }],
    ['ackTimeoutMs zero', { ack: true, ackTimeoutMs: 0 }],
    ['ackTimeoutMs over 30 s', { ack: true, ackTimeoutMs: 30_001 }],
    ['ackTimeoutMs fractional', { ack: true, ackTimeoutMs: 1.5 }],
    ['ackTimeoutMs a string', { ack: true, ackTimeoutMs: '100' }],
  ])('refuses %s with BAD_REQUEST naming the field', async (_name, extra) => {
    for (const path of ['/api/v1/push', '/api/v1/rooms/r/broadcast']) {
      const body = { ...(path.endsWith('push') ? { users: ['u'] } : {}), event: 'e', data: 1, ...extra };
      const res = await request(node.url).post(path).set(auth).send(body).expect(400);
      expect(res.body.error).toMatchObject({ code: 'BAD_REQUEST', details: expect.arrayContaining([expect.objectContaining({ field: expect.stringMatching(/^ack/) })]) });
    }
  });
});

describe('a replay honours the push’s except', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({});
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('leaves out of a room:join { since } replay the messages that left this socket out', async () => {
    const { socket, welcome } = await connectUser(node.url, 'sender', { rooms: ['x:*'] });
    const joined = await emitAck<{ ok: boolean; data: { offset: string } }>(socket, 'room:join', { room: 'x:1' });
    await emitAck(socket, 'room:leave', { room: 'x:1' });
    for (const [n, except] of [[1, [welcome.socketId]], [2, []], [3, [welcome.socketId]], [4, []]] as const) {
      await request(node.url).post('/api/v1/rooms/x:1/broadcast').set({ Authorization: `Bearer ${ADMIN_KEY}` }).send({ event: 'said', data: n, except }).expect(200);
    }
    const got: number[] = [];
    socket.on('said', (n: number) => got.push(n));
    const recovered = nextEvent<[{ streams: Record<string, { recovered: boolean; replayed: number; offset: string }> }]>(socket, 'recovered');
    await emitAck(socket, 'room:join', { room: 'x:1', since: joined.data.offset });
    const report = (await recovered)[0].streams['x:1']!;
    expect(report).toMatchObject({ recovered: true, replayed: 2 });
    expect(got).toEqual([2, 4]);
  });
});
