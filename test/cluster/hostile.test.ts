import request from 'supertest';
import { RecoveringClient, SteadySender } from '../support/delivery-count';
import { FakeBackend, json } from '../support/fake-backend';
import { ADMIN_KEY, PUSH_KEY, closeAllClients, connectClient, connectUser, emitAck, eventually, makeToken, nextEvent, startNode, type TestNode } from '../support/node';
import { ProcessNode } from '../support/process-node';
import { testRedisUrl, uniquePrefix } from '../support/redis';
import { RedisServer } from '../support/redis-server';
import { TcpBalancer } from '../support/tcp-balancer';

/*
 * Issue 6's fault cases, fast: real processes and a real Redis taken away under steady traffic.
 * The long, measured versions are in load-tests/reliability.
 */

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };
const clients: RecoveringClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  closeAllClients();
});

describe('Redis killed and restarted under steady push traffic', () => {
  let redis: RedisServer;
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('redis-kill') };
    a = await startNode({ ...env, NODE_ID: 'rk-a' });
    b = await startNode({ ...env, NODE_ID: 'rk-b' });
  });
  afterAll(async () => {
    await a.stop();
    await b.stop();
    await redis.destroy();
  });

  it('nodes stay live, readiness flips and recovers, no request hangs, and every 2xx push is delivered once', async () => {
    const c = new RecoveringClient(b.url, 'steady', []);
    clients.push(c);
    await c.nextWelcome();
    const viaA = new SteadySender(() => a.url, { users: ['steady'] }, 'via-a', 10, 'rk-a');
    const viaB = new SteadySender(() => b.url, { users: ['steady'] }, 'via-b', 10, 'rk-b');
    await c.waitFor('via-a', 20);

    await redis.stop('SIGKILL');
    await eventually(async () => (await request(a.url).get('/health/ready')).status === 503 && (await request(b.url).get('/health/ready')).status === 503);
    await request(a.url).get('/health/live').expect(200);
    await request(b.url).get('/health/live').expect(200);
    // Pushes are refused (503) while Redis is away; the senders retry each with the same id.
    await eventually(() => viaA.refused > 5 && viaB.refused > 5);

    await redis.start();
    await eventually(async () => (await request(a.url).get('/health/ready')).status === 200 && (await request(b.url).get('/health/ready')).status === 200, 20_000);
    await Promise.all([viaA.stopAfter(20), viaB.stopAfter(20)]);
    await c.waitFor('via-a', viaA.sent[viaA.sent.length - 1]!);
    await c.waitFor('via-b', viaB.sent[viaB.sent.length - 1]!);

    // A push whose admission ran just before Redis died but whose answer was lost is refused (503)
    // though it was delivered, and Redis came back without its memory of the id: its retry is
    // delivered again. Only such messages may arrive twice.
    const tallies = { viaA: c.tally('via-a', viaA.sent, viaA.retried), viaB: c.tally('via-b', viaB.sent, viaB.retried) };
    process.stdout.write(`hostile redis-kill: ${JSON.stringify({ ...tallies, refused: { viaA: viaA.refused, viaB: viaB.refused } })}\n`);
    expect({ hung: viaA.hung + viaB.hung }).toEqual({ hung: 0 });
    for (const t of Object.values(tallies)) expect({ lost: t.lost, duplicated: t.duplicated, outOfOrder: t.outOfOrder }).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(c.socket.connected).toBe(true);
  });
});

