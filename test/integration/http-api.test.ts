import { createHmac } from 'node:crypto';
import request, { type Response } from 'supertest';
import type { Socket as ClientSocket } from 'socket.io-client';
import {
  ADMIN_KEY,
  PUSH_KEY,
  READ_KEY,
  SIGNED_KEY,
  closeAllClients,
  connectClient,
  connectUser,
  emitAck,
  eventually,
  makeToken,
  nextEvent,
  startNode,
  type TestNode,
} from '../support/node';
import { testRedisUrl, uniquePrefix } from '../support/redis';

// ---------------------------------------------------------------------------------------------
// Helpers: the envelope, signing, and "nothing else arrived" without sleeping.
// ---------------------------------------------------------------------------------------------

const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const META = { requestId: expect.any(String), timestamp: expect.stringMatching(ISO_TIME) };

const MANAGE_KEY = 'k_manage_0123456789abcdef0123456';
/** The test keys of startNode plus a `manage`-only key. */
const API_KEYS = `admin:${ADMIN_KEY}:admin,pusher:${PUSH_KEY}:push,reader:${READ_KEY}:read,signer:${SIGNED_KEY}:push+read+signed,ops:${MANAGE_KEY}:manage`;

const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
const admin = bearer(ADMIN_KEY);

/** An offset as pushgate issues them: `<epoch>:<sequence>`. */
const OFFSET = expect.stringMatching(/^[0-9a-z]+:\d+$/);
const nextOffset = (o: string) => o.replace(/\d+$/, (n) => String(Number(n) + 1));

/** A success envelope with exactly `data`, and X-Request-Id equal to meta.requestId. */
function expectData(res: Response, status: number, data: unknown): void {
  expect({ status: res.status, body: res.body }).toEqual({ status, body: { success: true, data, meta: META } });
  expect(res.headers['x-request-id']).toBe(res.body.meta.requestId);
}

/** An error envelope with the contract's code and status. */
function expectError(res: Response, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(res.body).toEqual({ success: false, error: expect.objectContaining({ code, message: expect.any(String) }), meta: META });
  expect(res.headers['x-request-id']).toBe(res.body.meta.requestId);
}

/** The contract's signature headers over `timestamp + "." + rawBody`. */
function signed(key: string, rawBody: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const hex = createHmac('sha256', key).update(`${timestamp}.${rawBody}`).digest('hex');
  return { 'X-Timestamp': String(timestamp), 'X-Signature': `sha256=${hex}` };
}

/** Records every `event` a socket receives as [data, meta]. */
function record(socket: ClientSocket, event: string): [unknown, unknown][] {
  const got: [unknown, unknown][] = [];
  socket.on(event, (data: unknown, meta: unknown) => got.push([data, meta]));
  return got;
}

let markerSeq = 0;
/**
 * Pushes a marker to the given sockets and waits until each has it. Socket.IO keeps a socket's
 * packets in order, so anything pushed earlier has arrived (or never will) once the marker is in.
 */
async function settle(node: TestNode, sockets: ClientSocket[]): Promise<void> {
  const n = ++markerSeq;
  const arrived = sockets.map((s) => nextEvent(s, `marker:${n}`));
  await request(node.url).post('/api/v1/push').set(admin).send({ socketIds: sockets.map((s) => s.id), event: `marker:${n}`, data: n }).expect(200);
  await Promise.all(arrived);
}

const post = (node: TestNode, path: string, body: unknown, headers: Record<string, string> = admin) => request(node.url).post(`/api/v1${path}`).set(headers).send(body as object);
const get = (node: TestNode, path: string, headers: Record<string, string> = admin) => request(node.url).get(`/api/v1${path}`).set(headers);

// ---------------------------------------------------------------------------------------------

