import jwt from 'jsonwebtoken';
import request from 'supertest';
import { TEST_JWT_SECRET, ADMIN_KEY, closeAllClients, connectUser, emitAck, makeToken, nextEvent, startNode, type TestNode } from '../support/node';
import { FakeBackend, json } from '../support/fake-backend';

const api = (node: TestNode) => ({
  room: (room: string) => request(node.url).get(`/api/v1/rooms/${encodeURIComponent(room)}`).set('Authorization', `Bearer ${ADMIN_KEY}`),
  push: (body: object) => request(node.url).post('/api/v1/push').set('Authorization', `Bearer ${ADMIN_KEY}`).send(body),
});

describe('room:join / room:leave', () => {
  let node: TestNode;
  const backend = new FakeBackend();
  beforeAll(async () => {
    const url = await backend.start();
    node = await startNode({ BACKEND_URL: url, BACKEND_SECRET: 'backend-secret' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await node.stop();
    await backend.stop();
  });

  it('joins a room the token patterns allow, and the room then receives pushes', async () => {
    const { socket } = await connectUser(node.url, 'alice', { rooms: ['chat:*'] });
    expect(await emitAck(socket, 'room:join', { room: 'chat:1' })).toEqual({ ok: true, data: { room: 'chat:1', offset: expect.stringMatching(/^[0-9a-z]+:0$/) } });
    const got = nextEvent(socket, 'msg');
    const res = await request(node.url).post('/api/v1/rooms/chat:1/broadcast').set('Authorization', `Bearer ${ADMIN_KEY}`).send({ event: 'msg', data: { n: 1 } }).expect(200);
    expect(res.body.data.recipients).toBe(1);
    const [data, meta] = await got;
    expect(data).toEqual({ n: 1 });
    expect(meta).toEqual({ id: res.body.data.id, ts: expect.any(Number), room: 'chat:1', stream: 'chat:1', offset: expect.stringMatching(/:1$/) });
    expect(backend.requests.filter((r) => r.path === '/authorize')).toHaveLength(0);
  });

  it('asks the backend when the patterns do not match: 2xx allows, anything else is FORBIDDEN', async () => {
    backend.handler = (req, res) => json(res, req.body.room === 'vip' ? 200 : 403, {});
    const { socket, welcome } = await connectUser(node.url, 'bob');
    expect(await emitAck(socket, 'room:join', { room: 'vip' })).toEqual({ ok: true, data: { room: 'vip', offset: expect.any(String) } });
    const ask = backend.requests.find((r) => r.path === '/authorize')!;
    expect(ask.body).toEqual({ userId: 'bob', socketId: welcome.socketId, room: 'vip' });
    expect(ask.headers['x-pushgate-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(await emitAck(socket, 'room:join', { room: 'secret' })).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: expect.any(String) } });
    await api(node).room('secret').expect(404);
  });

  it('reserves user: rooms (FORBIDDEN) and checks names (BAD_REQUEST)', async () => {
    const { socket } = await connectUser(node.url, 'carol', { rooms: ['*'] });
    expect((await emitAck(socket, 'room:join', { room: 'user:dave' })).error?.code).toBe('FORBIDDEN');
    for (const room of ['', 'has space', 'tab\there', 'x'.repeat(201), 42, null, ['a']]) {
      expect((await emitAck(socket, 'room:join', { room })).error?.code).toBe('BAD_REQUEST');
    }
    for (const payload of ['chat:1', 7, null, [1, 2], true]) {
      expect((await emitAck(socket, 'room:join', payload)).error?.code).toBe('BAD_REQUEST');
    }
  });

  it('room:leave leaves; presence follows', async () => {
    const { socket } = await connectUser(node.url, 'erin', { rooms: ['team:*'] });
    await emitAck(socket, 'room:join', { room: 'team:a' });
    expect((await api(node).room('team:a').expect(200)).body.data).toEqual({ room: 'team:a', sockets: 1, users: [{ userId: 'erin', sockets: 1 }] });
    expect(await emitAck(socket, 'room:leave', { room: 'team:a' })).toEqual({ ok: true, data: { room: 'team:a' } });
    await api(node).room('team:a').expect(404);
  });

  it('does the work when the client sends no ack callback', async () => {
    const { socket } = await connectUser(node.url, 'frank', { rooms: ['noack:*'] });
    socket.emit('room:join', { room: 'noack:1' });
    // The next acknowledged event is handled after the first: its answer proves the join happened.
    await emitAck(socket, 'room:join', { room: 'noack:2' });
    expect((await api(node).room('noack:1').expect(200)).body.data.sockets).toBe(1);
  });
});

describe('auth:refresh and token expiry', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode();
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('disconnects a socket whose token expires', async () => {
    // exp has whole-second resolution: a 1 s token can have 1 ms left when issued, too little for a
    // handshake on a loaded machine. A 2 s token has at least one second.
    const { socket } = await connectUser(node.url, 'shortlived', {}, { auth: { token: makeToken({ sub: 'shortlived' }, { expiresIn: 2 }) } });
    const [reason] = await nextEvent<[string]>(socket, 'disconnect', 5000);
    expect(reason).toBe('io server disconnect');
  });

  it('auth:refresh with a fresh token for the same sub keeps the socket past the old expiry', async () => {
    const { socket } = await connectUser(node.url, 'renewer', {}, { auth: { token: makeToken({ sub: 'renewer' }, { expiresIn: 2 }) } });
    const ack = await emitAck(socket, 'auth:refresh', { token: makeToken({ sub: 'renewer' }, { expiresIn: 60 }) });
    expect(ack).toEqual({ ok: true, data: { exp: expect.any(Number) } });
    let disconnected = false;
    socket.on('disconnect', () => (disconnected = true));
    // Pushing after the old expiry proves the socket is still there (no fixed sleep: the push waits for delivery).
    const got = nextEvent(socket, 'ping:after', 5000);
    await new Promise((r) => setTimeout(r, 2300)); // past the first token's exp: the point of the test
    await api(node).push({ users: ['renewer'], event: 'ping:after', data: 1 }).expect(200);
    await got;
    expect(disconnected).toBe(false);
  });

  it('auth:refresh refuses another sub (FORBIDDEN), a bad token (UNAUTHORIZED) and an expired one (TOKEN_EXPIRED)', async () => {
    const { socket } = await connectUser(node.url, 'grace');
    expect((await emitAck(socket, 'auth:refresh', { token: makeToken({ sub: 'mallory' }) })).error?.code).toBe('FORBIDDEN');
    expect((await emitAck(socket, 'auth:refresh', { token: 'nope' })).error?.code).toBe('UNAUTHORIZED');
    expect((await emitAck(socket, 'auth:refresh', { token: jwt.sign({ sub: 'grace', exp: 1 }, TEST_JWT_SECRET, { algorithm: 'HS256' }) })).error?.code).toBe('TOKEN_EXPIRED');
    expect((await emitAck(socket, 'auth:refresh', 'not-an-object')).error?.code).toBe('BAD_REQUEST');
    expect(socket.connected).toBe(true);
  });
});

describe('per-socket event rate limit', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ RATE_LIMIT_EVENTS: '5' });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('answers RATE_LIMITED past RATE_LIMIT_EVENTS per second and keeps the socket', async () => {
    const { socket } = await connectUser(node.url, 'flooder', { rooms: ['f:*'] });
    const acks = await Promise.all(Array.from({ length: 12 }, (_, i) => emitAck(socket, 'room:join', { room: `f:${i}` })));
    const codes = acks.map((a) => (a.ok ? 'ok' : a.error!.code));
    expect(codes.filter((c) => c === 'ok').length).toBeLessThanOrEqual(5);
    expect(codes).toContain('RATE_LIMITED');
    expect(socket.connected).toBe(true);
  });
});