describe('SIGTERM under load', () => {
  let draining: ProcessNode;
  let survivor: ProcessNode;
  let balancer: TcpBalancer;
  const SHUTDOWN_TIMEOUT_MS = 3000;
  beforeAll(async () => {
    const env = { REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('sigterm'), HEARTBEAT_MS: '300', SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) };
    [draining, survivor] = await Promise.all([ProcessNode.start({ ...env, NODE_ID: 'draining' }), ProcessNode.start({ ...env, NODE_ID: 'survivor' })]);
    balancer = await TcpBalancer.start([draining.port, survivor.port]);
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) c.close();
    await balancer.close();
    await Promise.all([draining.kill('SIGKILL'), survivor.kill('SIGTERM')]);
  });

  it('drains within SHUTDOWN_TIMEOUT_MS with exit code 0, and no push it answered 2xx is lost', async () => {
    const c = new RecoveringClient(balancer.url, 'drained', ['d:*']);
    clients.push(c);
    expect((await c.nextWelcome()).nodeId).toBe('draining');
    await c.join('d:1');
    // Through the balancer: the draining node takes pushes until it stops listening, then the survivor does.
    const toUser = new SteadySender(() => balancer.url, { users: ['drained'] }, 'u', 10, 'term-u');
    const toRoom = new SteadySender(() => balancer.url, { rooms: ['d:1'] }, 'r', 10, 'term-r');
    await c.waitFor('u', 20);

    const welcomed = c.nextWelcome();
    const draining$ = new Promise<unknown>((resolve) => c.socket.once('server:draining', resolve));
    draining.proc.kill('SIGTERM');
    const exit = await Promise.race([draining.exited, new Promise<'too late'>((r) => setTimeout(() => r('too late'), SHUTDOWN_TIMEOUT_MS + 2000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await draining$).toEqual({ nodeId: 'draining', reconnectInMs: 0 });
    expect((await welcomed).nodeId).toBe('survivor');
    await Promise.all([toUser.stopAfter(20), toRoom.stopAfter(20)]);
    await c.waitFor('u', toUser.sent[toUser.sent.length - 1]!);
    await c.waitFor('r', toRoom.sent[toRoom.sent.length - 1]!);

    const tallies = { user: c.tally('u', toUser.sent), room: c.tally('r', toRoom.sent) };
    process.stdout.write(`hostile sigterm: ${JSON.stringify({ ...tallies, refused: toUser.refused + toRoom.refused })}\n`);
    expect(toUser.hung + toRoom.hung).toBe(0);
    for (const t of Object.values(tallies)) expect({ lost: t.lost, duplicated: t.duplicated, outOfOrder: t.outOfOrder }).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
  });
});

describe('a handshake storm from many addresses against RATE_LIMIT_NODE_HANDSHAKES', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ RATE_LIMIT_NODE_HANDSHAKES: '20' });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('starts at most the budget at once, refuses the rest before the upgrade, and a refused client gets in on its own retry', async () => {
    const started = performance.now();
    const connected = await connectUser(node.url, 'already-here');
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        new Promise<string>((resolve) => {
          const s = connectClient(node.url, { token: makeToken({ sub: `storm-${i}` }) });
          s.once('welcome', () => resolve('accepted'));
          s.once('connect_error', () => resolve('refused'));
        }),
      ),
    );
    // The bucket holds 2 (a tenth of a second's worth) and refills 20 per second; the first
    // client's own handshake took one.
    const refilled = Math.ceil(((performance.now() - started) * 20) / 1000);
    const accepted = outcomes.filter((o) => o === 'accepted').length;
    const refused = outcomes.filter((o) => o === 'refused').length;
    expect(accepted).toBeGreaterThanOrEqual(1);
    expect(accepted).toBeLessThanOrEqual(1 + refilled);
    expect(accepted + refused).toBe(12);
    const metrics = await request(node.url).get('/metrics').expect(200);
    expect(metrics.text).toMatch(new RegExp(`^pushgate_rate_limited_total\\{[^}]*kind="handshake"[^}]*\\} ${refused}$`, 'm'));
    // Sessions already open are not counted: the connected client is served as before.
    const got = nextEvent<[string]>(connected.socket, 'still');
    await request(node.url).post('/api/v1/push').set(auth).send({ users: ['already-here'], event: 'still', data: 'here' }).expect(200);
    expect((await got)[0]).toBe('here');
    // socket.io-client retries a refused handshake with its backoff, and the budget refills.
    const patient = connectClient(node.url, { token: makeToken({ sub: 'patient' }) }, { reconnection: true, reconnectionDelay: 300, reconnectionDelayMax: 600 });
    await new Promise<void>((resolve) => patient.once('welcome', () => resolve()));
    expect(patient.connected).toBe(true);
  });
});