describe('HTTP API on a single node', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ NODE_ID: 'http-api-node', API_KEYS });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  describe('envelope and X-Request-Id', () => {
    it('wraps a success in { success, data, meta: { requestId, timestamp } } and generates a request id', async () => {
      const res = await get(node, '/users/nobody').expect(200);
      expectData(res, 200, { userId: 'nobody', online: false, sockets: [] });
      expect(res.body.meta.requestId).toMatch(UUID);
      expect(Math.abs(Date.parse(res.body.meta.timestamp) - Date.now())).toBeLessThan(60_000);
    });

    it('keeps an incoming X-Request-Id, on success and on error answers alike', async () => {
      const ok = await get(node, '/status').set('X-Request-Id', 'caller-req-0001');
      expect(ok.headers['x-request-id']).toBe('caller-req-0001');
      expect(ok.body.meta.requestId).toBe('caller-req-0001');
      const refused = await request(node.url).get('/api/v1/status').set('X-Request-Id', 'caller-req-0002');
      expectError(refused, 401, 'UNAUTHORIZED');
      expect(refused.body.meta.requestId).toBe('caller-req-0002');
      const missing = await request(node.url).get('/no/such/route').set('X-Request-Id', 'caller-req-0003');
      expectError(missing, 404, 'NOT_FOUND');
      expect(missing.body.meta.requestId).toBe('caller-req-0003');
    });

    it('replaces an X-Request-Id that is unsafe to log with a generated one', async () => {
      const res = await get(node, '/status').set('X-Request-Id', 'two words\tand a tab');
      expect(res.headers['x-request-id']).toMatch(UUID);
      expect(res.body.meta.requestId).toBe(res.headers['x-request-id']);
    });

    it('gives every answer its own request id', async () => {
      const [a, b] = await Promise.all([get(node, '/status'), get(node, '/status')]);
      expect(a.body.meta.requestId).not.toBe(b.body.meta.requestId);
    });

    it('carries X-Request-Id on health and metrics answers too', async () => {
      for (const path of ['/health', '/health/live', '/health/ready', '/metrics']) {
        const res = await request(node.url).get(path).set('X-Request-Id', `probe-${path.replace(/\//g, '_')}`);
        expect(res.headers['x-request-id']).toBe(`probe-${path.replace(/\//g, '_')}`);
      }
    });
  });

  describe('API keys and scopes', () => {
    it.each([
      ['no key', {}],
      ['a wrong key', bearer('k_wrong_0123456789abcdef0123456789')],
      ['a wrong X-API-Key', { 'X-API-Key': 'k_wrong_0123456789abcdef0123456789' }],
      ['an empty bearer', { Authorization: 'Bearer ' }],
      ['a Basic header', { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_KEY}`).toString('base64')}` }],
      ['a key with a suffix', bearer(`${ADMIN_KEY}x`)],
      ['a prefix of a key', bearer(ADMIN_KEY.slice(0, -1))],
    ])('refuses %s with 401 UNAUTHORIZED', async (_name, headers) => {
      expectError(await request(node.url).get('/api/v1/status').set(headers as Record<string, string>), 401, 'UNAUTHORIZED');
      expectError(await request(node.url).post('/api/v1/push').set(headers as Record<string, string>).send({ users: ['u'], event: 'e', data: 1 }), 401, 'UNAUTHORIZED');
    });

    it('accepts the key as Authorization: Bearer and as X-API-Key', async () => {
      expectData(await request(node.url).get('/api/v1/users/x').set('Authorization', `Bearer ${READ_KEY}`), 200, { userId: 'x', online: false, sockets: [] });
      expectData(await request(node.url).get('/api/v1/users/x').set('authorization', `bearer ${READ_KEY}`), 200, { userId: 'x', online: false, sockets: [] });
      expectData(await request(node.url).get('/api/v1/users/x').set('X-API-Key', READ_KEY), 200, { userId: 'x', online: false, sockets: [] });
    });

    // [route, what it needs, method, path, body]; every key either may (2xx/404) or gets 403 FORBIDDEN.
    const routes: [string, 'push' | 'read' | 'manage', 'get' | 'post' | 'put' | 'delete', string, object?][] = [
      ['POST /push', 'push', 'post', '/push', { users: ['scope-u'], event: 'e', data: 1 }],
      ['POST /rooms/:room/broadcast', 'push', 'post', '/rooms/scope-room/broadcast', { event: 'e', data: 1 }],
      ['POST /batch', 'push', 'post', '/batch', { messages: [{ users: ['scope-u'], event: 'e', data: 1 }] }],
      ['GET /rooms', 'read', 'get', '/rooms'],
      ['GET /rooms/:room', 'read', 'get', '/rooms/scope-room'],
      ['GET /users/:userId', 'read', 'get', '/users/scope-u'],
      ['GET /status', 'read', 'get', '/status'],
      ['PUT /rooms/:room/members/:userId', 'manage', 'put', '/rooms/scope-room/members/scope-u'],
      ['DELETE /rooms/:room/members/:userId', 'manage', 'delete', '/rooms/scope-room/members/scope-u'],
      ['DELETE /users/:userId/connections', 'manage', 'delete', '/users/scope-u/connections'],
    ];
    const keys: [string, string, string[]][] = [
      ['admin', ADMIN_KEY, ['push', 'read', 'manage']],
      ['push', PUSH_KEY, ['push']],
      ['read', READ_KEY, ['read']],
      ['manage', MANAGE_KEY, ['manage']],
      ['push+read+signed', SIGNED_KEY, ['push', 'read']],
    ];
    const matrix = routes.flatMap(([route, needs, method, path, body]) => keys.map(([keyName, key, scopes]) => ({ route, keyName, key, allowed: scopes.includes(needs), method, path, body })));

    let signedOffset = 0;
    it.each(matrix)('$route with the $keyName key: allowed=$allowed', async ({ key, allowed, method, path, body }) => {
      const raw = body === undefined ? '' : JSON.stringify(body);
      // The `signed` key signs every request (its scopes are checked after the signature). The MAC
      // covers timestamp and body only, so identical bodies need distinct timestamps not to be replays.
      const ts = Math.floor(Date.now() / 1000) - ++signedOffset;
      const headers = { ...bearer(key), ...(key === SIGNED_KEY ? signed(key, raw, ts) : {}), ...(body ? { 'Content-Type': 'application/json' } : {}) };
      const req = request(node.url)[method](`/api/v1${path}`).set(headers);
      const res = body === undefined ? await req : await req.send(raw);
      if (allowed) {
        // GET /rooms/scope-room has no member: 404 means the scope check passed.
        expect([200, 404]).toContain(res.status);
        expect(res.body.success).toBe(res.status === 200);
      } else {
        expectError(res, 403, 'FORBIDDEN');
      }
    });
  });

  describe('POST /push', () => {
    it('reaches every socket of the users except the `except` ones, with meta { id, ts, stream, offset }', async () => {
      const a1 = await connectUser(node.url, 'alice');
      const a2 = await connectUser(node.url, 'alice');
      const b = await connectUser(node.url, 'bob');
      const got = [a1, a2, b].map((c) => record(c.socket, 'note'));
      const before = Date.now();
      const res = await post(node, '/push', { users: ['alice'], except: [a2.welcome.socketId], event: 'note', data: { n: 1 }, id: 'push-users-1' });
      expectData(res, 200, { id: 'push-users-1', recipients: 1 });
      await settle(node, [a1.socket, a2.socket, b.socket]);
      expect(got[0]).toEqual([[{ n: 1 }, { id: 'push-users-1', ts: expect.any(Number), stream: 'user:alice', offset: OFFSET }]]);
      const ts = (got[0]![0]![1] as { ts: number }).ts;
      expect(ts).toBeGreaterThanOrEqual(before - 1000);
      expect(ts).toBeLessThanOrEqual(Date.now() + 1000);
      expect(got[1]).toEqual([]);
      expect(got[2]).toEqual([]);
    });

    it('generates a message id when none is given', async () => {
      const { socket } = await connectUser(node.url, 'gen-id');
      const arrived = nextEvent<[unknown, { id: string }]>(socket, 'gen');
      const res = await post(node, '/push', { users: ['gen-id'], event: 'gen', data: null }).expect(200);
      expect(res.body.data).toEqual({ id: expect.any(String), recipients: 1 });
      expect(res.body.data.id.length).toBeGreaterThan(0);
      const [data, meta] = await arrived;
      expect(data).toBeNull();
      expect(meta.id).toBe(res.body.data.id);
      const again = await post(node, '/push', { users: ['gen-id'], event: 'gen', data: null }).expect(200);
      expect(again.body.data.id).not.toBe(res.body.data.id);
    });

    it('to one room: meta carries the room; recipients are the room members', async () => {
      const member = await connectUser(node.url, 'roomie', { rooms: ['chat:*'] });
      const outsider = await connectUser(node.url, 'outsider', { rooms: ['chat:*'] });
      expect(await emitAck(member.socket, 'room:join', { room: 'chat:push' })).toEqual({ ok: true, data: { room: 'chat:push', offset: OFFSET } });
      const inRoom = record(member.socket, 'say');
      const outside = record(outsider.socket, 'say');
      expectData(await post(node, '/push', { rooms: ['chat:push'], event: 'say', data: 'hi', id: 'room-msg-1' }), 200, { id: 'room-msg-1', recipients: 1 });
      await settle(node, [member.socket, outsider.socket]);
      expect(inRoom).toEqual([['hi', { id: 'room-msg-1', ts: expect.any(Number), room: 'chat:push', stream: 'chat:push', offset: OFFSET }]]);
      expect(outside).toEqual([]);
    });

    it('to several rooms or mixed targets: meta has no room, and a socket reached twice gets it once', async () => {
      const { socket, welcome } = await connectUser(node.url, 'multi', { rooms: ['m:*'] });
      const other = await connectUser(node.url, 'multi');
      await emitAck(socket, 'room:join', { room: 'm:1' });
      await emitAck(socket, 'room:join', { room: 'm:2' });
      const got = record(socket, 'mix');
      const gotOther = record(other.socket, 'mix');
      const res = await post(node, '/push', { users: ['multi'], rooms: ['m:1', 'm:2'], socketIds: [welcome.socketId], event: 'mix', data: [1, 2], id: 'mixed-1' });
      expectData(res, 200, { id: 'mixed-1', recipients: 2 });
      await settle(node, [socket, other.socket]);
      // Once, through the first addressed stream it is in (the user's), with that stream's offset.
      expect(got).toEqual([[[1, 2], { id: 'mixed-1', ts: expect.any(Number), stream: 'user:multi', offset: OFFSET }]]);
      expect(gotOther).toEqual([[[1, 2], { id: 'mixed-1', ts: expect.any(Number), stream: 'user:multi', offset: OFFSET }]]);
      expect(got[0]![1]).not.toHaveProperty('room');
    });

    it('to socketIds reaches exactly those sockets; an unknown socket id counts 0 recipients', async () => {
      const s1 = await connectUser(node.url, 'sid');
      const s2 = await connectUser(node.url, 'sid');
      const got1 = record(s1.socket, 'direct');
      const got2 = record(s2.socket, 'direct');
      expectData(await post(node, '/push', { socketIds: [s2.welcome.socketId], event: 'direct', data: 'only-2', id: 'sid-1' }), 200, { id: 'sid-1', recipients: 1 });
      expectData(await post(node, '/push', { socketIds: ['no-such-socket'], event: 'direct', data: 'nobody', id: 'sid-2' }), 200, { id: 'sid-2', recipients: 0 });
      await settle(node, [s1.socket, s2.socket]);
      expect(got1).toEqual([]);
      expect(got2).toEqual([['only-2', { id: 'sid-1', ts: expect.any(Number) }]]);
    });

    it('answers 0 recipients for an offline user, and still 200', async () => {
      expectData(await post(node, '/push', { users: ['offline-user'], event: 'e', data: 1, id: 'offline-1' }), 200, { id: 'offline-1', recipients: 0 });
    });

    it.each([
      ['null', null],
      ['zero', 0],
      ['false', false],
      ['an empty string', ''],
      ['a unicode string', 'héllo — 世界 🚀'],
      ['an empty object', {}],
      ['a nested structure', { a: [1, { b: null, c: [true, 'x'] }], d: -1.5e-7 }],
      ['an array', [null, 0, '', [], {}]],
    ])('delivers data exactly as sent: %s', async (_name, data) => {
      const { socket } = await connectUser(node.url, 'exact');
      const arrived = nextEvent<[unknown, unknown]>(socket, 'exact');
      await post(node, '/push', { users: ['exact'], event: 'exact', data }).expect(200);
      expect((await arrived)[0]).toEqual(data);
    });
  });

  describe('POST /rooms/:room/broadcast', () => {
    it('reaches the room members but `except`, with meta { id, ts, room, stream, offset }', async () => {
      const r1 = await connectUser(node.url, 'b1', { rooms: ['bc:*'] });
      const r2 = await connectUser(node.url, 'b2', { rooms: ['bc:*'] });
      const out = await connectUser(node.url, 'b3');
      await emitAck(r1.socket, 'room:join', { room: 'bc:1' });
      await emitAck(r2.socket, 'room:join', { room: 'bc:1' });
      const got = [r1, r2, out].map((c) => record(c.socket, 'news'));
      expectData(await post(node, '/rooms/bc:1/broadcast', { event: 'news', data: { v: 1 }, id: 'bc-1' }), 200, { id: 'bc-1', recipients: 2 });
      expectData(await post(node, '/rooms/bc:1/broadcast', { event: 'news', data: { v: 2 }, except: [r1.welcome.socketId] }), 200, { id: expect.any(String), recipients: 1 });
      await settle(node, [r1.socket, r2.socket, out.socket]);
      expect(got[0]).toEqual([[{ v: 1 }, { id: 'bc-1', ts: expect.any(Number), room: 'bc:1', stream: 'bc:1', offset: OFFSET }]]);
      expect(got[1]).toEqual([
        [{ v: 1 }, { id: 'bc-1', ts: expect.any(Number), room: 'bc:1', stream: 'bc:1', offset: OFFSET }],
        [{ v: 2 }, { id: expect.any(String), ts: expect.any(Number), room: 'bc:1', stream: 'bc:1', offset: OFFSET }],
      ]);
      expect(got[1]![1]![1]).toMatchObject({ offset: nextOffset((got[1]![0]![1] as { offset: string }).offset) });
      expect(got[2]).toEqual([]);
    });

    it('accepts URL-encoded room names and answers 0 recipients for an empty room', async () => {
      expectData(await post(node, `/rooms/${encodeURIComponent('weird/name?#&')}/broadcast`, { event: 'e', data: 1, id: 'enc-1' }), 200, { id: 'enc-1', recipients: 0 });
    });
  });

  describe.each([
    ['in memory', () => ({})],
    ['on Redis', () => ({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('http-idem') })],
  ])('idempotent message ids (%s)', (_label, env) => {
    let idem: TestNode;
    beforeAll(async () => {
      idem = await startNode(env());
    });
    afterAll(() => idem.stop());

    it('a repeated id within the TTL answers the first result and is delivered once', async () => {
      const { socket } = await connectUser(idem.url, 'erin');
      await eventually(async () => (await get(idem, '/users/erin')).body.data.online);
      const got = record(socket, 'once');
      const first = await post(idem, '/push', { id: 'idem-1', users: ['erin'], event: 'once', data: 1 });
      expectData(first, 200, { id: 'idem-1', recipients: 1 });
      // A second socket of erin now exists: a real re-delivery would reach 2 sockets.
      const second = await connectUser(idem.url, 'erin');
      const gotSecond = record(second.socket, 'once');
      await eventually(async () => (await get(idem, '/users/erin')).body.data.sockets.length === 2);
      const again = await post(idem, '/push', { id: 'idem-1', users: ['erin'], event: 'once', data: 1 });
      expectData(again, 200, first.body.data);
      // The id alone decides: a retry with another body is still the first message.
      const changed = await post(idem, '/rooms/anything/broadcast', { id: 'idem-1', event: 'once', data: 2 });
      expectData(changed, 200, first.body.data);
      await settle(idem, [socket, second.socket]);
      expect(got.map(([d]) => d)).toEqual([1]);
      expect(gotSecond).toEqual([]);
    });

    it('concurrent requests with one id deliver once', async () => {
      const { socket } = await connectUser(idem.url, 'racer');
      await eventually(async () => (await get(idem, '/users/racer')).body.data.online);
      const got = record(socket, 'race');
      const answers = await Promise.all(Array.from({ length: 5 }, () => post(idem, '/push', { id: 'race-1', users: ['racer'], event: 'race', data: 'x' })));
      for (const a of answers) expect(a.status).toBe(200);
      expect(new Set(answers.map((a) => JSON.stringify(a.body.data))).size).toBe(1);
      await settle(idem, [socket]);
      expect(got).toHaveLength(1);
    });

    it('a batch repeating an id delivers it once', async () => {
      const { socket } = await connectUser(idem.url, 'batcher');
      await eventually(async () => (await get(idem, '/users/batcher')).body.data.online);
      const got = record(socket, 'b');
      const msg = { id: 'batch-dup-1', users: ['batcher'], event: 'b', data: 'once' };
      const res = await post(idem, '/batch', { messages: [msg, msg] }).expect(200);
      expect(res.body.data.results).toEqual([
        { success: true, data: { id: 'batch-dup-1', recipients: expect.any(Number) } },
        { success: true, data: { id: 'batch-dup-1', recipients: expect.any(Number) } },
      ]);
      await settle(idem, [socket]);
      expect(got.map(([d]) => d)).toEqual(['once']);
    });
  });

  describe('POST /batch', () => {
    it('delivers the good messages and reports the bad one in its place', async () => {
      const { socket } = await connectUser(node.url, 'batch-user', { rooms: ['batch:*'] });
      await emitAck(socket, 'room:join', { room: 'batch:r' });
      const got = record(socket, 'item');
      const res = await post(node, '/batch', {
        messages: [
          { users: ['batch-user'], event: 'item', data: 1, id: 'batch-1' },
          { event: 'item', data: 'no target' },
          { rooms: ['batch:r'], event: 'item', data: 3, id: 'batch-3' },
          'not an object',
        ],
      });
      expectData(res, 200, {
        results: [
          { success: true, data: { id: 'batch-1', recipients: 1 } },
          { success: false, error: { code: 'BAD_REQUEST', message: expect.any(String), details: expect.arrayContaining([expect.objectContaining({ field: expect.any(String) })]) } },
          { success: true, data: { id: 'batch-3', recipients: 1 } },
          { success: false, error: { code: 'BAD_REQUEST', message: expect.any(String), details: expect.any(Array) } },
        ],
      });
      await settle(node, [socket]);
      expect(got).toEqual([
        [1, { id: 'batch-1', ts: expect.any(Number), stream: 'user:batch-user', offset: OFFSET }],
        [3, { id: 'batch-3', ts: expect.any(Number), room: 'batch:r', stream: 'batch:r', offset: OFFSET }],
      ]);
    });
  });

  describe('rooms, members and users', () => {
    it('GET /rooms lists rooms by prefix, limit and cursor', async () => {
      const a = await connectUser(node.url, 'lister');
      await connectUser(node.url, 'lister');
      const b = await connectUser(node.url, 'lister2');
      for (const room of ['list:c', 'list:a', 'list:b', 'other:z']) {
        expectData(await request(node.url).put(`/api/v1/rooms/${room}/members/lister`).set(admin), 200, { room, userId: 'lister', sockets: 2 });
      }
      await request(node.url).put('/api/v1/rooms/list:a/members/lister2').set(admin).expect(200);
      expect(a.socket.connected && b.socket.connected).toBe(true);

      const page1 = await get(node, '/rooms?prefix=list:&limit=2');
      expectData(page1, 200, {
        rooms: [
          { room: 'list:a', sockets: 3, users: 2 },
          { room: 'list:b', sockets: 2, users: 1 },
        ],
        cursor: expect.any(String),
      });
      const page2 = await get(node, `/rooms?prefix=list:&limit=2&cursor=${encodeURIComponent(page1.body.data.cursor)}`);
      expectData(page2, 200, { rooms: [{ room: 'list:c', sockets: 2, users: 1 }], cursor: null });
      expectData(await get(node, '/rooms?prefix=list:'), 200, {
        rooms: [
          { room: 'list:a', sockets: 3, users: 2 },
          { room: 'list:b', sockets: 2, users: 1 },
          { room: 'list:c', sockets: 2, users: 1 },
        ],
        cursor: null,
      });
      expectData(await get(node, '/rooms?prefix=nothing-here:'), 200, { rooms: [], cursor: null });
      const all = await get(node, '/rooms?limit=1000').expect(200);
      expect(all.body.data.rooms.map((r: { room: string }) => r.room)).toEqual(expect.arrayContaining(['list:a', 'list:b', 'list:c', 'other:z']));
      // Personal rooms are not rooms.
      expect(all.body.data.rooms.map((r: { room: string }) => r.room).filter((r: string) => r.startsWith('user:'))).toEqual([]);
    });

    it('GET /rooms/:room details the members; an empty room is 404 NOT_FOUND', async () => {
      const { socket } = await connectUser(node.url, 'detail', { rooms: ['d:*'] });
      await connectUser(node.url, 'detail2', { rooms: ['d:*'] }).then(({ socket: s }) => emitAck(s, 'room:join', { room: 'd:1' }));
      await emitAck(socket, 'room:join', { room: 'd:1' });
      expectData(await get(node, '/rooms/d:1'), 200, {
        room: 'd:1',
        sockets: 2,
        users: [
          { userId: 'detail', sockets: 1 },
          { userId: 'detail2', sockets: 1 },
        ],
      });
      expectError(await get(node, '/rooms/d:never'), 404, 'NOT_FOUND');
    });

    it('PUT / DELETE /rooms/:room/members/:userId move every socket of the user', async () => {
      const s1 = await connectUser(node.url, 'mia');
      const s2 = await connectUser(node.url, 'mia');
      expectData(await request(node.url).put('/api/v1/rooms/team:m/members/mia').set(admin), 200, { room: 'team:m', userId: 'mia', sockets: 2 });
      // Joining again changes nothing.
      expectData(await request(node.url).put('/api/v1/rooms/team:m/members/mia').set(admin), 200, { room: 'team:m', userId: 'mia', sockets: 2 });
      expectData(await get(node, '/rooms/team:m'), 200, { room: 'team:m', sockets: 2, users: [{ userId: 'mia', sockets: 2 }] });
      const user = await get(node, '/users/mia').expect(200);
      expect(user.body.data.sockets.map((s: { rooms: string[] }) => s.rooms)).toEqual([['team:m'], ['team:m']]);

      const arrived = [nextEvent(s1.socket, 'team'), nextEvent(s2.socket, 'team')];
      expectData(await post(node, '/rooms/team:m/broadcast', { event: 'team', data: 't', id: 'team-1' }), 200, { id: 'team-1', recipients: 2 });
      await Promise.all(arrived);

      expectData(await request(node.url).delete('/api/v1/rooms/team:m/members/mia').set(admin), 200, { room: 'team:m', userId: 'mia', sockets: 2 });
      expectError(await get(node, '/rooms/team:m'), 404, 'NOT_FOUND');
      const got = [record(s1.socket, 'team'), record(s2.socket, 'team')];
      expectData(await post(node, '/rooms/team:m/broadcast', { event: 'team', data: 'gone', id: 'team-2' }), 200, { id: 'team-2', recipients: 0 });
      await settle(node, [s1.socket, s2.socket]);
      expect(got).toEqual([[], []]);
    });

    it('PUT members for a user without sockets changes nothing (0 sockets)', async () => {
      expectData(await request(node.url).put('/api/v1/rooms/team:none/members/ghost').set(admin), 200, { room: 'team:none', userId: 'ghost', sockets: 0 });
      expectError(await get(node, '/rooms/team:none'), 404, 'NOT_FOUND');
      expectData(await request(node.url).delete('/api/v1/rooms/team:none/members/ghost').set(admin), 200, { room: 'team:none', userId: 'ghost', sockets: 0 });
    });

    it('GET /users/:userId lists the sockets with node, connectedAt and rooms', async () => {
      const before = Date.now();
      const { socket, welcome } = await connectUser(node.url, 'uma', { rooms: ['u:*'] });
      await emitAck(socket, 'room:join', { room: 'u:2' });
      await emitAck(socket, 'room:join', { room: 'u:1' });
      const res = await get(node, '/users/uma');
      expectData(res, 200, { userId: 'uma', online: true, sockets: [{ id: welcome.socketId, nodeId: 'http-api-node', connectedAt: expect.any(Number), rooms: ['u:1', 'u:2'] }] });
      expect(res.body.data.sockets[0].connectedAt).toBeGreaterThanOrEqual(before - 1000);
    });

    it('DELETE /users/:userId/connections really disconnects every socket of the user', async () => {
      const s1 = await connectUser(node.url, 'dan');
      const s2 = await connectUser(node.url, 'dan');
      const bystander = await connectUser(node.url, 'not-dan');
      const gone = [nextEvent<[string]>(s1.socket, 'disconnect'), nextEvent<[string]>(s2.socket, 'disconnect')];
      expectData(await request(node.url).delete('/api/v1/users/dan/connections').set(admin), 200, { userId: 'dan', disconnected: 2 });
      expect((await Promise.all(gone)).map(([reason]) => reason)).toEqual(['io server disconnect', 'io server disconnect']);
      await eventually(async () => (await get(node, '/users/dan')).body.data.online === false);
      expectData(await post(node, '/push', { users: ['dan'], event: 'e', data: 1, id: 'dan-gone' }), 200, { id: 'dan-gone', recipients: 0 });
      expect(bystander.socket.connected).toBe(true);
      expectData(await request(node.url).delete('/api/v1/users/dan/connections').set(admin), 200, { userId: 'dan', disconnected: 0 });
    });
  });

  describe('GET /status', () => {
    it('answers { version, nodes: [...], totals } for this node', async () => {
      await connectUser(node.url, 'status-1');
      await connectUser(node.url, 'status-2');
      const res = await eventually(async () => {
        const r = await get(node, '/status');
        const self = r.body.data.nodes.find((n: { id: string }) => n.id === 'http-api-node');
        return self && self.connections === r.body.data.totals.connections && r.body.data.totals.connections >= 2 ? r : null;
      });
      expectData(res, 200, {
        version: expect.stringMatching(/^\d+\.\d+\.\d+/),
        nodes: [
          expect.objectContaining({
            id: 'http-api-node',
            connections: expect.any(Number),
            rooms: expect.any(Number),
            startedAt: node.startedAt,
            lastSeen: expect.any(Number),
          }),
        ],
        totals: { nodes: 1, connections: expect.any(Number), users: expect.any(Number), rooms: expect.any(Number) },
      });
      expect(res.body.data.totals.users).toBeGreaterThanOrEqual(2);
    });
  });

  describe('request signing', () => {
    let seq = 0;
    const body = () => JSON.stringify({ users: ['signer-target'], event: 'signed', data: 1, id: `sig-${process.pid}-${++seq}` });
    const sendSigned = (key: string, raw: string, headers: Record<string, string>) =>
      request(node.url).post('/api/v1/push').set({ ...bearer(key), 'Content-Type': 'application/json', ...headers }).send(raw);

    it('accepts a valid signature from a `signed` key (POST with a body, GET without)', async () => {
      const raw = body();
      expectData(await sendSigned(SIGNED_KEY, raw, signed(SIGNED_KEY, raw)), 200, { id: JSON.parse(raw).id, recipients: 0 });
      const status = await request(node.url).get('/api/v1/status').set({ ...bearer(SIGNED_KEY), ...signed(SIGNED_KEY, '') });
      expect(status.status).toBe(200);
    });

    it('refuses a `signed` key without a signature: 401 UNAUTHORIZED', async () => {
      expectError(await sendSigned(SIGNED_KEY, body(), {}), 401, 'UNAUTHORIZED');
      expectError(await request(node.url).get('/api/v1/status').set(bearer(SIGNED_KEY)), 401, 'UNAUTHORIZED');
      const raw = body();
      expectError(await sendSigned(SIGNED_KEY, raw, { 'X-Timestamp': signed(SIGNED_KEY, raw)['X-Timestamp']! }), 401, 'UNAUTHORIZED');
    });

    it('lets any key sign, and never ignores a wrong signature', async () => {
      const raw = body();
      expect((await sendSigned(PUSH_KEY, raw, signed(PUSH_KEY, raw))).status).toBe(200);
      const raw2 = body();
      expectError(await sendSigned(PUSH_KEY, raw2, signed(ADMIN_KEY, raw2)), 401, 'UNAUTHORIZED');
      expectError(await request(node.url).get('/api/v1/status').set({ ...admin, 'X-Timestamp': String(Math.floor(Date.now() / 1000)), 'X-Signature': 'sha256=00' }), 401, 'UNAUTHORIZED');
    });

    it.each([
      ['signed with another key', (raw: string) => signed(ADMIN_KEY, raw)],
      ['over another body', (raw: string) => signed(SIGNED_KEY, raw.replace('"data":1', '"data":2'))],
      ['stale (301 s old)', (raw: string) => signed(SIGNED_KEY, raw, Math.floor(Date.now() / 1000) - 301)],
      ['from the future (301 s ahead)', (raw: string) => signed(SIGNED_KEY, raw, Math.floor(Date.now() / 1000) + 301)],
      ['with a millisecond timestamp', (raw: string) => signed(SIGNED_KEY, raw, Date.now())],
    ])('refuses a signature %s: 401 UNAUTHORIZED', async (_name, sign) => {
      const raw = body();
      expectError(await sendSigned(SIGNED_KEY, raw, sign(raw)), 401, 'UNAUTHORIZED');
    });

    it('accepts a timestamp inside the 5-minute window', async () => {
      const raw = body();
      expect((await sendSigned(SIGNED_KEY, raw, signed(SIGNED_KEY, raw, Math.floor(Date.now() / 1000) - 240))).status).toBe(200);
    });

    it('refuses a replayed signature: 401 UNAUTHORIZED, delivered once', async () => {
      const { socket } = await connectUser(node.url, 'signer-target');
      const got = record(socket, 'signed');
      const raw = body();
      const headers = signed(SIGNED_KEY, raw);
      expect((await sendSigned(SIGNED_KEY, raw, headers)).status).toBe(200);
      expectError(await sendSigned(SIGNED_KEY, raw, headers), 401, 'UNAUTHORIZED');
      await settle(node, [socket]);
      expect(got).toHaveLength(1);
    });
  });

  describe('operations endpoints', () => {
    it('GET /health summarises, /health/live and /health/ready answer 200', async () => {
      const health = await request(node.url).get('/health').expect(200);
      expect(health.body).toEqual({
        status: 'ok',
        ready: true,
        nodeId: 'http-api-node',
        version: expect.any(String),
        uptimeSeconds: expect.any(Number),
        draining: false,
        redis: 'none',
        connections: expect.any(Number),
      });
      expect((await request(node.url).get('/health/live').expect(200)).body).toEqual({ status: 'ok' });
      expect((await request(node.url).get('/health/ready').expect(200)).body).toEqual({ status: 'ok', redis: 'none', draining: false });
    });

    it('GET /metrics needs no token when METRICS_TOKEN is unset and has every metric of the contract', async () => {
      // Exercise the counters first so labelled series exist.
      const { socket } = await connectUser(node.url, 'metrics-user');
      const arrived = nextEvent(socket, 'm');
      await post(node, '/push', { users: ['metrics-user'], event: 'm', data: 1 }).expect(200);
      await arrived;
      await emitAck(socket, 'something:else', {});
      await get(node, '/rooms/metrics-room');

      const res = await request(node.url).get('/metrics').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      for (const [name, type] of [
        ['pushgate_connected_sockets', 'gauge'],
        ['pushgate_connected_users', 'gauge'],
        ['pushgate_rooms', 'gauge'],
        ['pushgate_connections_total', 'counter'],
        ['pushgate_messages_pushed_total', 'counter'],
        ['pushgate_messages_delivered_total', 'counter'],
        ['pushgate_push_duration_seconds', 'histogram'],
        ['pushgate_client_events_total', 'counter'],
        ['pushgate_backend_requests_total', 'counter'],
        ['pushgate_backend_duration_seconds', 'histogram'],
        ['pushgate_http_requests_total', 'counter'],
        ['pushgate_redis_up', 'gauge'],
      ]) {
        expect(res.text).toContain(`# TYPE ${name} ${type}\n`);
      }
      // Node's default metrics, event-loop lag included.
      expect(res.text).toMatch(/^pushgate_nodejs_eventloop_lag_seconds(\{[^}]*\})? /m);
      expect(res.text).toMatch(/^pushgate_process_resident_memory_bytes(\{[^}]*\})? /m);
      // Labelled series the contract names.
      expect(res.text).toMatch(/^pushgate_connections_total\{[^}]*result="accepted"[^}]*\} [1-9]/m);
      expect(res.text).toMatch(/^pushgate_connected_sockets(\{[^}]*\})? [1-9]/m);
      expect(res.text).toMatch(/^pushgate_messages_pushed_total(\{[^}]*\})? [1-9]/m);
      expect(res.text).toMatch(/^pushgate_push_duration_seconds_count(\{[^}]*\})? [1-9]/m);
      expect(res.text).toMatch(/^pushgate_redis_up(\{[^}]*\})? -1$/m);
      expect(res.text).toMatch(/^pushgate_http_requests_total\{(?=[^}]*method="POST")(?=[^}]*route="\/api\/v1\/push")(?=[^}]*status="200")[^}]*\} [1-9]/m);
      // Route patterns, never raw paths: room names must not explode the label set.
      expect(res.text).toMatch(/^pushgate_http_requests_total\{(?=[^}]*method="GET")(?=[^}]*route="\/api\/v1\/rooms\/:room")(?=[^}]*status="404")[^}]*\} [1-9]/m);
      expect(res.text).not.toContain('metrics-room');
    });
  });

  describe('security headers and logs', () => {
    it('sets helmet headers and no X-Powered-By, on API, error and health answers', async () => {
      for (const res of [await get(node, '/status'), await request(node.url).get('/api/v1/status'), await request(node.url).get('/nope'), await request(node.url).get('/health')]) {
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
        expect(res.headers['content-security-policy']).toContain("default-src 'self'");
        expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
        expect(res.headers['referrer-policy']).toBe('no-referrer');
        expect(res.headers['cross-origin-opener-policy']).toBe('same-origin');
        expect(res.headers['x-powered-by']).toBeUndefined();
      }
    });

    it('never logs an API key, a token or a signature', async () => {
      const wrongKey = 'k_wrong_secret_value_0123456789abcdef';
      const token = makeToken({ sub: 'log-user', rooms: ['log:*'] });
      const badToken = makeToken({ sub: 'log-user' }, {}, 'not-the-test-secret-0123456789abcdef');
      const { socket } = await connectUser(node.url, 'log-user', {}, { auth: { token } });
      await emitAck(socket, 'auth:refresh', { token });
      await emitAck(socket, 'auth:refresh', { token: badToken });
      await emitAck(socket, 'room:join', { room: 'log:1' });

      const raw = JSON.stringify({ users: ['log-user'], event: 'log', data: 1, id: 'log-1' });
      const sig = signed(SIGNED_KEY, raw);
      const wrongSig = signed(ADMIN_KEY, raw);
      await request(node.url).post('/api/v1/push').set({ ...bearer(SIGNED_KEY), 'Content-Type': 'application/json', ...sig }).send(raw).expect(200);
      await request(node.url).post('/api/v1/push').set({ ...bearer(SIGNED_KEY), 'Content-Type': 'application/json', ...sig }).send(raw).expect(401);
      await request(node.url).post('/api/v1/push').set({ ...bearer(SIGNED_KEY), 'Content-Type': 'application/json', ...wrongSig }).send(raw).expect(401);
      await request(node.url).get('/api/v1/status').set('X-API-Key', ADMIN_KEY).expect(200);
      await request(node.url).get('/api/v1/status').set(bearer(PUSH_KEY)).expect(403);
      await request(node.url).get('/api/v1/status').set(bearer(wrongKey)).expect(401);
      await request(node.url).get(`/api/v1/users/log-user?token=${token}`).set(admin).expect(200);
      await request(node.url).get(`/api/v1/nope?api_key=${ADMIN_KEY}&token=${token}`).set(admin).expect(404);
      await request(node.url).get(`/nope?key=${READ_KEY}`).expect(404);
      // A handshake that fails, with the token in the query string.
      expect(await connectUserRaw(node, badToken)).toBe('UNAUTHORIZED');

      await eventually(() => node.rawLogs.some((l) => l.includes('/api/v1/nope')));
      const logs = node.rawLogs.join('\n');
      expect(logs).toContain('/api/v1/status'); // the access log is captured, so the checks below mean something
      for (const secret of [ADMIN_KEY, PUSH_KEY, READ_KEY, SIGNED_KEY, wrongKey, token, badToken, token.split('.')[2]!, badToken.split('.')[2]!, sig['X-Signature']!.slice(7), wrongSig['X-Signature']!.slice(7)]) {
        expect(logs).not.toContain(secret);
      }
    });
  });
});

