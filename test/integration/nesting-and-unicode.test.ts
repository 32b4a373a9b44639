import request from 'supertest';
import { MAX_NESTING } from '../../server/src/contracts/api';
import { ADMIN_KEY, closeAllClients, connectClient, connectUser, emitAck, makeToken, nextEvent, startNode, type TestNode } from '../support/node';
import { FakeBackend } from '../support/fake-backend';

/** Regressions for what the generated fuzz corpus found: deep nesting, lone surrogates, broken session cookies. */

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };
const nested = (levels: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = [v];
  return v;
};

describe('nesting, lone surrogates and forged cookies', () => {
  const backend = new FakeBackend();
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ BACKEND_URL: await backend.start(), BACKEND_SECRET: 'nesting-secret-0123456789abcdef0123' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await node.stop();
    await backend.stop();
  });

  it(`refuses a push whose body nests deeper than ${MAX_NESTING} levels with BAD_REQUEST, before admitting it`, async () => {
    const { socket } = await connectUser(node.url, 'deep');
    // As raw text: the test's own HTTP client would overflow its stack serialising 7,000 levels.
    const raw = `{"users":["deep"],"event":"d","id":"deep-1","data":${'['.repeat(7000)}${']'.repeat(7000)}}`;
    const deep = await request(node.url).post('/api/v1/push').set(auth).set('Content-Type', 'application/json').send(raw);
    expect(deep.status).toBe(400);
    expect(deep.body.error).toMatchObject({ code: 'BAD_REQUEST', details: [{ field: '(root)', message: expect.any(String) }] });
    // Nothing was admitted: the same id with data within the limit is delivered.
    const got = nextEvent<[unknown]>(socket, 'd');
    const ok = await request(node.url).post('/api/v1/push').set(auth).send({ users: ['deep'], event: 'd', data: nested(MAX_NESTING - 2), id: 'deep-1' }).expect(200);
    expect(ok.body.data.recipients).toBe(1);
    expect((await got)[0]).toEqual(nested(MAX_NESTING - 2));
  });

  it('refuses deeply nested client events with BAD_REQUEST without asking the backend, so they cannot open its circuit', async () => {
    const { socket } = await connectUser(node.url, 'deep-client');
    const before = backend.requests.length;
    for (let i = 0; i < 8; i++) expect(await emitAck(socket, 'order:place', nested(300))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await emitAck(socket, 'room:join', { room: nested(300) })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(backend.requests.length).toBe(before);
    const other = await connectUser(node.url, 'other-client');
    expect(await emitAck(other.socket, 'order:place', { ok: 1 })).toEqual({ ok: true, data: { ok: true } });
  });

  it.each([
    ['a user id', (path: string) => ({ path: '/api/v1/push', body: { users: [path], event: 'e', data: 1 } })],
    ['a room', (path: string) => ({ path: '/api/v1/push', body: { rooms: [path], event: 'e', data: 1 } })],
    ['an event name', (path: string) => ({ path: '/api/v1/push', body: { users: ['u'], event: path, data: 1 } })],
  ])('refuses %s with a lone surrogate with BAD_REQUEST (Redis would merge it with another name)', async (_what, make) => {
    const { path, body } = make('x\ud800');
    const res = await request(node.url).post(path).set(auth).set('Content-Type', 'application/json').send(JSON.stringify(body));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_REQUEST');
  });

  it('refuses a token whose sub has a lone surrogate, and such a room name in room:join', async () => {
    const refused = await new Promise<string>((resolve) => {
      const s = connectClient(node.url, { token: makeToken({ sub: 'm\udc01' }) });
      s.once('connect', () => resolve('connected'));
      s.once('connect_error', (err: Error) => resolve(err.message));
    });
    expect(refused).toBe('UNAUTHORIZED');
    const { socket } = await connectUser(node.url, 'plain', { rooms: ['*'] });
    expect(await emitAck(socket, 'room:join', { room: 'r\ud800' })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
  });

  it('answers a session cookie with broken percent-encoding as no session: 401, not 500', async () => {
    const cookie = `pushgate_session=v1.%E0%A4%A.9999999999999.${'a'.repeat(64)}`;
    const res = await request(node.url).get('/api/v1/status').set('Cookie', cookie);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
    expect(node.logs.filter((l) => l.level === 'error')).toEqual([]);
  });
});