describe('the backend behind the MessageRouter slow, failing, dead, then back', () => {
  const backend = new FakeBackend();
  let node: TestNode;
  const OPEN_MS = 400;
  beforeAll(async () => {
    const url = await backend.start();
    node = await startNode({ BACKEND_URL: url, BACKEND_SECRET: 'backend-secret-0123456789abcdef0123', BACKEND_TIMEOUT_MS: '200' }, { breaker: { failureThreshold: 3, openMs: OPEN_MS } });
  });
  afterAll(async () => {
    await node.stop();
    await backend.stop();
  });

  it('answers the right code in each phase, opens the breaker and closes it again, and keeps delivering pushes', async () => {
    const { socket } = await connectUser(node.url, 'caller');
    const bystander = await connectUser(node.url, 'bystander');
    const code = async () => ((await emitAck<{ ok: boolean; error?: { code: string } }>(socket, 'order:place', {})).error?.code ?? 'ok');
    const pushStillArrives = async (n: number) => {
      const got = nextEvent<[number]>(bystander.socket, 'tick');
      await request(node.url).post('/api/v1/push').set(auth).send({ users: ['bystander'], event: 'tick', data: n }).expect(200);
      expect((await got)[0]).toBe(n);
    };

    backend.handler = () => undefined; // slow: never answers within BACKEND_TIMEOUT_MS
    const slow = await Promise.all([code(), code(), code(), pushStillArrives(1)]);
    expect(slow.slice(0, 3)).toEqual(['BACKEND_TIMEOUT', 'BACKEND_TIMEOUT', 'BACKEND_TIMEOUT']);
    expect(await code()).toBe('BACKEND_UNAVAILABLE'); // open: refused at once

    backend.handler = (_req, res) => json(res, 503, { down: true }); // failing
    await eventually(async () => (await code()) === 'BACKEND_ERROR', 5000, 50); // the half-open trial reaches it
    expect(await code()).toBe('BACKEND_UNAVAILABLE'); // the failed trial opened it again
    await pushStillArrives(2);

    backend.handler = (_req, res) => void res.socket?.destroy(); // dead: the connection drops
    await eventually(async () => (await code()) === 'BACKEND_UNAVAILABLE' && backend.requests.length > 0, 5000, 50);
    await pushStillArrives(3);

    backend.handler = (_req, res) => json(res, 200, { accepted: true }); // healthy again
    await eventually(async () => (await code()) === 'ok', 5000, 50);
    for (let i = 0; i < 5; i++) expect(await code()).toBe('ok'); // closed: every call goes through
    await pushStillArrives(4);

    const metrics = (await request(node.url).get('/metrics')).text;
    for (const outcome of ['timeout', 'error', 'circuit_open', 'ok']) expect(metrics).toMatch(new RegExp(`pushgate_backend_requests_total\\{outcome="${outcome}",node="[^"]+"\\} [1-9]`));
  });
});