/** A handshake with the token in ?token= that is expected to fail; resolves with the refusal code. */
function connectUserRaw(node: TestNode, token: string): Promise<string> {
  const s = connectClient(node.url, undefined, { query: { token } });
  return new Promise((resolve) => {
    s.once('connect', () => resolve('connected'));
    s.once('connect_error', (err: Error) => resolve(err.message));
  });
}

describe('HTTP rate limit', () => {
  describe.each([
    ['in memory', () => ({})],
    ['on Redis', () => ({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('http-rl') })],
  ])('RATE_LIMIT_HTTP (%s)', (_label, env) => {
    let node: TestNode;
    beforeAll(async () => {
      node = await startNode({ ...env(), RATE_LIMIT_HTTP: '3' });
    });
    afterAll(() => node.stop());

    it('answers 429 RATE_LIMIT_EXCEEDED with Retry-After past the limit, per key', async () => {
      for (let i = 0; i < 3; i++) await get(node, '/users/rl', bearer(READ_KEY)).expect(200);
      const limited = await get(node, '/users/rl', bearer(READ_KEY));
      expectError(limited, 429, 'RATE_LIMIT_EXCEEDED');
      const retryAfter = Number(limited.headers['retry-after']);
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      // Another key has its own budget.
      await get(node, '/users/rl', bearer(ADMIN_KEY)).expect(200);
      // Health and metrics are not API requests.
      await request(node.url).get('/health/live').expect(200);
      expect((await request(node.url).get('/metrics').expect(200)).text).toMatch(/^pushgate_rate_limited_total\{[^}]*kind="http"[^}]*\} [1-9]/m);
    });

    it('counts requests without a valid key by address, so guessing keys is throttled too', async () => {
      for (let i = 0; i < 3; i++) expectError(await get(node, '/status', bearer(`k_guess_${i}_0123456789abcdef0123`)), 401, 'UNAUTHORIZED');
      expectError(await get(node, '/status', bearer('k_guess_x_0123456789abcdef0123')), 429, 'RATE_LIMIT_EXCEEDED');
      expectError(await get(node, '/status', {}), 429, 'RATE_LIMIT_EXCEEDED');
      await get(node, '/status', bearer(PUSH_KEY)).expect(403);
    });
  });
});

