import jwt from 'jsonwebtoken';
import request from 'supertest';
import { ADMIN_KEY, closeAllClients, connectClient, connectUser, makeToken, startNode, type TestNode } from '../support/node';

/** Resolves with the connect_error's message and data.code, or 'connected'. */
function handshake(url: string, auth?: Record<string, unknown>, opts = {}): Promise<{ message: string; code?: string }> {
  const s = connectClient(url, auth, opts);
  return new Promise((resolve) => {
    s.once('connect', () => resolve({ message: 'connected' }));
    s.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve({ message: err.message, code: err.data?.code }));
  });
}

describe('Socket.IO handshake', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ JWT_SECRETS: 'k2:second-secret-0123456789abcdef,k1:first-secret-0123456789abcdef', JWT_SECRET: undefined });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  const tok = (claims: object, opts: jwt.SignOptions = {}, secret = 'first-secret-0123456789abcdef') => jwt.sign(claims, secret, { algorithm: 'HS256', keyid: 'k1', expiresIn: 60, ...opts });

  it('welcomes a valid token with socketId, userId, nodeId, rooms, serverTime and the personal stream’s offset', async () => {
    const s = connectClient(node.url, { token: tok({ sub: 'alice' }) });
    const [welcome] = await new Promise<[Record<string, unknown>]>((r) => s.once('welcome', (w: Record<string, unknown>) => r([w])));
    expect(welcome).toEqual({ socketId: s.id, userId: 'alice', nodeId: node.config.nodeId, rooms: ['user:alice'], serverTime: expect.any(Number), offsets: { 'user:alice': expect.stringMatching(/^[0-9a-z]+:\d+$/) } });
    expect(Math.abs((welcome.serverTime as number) - Date.now())).toBeLessThan(5000);
  });

  it('accepts the token in an Authorization header and in ?token= (polling and websocket)', async () => {
    expect(await handshake(node.url, undefined, { extraHeaders: { Authorization: `Bearer ${tok({ sub: 'h' })}` }, transports: ['polling'] })).toEqual({ message: 'connected' });
    expect(await handshake(node.url, undefined, { query: { token: tok({ sub: 'q' }) } })).toEqual({ message: 'connected' });
  });

  it.each([
    ['no token', undefined],
    ['an empty token', { token: '' }],
    ['a non-string token', { token: { nested: true } }],
    ['garbage', { token: 'garbage' }],
    ['alg none', { token: jwt.sign({ sub: 'a' }, '', { algorithm: 'none' }) }],
    ['a foreign kid', { token: jwt.sign({ sub: 'a' }, 'first-secret-0123456789abcdef', { algorithm: 'HS256', keyid: 'k9' }) }],
    ['the wrong secret for its kid', { token: jwt.sign({ sub: 'a' }, 'first-secret-0123456789abcdef', { algorithm: 'HS256', keyid: 'k2' }) }],
    ['no sub', { token: jwt.sign({ x: 1 }, 'first-secret-0123456789abcdef', { algorithm: 'HS256', keyid: 'k1' }) }],
    ['a huge token', { token: 'a'.repeat(20000) }],
  ])('refuses %s with UNAUTHORIZED', async (_name, auth) => {
    expect(await handshake(node.url, auth)).toEqual({ message: 'UNAUTHORIZED', code: 'UNAUTHORIZED' });
  });

  it('refuses an expired token with TOKEN_EXPIRED', async () => {
    const expired = jwt.sign({ sub: 'a', exp: Math.floor(Date.now() / 1000) - 5 }, 'first-secret-0123456789abcdef', { algorithm: 'HS256', keyid: 'k1' });
    expect(await handshake(node.url, { token: expired })).toEqual({ message: 'TOKEN_EXPIRED', code: 'TOKEN_EXPIRED' });
  });

  it('verifies tokens of every configured kid (rotation)', async () => {
    expect(await handshake(node.url, { token: tok({ sub: 'r' }, { keyid: 'k2' }, 'second-secret-0123456789abcdef') })).toEqual({ message: 'connected' });
  });

  it('stays healthy after the refusals', async () => {
    await request(node.url).get('/health/ready').expect(200);
    const metrics = await request(node.url).get('/metrics').expect(200);
    expect(metrics.text).toMatch(/pushgate_connections_total\{result="unauthorized",node="[^"]+"\} [1-9]/);
    expect(metrics.text).toMatch(/pushgate_connections_total\{result="expired",node="[^"]+"\} [1-9]/);
  });
});

describe('connection rate limit', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ RATE_LIMIT_CONNECTIONS: '3' });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('refuses the connection past RATE_LIMIT_CONNECTIONS per minute from one address with RATE_LIMITED', async () => {
    for (let i = 0; i < 3; i++) await connectUser(node.url, `u${i}`);
    expect(await handshake(node.url, { token: makeToken({ sub: 'late' }) })).toEqual({ message: 'RATE_LIMITED', code: 'RATE_LIMITED' });
    await request(node.url).get('/api/v1/status').set('Authorization', `Bearer ${ADMIN_KEY}`).expect(200);
  });
});

describe('connection rate limit behind a proxy', () => {
  const viaProxy = (url: string, sub: string, forwardedFor: string) => connectUser(url, sub, {}, { extraHeaders: { 'X-Forwarded-For': forwardedFor } });
  const refusedVia = (url: string, forwardedFor: string) => handshake(url, { token: makeToken({ sub: 'late' }) }, { extraHeaders: { 'X-Forwarded-For': forwardedFor } });
  afterEach(closeAllClients);

  it('ignores X-Forwarded-For unless TRUST_PROXY says so: a client cannot pick its own address', async () => {
    const node = await startNode({ RATE_LIMIT_CONNECTIONS: '2' });
    try {
      await viaProxy(node.url, 'a', '198.51.100.1');
      await viaProxy(node.url, 'b', '198.51.100.2');
      expect(await refusedVia(node.url, '198.51.100.3')).toEqual({ message: 'RATE_LIMITED', code: 'RATE_LIMITED' });
    } finally {
      closeAllClients();
      await node.stop();
    }
  });

  it('with TRUST_PROXY=loopback, counts each forwarded client on its own, from the nearest untrusted hop', async () => {
    const node = await startNode({ RATE_LIMIT_CONNECTIONS: '2', TRUST_PROXY: 'loopback' });
    try {
      await viaProxy(node.url, 'a', '198.51.100.1');
      await viaProxy(node.url, 'b', '198.51.100.1');
      await viaProxy(node.url, 'c', '198.51.100.2');
      // A spoofed first entry does not help: the last untrusted hop is what counts.
      expect(await refusedVia(node.url, '203.0.113.9, 198.51.100.1')).toEqual({ message: 'RATE_LIMITED', code: 'RATE_LIMITED' });
    } finally {
      closeAllClients();
      await node.stop();
    }
  });
});