describe('floods are capped by their rate limit, and everyone else is unaffected', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ RATE_LIMIT_EVENTS: '10', RATE_LIMIT_CONNECTIONS: '5', RATE_LIMIT_HTTP: '10', TRUST_PROXY: 'loopback' });
  });
  afterAll(() => node.stop());

  /** A bystander that keeps receiving what is pushed to it (through the admin key's own budget). */
  async function bystander(name: string) {
    const { socket } = await connectUser(node.url, name, {}, { extraHeaders: { 'X-Forwarded-For': '192.0.2.200' } });
    let n = 0;
    return {
      socket,
      async stillServed() {
        n += 1;
        const got = nextEvent<[number]>(socket, 'still-here');
        await request(node.url).post('/api/v1/push').set(auth).send({ users: [name], event: 'still-here', data: n }).expect(200);
        expect((await got)[0]).toBe(n);
      },
    };
  }

  it('an event flood from one socket: RATE_LIMITED for it, another socket’s events and pushes go through', async () => {
    const other = await bystander('calm-events');
    const flooder = await connectUser(node.url, 'flooder', {}, { extraHeaders: { 'X-Forwarded-For': '192.0.2.201' } });
    const flood = Promise.all(Array.from({ length: 60 }, (_, i) => emitAck<{ ok: boolean; error?: { code: string } }>(flooder.socket, 'spam', i)));
    const calm = await Promise.all(Array.from({ length: 5 }, (_, i) => emitAck<{ ok: boolean; error?: { code: string } }>(other.socket, 'hello', i)));
    await other.stillServed();
    const codes = (await flood).map((a) => a.error?.code ?? 'ok');
    expect(codes.filter((c) => c === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(50);
    // No backend is configured: an event that passes the limit is answered NO_BACKEND, never RATE_LIMITED.
    expect(calm.map((a) => a.error?.code)).toEqual(Array(5).fill('NO_BACKEND'));
    expect(flooder.socket.connected).toBe(true);
  });

  it('a socket that keeps flooding past 10× RATE_LIMIT_EVENTS within a second is disconnected; others are served', async () => {
    const other = await bystander('calm-flood');
    const flooder = await connectUser(node.url, 'torrent', {}, { extraHeaders: { 'X-Forwarded-For': '192.0.2.202' } });
    const gone = nextEvent<[string]>(flooder.socket, 'disconnect');
    // 150 events at once: 10 pass, 100 are refused, the next one makes the socket a flood.
    for (let i = 0; i < 150; i++) flooder.socket.emit('spam', i, () => undefined);
    expect((await gone)[0]).toBe('io server disconnect');
    await other.stillServed();
    const metrics = await request(node.url).get('/metrics').expect(200);
    expect(metrics.text).toMatch(/^pushgate_flood_disconnects_total\{[^}]*\} 1$/m);
    expect(node.logs.some((l) => l.message === 'event flood: disconnecting a socket far over RATE_LIMIT_EVENTS' && l.userId === 'torrent')).toBe(true);
  });

  it('a connection storm from one address is capped at RATE_LIMIT_CONNECTIONS; other addresses and connected clients are not', async () => {
    const other = await bystander('calm-conn');
    const attempt = (ip: string, sub: string) =>
      new Promise<string>((resolve) => {
        const s = connectClient(node.url, { token: makeToken({ sub }) }, { extraHeaders: { 'X-Forwarded-For': ip } });
        s.once('welcome', () => resolve('ok'));
        s.once('connect_error', (err: Error) => resolve(err.message));
      });
    const storm = await Promise.all(Array.from({ length: 20 }, (_, i) => attempt('198.51.100.50', `storm-${i}`)));
    expect(storm.filter((r) => r === 'ok')).toHaveLength(5);
    expect(storm.filter((r) => r === 'RATE_LIMITED')).toHaveLength(15);
    // Many addresses, each within its own budget: all accepted.
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => attempt(`198.51.100.${100 + i}`, `many-${i}`)));
    expect(many).toEqual(Array(20).fill('ok'));
    await other.stillServed();
  });

  it('a push API flood with one key gets 429 RATE_LIMIT_EXCEEDED with Retry-After; another key keeps pushing', async () => {
    const other = await bystander('calm-api');
    const flood = await Promise.all(
      Array.from({ length: 30 }, (_, i) => request(node.url).post('/api/v1/push').set('Authorization', `Bearer ${PUSH_KEY}`).send({ users: ['nobody'], event: 'e', data: i })),
    );
    const limited = flood.filter((r) => r.status === 429);
    expect(flood.filter((r) => r.status === 200)).toHaveLength(10);
    expect(limited).toHaveLength(20);
    for (const r of limited) {
      expect(r.body.error.code).toBe('RATE_LIMIT_EXCEEDED');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    await other.stillServed();
  });
});