describe('CORS allowlist', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ CORS_ORIGINS: 'https://app.example.com, https://ops.example.com' });
  });
  afterAll(() => node.stop());

  it('echoes an allowed origin on API answers and preflights', async () => {
    const res = await get(node, '/status').set('Origin', 'https://ops.example.com').expect(200);
    expect(res.headers['access-control-allow-origin']).toBe('https://ops.example.com');
    expect(res.headers['access-control-expose-headers']).toMatch(/X-Request-Id/i);
    const pre = await request(node.url)
      .options('/api/v1/push')
      .set({ Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,content-type,x-signature,x-timestamp' });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/i);
    expect(pre.headers['access-control-allow-headers']).toMatch(/X-Signature/i);
  });

  it('does not allow another origin (API, preflight and Socket.IO)', async () => {
    const res = await get(node, '/status').set('Origin', 'https://evil.example.net').expect(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const pre = await request(node.url).options('/api/v1/push').set({ Origin: 'https://evil.example.net', 'Access-Control-Request-Method': 'POST' });
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const sio = await request(node.url).get('/socket.io/?EIO=4&transport=polling').set('Origin', 'https://evil.example.net');
    expect(sio.headers['access-control-allow-origin']).toBeUndefined();
    const sioOk = await request(node.url).get('/socket.io/?EIO=4&transport=polling').set('Origin', 'https://app.example.com');
    expect(sioOk.headers['access-control-allow-origin']).toBe('https://app.example.com');
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  let node: TestNode;
  const token = 'metrics-token-0123456789abcdef';
  beforeAll(async () => {
    node = await startNode({ METRICS_TOKEN: token });
  });
  afterAll(() => node.stop());

  it.each([
    ['no Authorization', {}],
    ['a wrong token', bearer('metrics-token-wrong')],
    ['an API key', admin],
    ['the token without Bearer', { Authorization: token }],
  ])('refuses %s with 401 UNAUTHORIZED in the envelope', async (_name, headers) => {
    expectError(await request(node.url).get('/metrics').set(headers as Record<string, string>), 401, 'UNAUTHORIZED');
  });

  it('serves the metrics with Authorization: Bearer <METRICS_TOKEN>', async () => {
    const res = await request(node.url).get('/metrics').set(bearer(token)).expect(200);
    expect(res.text).toContain('# TYPE pushgate_connected_sockets gauge');
    expect(node.rawLogs.join('\n')).not.toContain(token);
  });
});

describe('a Redis-backed node', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('http-redis') });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('reports Redis in health and metrics', async () => {
    expect((await request(node.url).get('/health').expect(200)).body).toEqual(expect.objectContaining({ ready: true, redis: 'up' }));
    expect((await request(node.url).get('/health/ready').expect(200)).body).toEqual({ status: 'ok', redis: 'up', draining: false });
    expect((await request(node.url).get('/metrics').expect(200)).text).toMatch(/^pushgate_redis_up(\{[^}]*\})? 1$/m);
  });

  it('serves rooms, users and pushes from the Redis presence store with the same shapes', async () => {
    const { socket, welcome } = await connectUser(node.url, 'rita', { rooms: ['rr:*'] });
    await emitAck(socket, 'room:join', { room: 'rr:1' });
    expectData(await get(node, '/rooms/rr:1'), 200, { room: 'rr:1', sockets: 1, users: [{ userId: 'rita', sockets: 1 }] });
    expectData(await get(node, '/rooms?prefix=rr:&limit=1'), 200, { rooms: [{ room: 'rr:1', sockets: 1, users: 1 }], cursor: null });
    expectData(await get(node, '/users/rita'), 200, { userId: 'rita', online: true, sockets: [{ id: welcome.socketId, nodeId: node.config.nodeId, connectedAt: expect.any(Number), rooms: ['rr:1'] }] });
    const arrived = nextEvent<[unknown, unknown]>(socket, 'r');
    expectData(await post(node, '/rooms/rr:1/broadcast', { event: 'r', data: 'x', id: 'redis-bc-1' }), 200, { id: 'redis-bc-1', recipients: 1 });
    expect(await arrived).toEqual(['x', { id: 'redis-bc-1', ts: expect.any(Number), room: 'rr:1', stream: 'rr:1', offset: OFFSET }]);
    expectError(await get(node, '/rooms/rr:none'), 404, 'NOT_FOUND');
  });

  it('refuses a replayed signature (remembered in Redis)', async () => {
    const raw = JSON.stringify({ users: ['x'], event: 'e', data: 1, id: 'redis-sig-1' });
    const headers = { ...bearer(SIGNED_KEY), 'Content-Type': 'application/json', ...signed(SIGNED_KEY, raw) };
    expect((await request(node.url).post('/api/v1/push').set(headers).send(raw)).status).toBe(200);
    expectError(await request(node.url).post('/api/v1/push').set(headers).send(raw), 401, 'UNAUTHORIZED');
  });
});
