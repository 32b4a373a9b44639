import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Pusher from 'pusher';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { WelcomePayload } from '../../server/src/contracts/socket-events';
import { ADMIN_KEY, closeAllClients, connectClient, emitAck, eventually, makeToken, nextEvent, startNode, TEST_JWT_SECRET, type TestNode } from '../support/node';
import { FakeBackend } from '../support/fake-backend';
import { REDIS_BACKENDS, uniquePrefix } from '../support/redis';

/*
 * Several isolated apps (APPS) in one cluster: the same user ids and room names in two apps never
 * meet, whether pushed through /api/v1 or Pusher's API, in presence, history, message ids and rate
 * limits. Run on one node in memory and on two nodes over one Redis and over a Redis Cluster.
 */

const SHOP = { id: 'shop', key: 'shop-key', secret: 'shop-secret-0123456789abcdef0123456789' };
const GAMES = { id: 'games', key: 'games-key', secret: 'games-secret-0123456789abcdef012345678' };
const METERED = { id: 'metered', key: 'metered-key', secret: 'metered-secret-0123456789abcdef01234' };
const OFF = { id: 'off', key: 'off-key', secret: 'off-secret-0123456789abcdef0123456789ab' };
const GAMES_KEY = 'k_games_0123456789abcdef0123456789';

function appsFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-apps-'));
  const file = join(dir, 'apps.json');
  writeFileSync(
    file,
    JSON.stringify([SHOP, GAMES, { ...METERED, limits: { messagesPerMinute: 3, connectionsPerMinute: 2, eventsPerSecond: 2, maxDataBytes: 64 } }, { ...OFF, enabled: false }]),
  );
  return file;
}

const API_KEYS = `admin:${ADMIN_KEY}:admin,games:${GAMES_KEY}:push+read+manage+app=games`;

type Client = { socket: ClientSocket; welcome: WelcomePayload; got: unknown[][] };

/** Connects a user of an app (token signed with the app's own secret) and records every event. */
async function connect(url: string, app: { id: string; secret: string } | null, sub: string, claims: Record<string, unknown> = {}): Promise<Client> {
  const token = app ? makeToken({ sub, app: app.id, rooms: ['*'], ...claims }, {}, app.secret) : makeToken({ sub, rooms: ['*'], ...claims });
  const socket = connectClient(url, { token });
  const got: unknown[][] = [];
  socket.onAny((event: string, ...args: unknown[]) => got.push([event, ...args]));
  const welcome = await new Promise<WelcomePayload>((resolve, reject) => {
    socket.once('welcome', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, welcome, got };
}

/** The connect_error code a handshake ends with. */
async function refusal(url: string, token: string): Promise<string> {
  const socket = connectClient(url, { token });
  const err = await nextEvent<[Error & { data?: { code?: string } }]>(socket, 'connect_error');
  return err[0].data?.code ?? err[0].message;
}

/** The fields these tests read from the answers of the routes they call. */
interface Answer {
  recipients: number;
  online: boolean;
  disconnected: number;
  userId: string;
  app: string;
  sockets: number & { rooms: string[] }[];
  rooms: unknown[];
  totals: { connections: number; users: number };
}

async function api(node: TestNode, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${node.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { success: boolean; data: Answer; error?: { code: string; message: string } } };
}

const forApp = (app: string) => ({ 'x-pushgate-app': app });
const events = (c: Client, name: string) => c.got.filter(([e]) => e === name);

function pusher(node: TestNode, app: { id: string; key: string; secret: string }): Pusher {
  return new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(node.port), useTLS: false });
}

const statusOf = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (err: { status?: number }) => err.status ?? -1,
  );

describe.each([['one node in memory', () => ({})] as [string, () => Record<string, string>], ...REDIS_BACKENDS])('isolated apps (%s)', (label, backend) => {
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    const env = { ...backend(), ...(label.includes('memory') ? {} : { REDIS_PREFIX: uniquePrefix('apps') }), APPS: `@${appsFile()}`, API_KEYS, PRESENCE_ROOMS: 'lobby,presence-*', RATE_LIMIT_CONNECTIONS: '0' };
    a = await startNode({ ...env, NODE_ID: 'apps-a' });
    b = label.includes('memory') ? a : await startNode({ ...env, NODE_ID: 'apps-b' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await a.stop();
    if (b !== a) await b.stop();
  });

  it('the same user id in two apps gets only its own app’s pushes, under its own names', async () => {
    const shopAlice = await connect(b.url, SHOP, 'alice');
    const gamesAlice = await connect(b.url, GAMES, 'alice');
    expect(shopAlice.welcome).toMatchObject({ userId: 'alice', app: 'shop', rooms: ['user:alice'] });
    expect(gamesAlice.welcome).toMatchObject({ userId: 'alice', app: 'games', rooms: ['user:alice'] });
    // No app named: the default app (the first listed).
    const toShop = await api(a, 'POST', '/push', { users: ['alice'], event: 'note', data: { for: 'shop' } });
    const toGames = await api(a, 'POST', '/push', { users: ['alice'], event: 'note', data: { for: 'games' } }, forApp('games'));
    expect([toShop.body.data.recipients, toGames.body.data.recipients]).toEqual([1, 1]);
    await eventually(() => events(shopAlice, 'note').length === 1 && events(gamesAlice, 'note').length === 1);
    expect(events(shopAlice, 'note')[0]![1]).toEqual({ for: 'shop' });
    expect(events(gamesAlice, 'note')[0]![1]).toEqual({ for: 'games' });
    expect(events(gamesAlice, 'note')[0]![2]).toMatchObject({ stream: 'user:alice' });
    // A user who exists only in games is no one in shop.
    await connect(b.url, GAMES, 'gina');
    expect((await api(a, 'POST', '/push', { users: ['gina'], event: 'note', data: 1 })).body.data.recipients).toBe(0);
    expect((await api(a, 'GET', '/users/gina')).body.data.online).toBe(false);
    const gina = await api(a, 'GET', '/users/gina', undefined, forApp('games'));
    expect(gina.body.data).toMatchObject({ userId: 'gina', online: true });
    expect(gina.body.data.sockets[0].rooms).toEqual([]);
    // Disconnecting alice in games leaves shop's alice connected.
    const gone = nextEvent(gamesAlice.socket, 'disconnect');
    expect((await api(a, 'DELETE', '/users/alice/connections', undefined, forApp('games'))).body.data.disconnected).toBe(1);
    await gone;
    expect(shopAlice.socket.connected).toBe(true);
  });

  it('a room of the same name in two apps: pushes, listings, membership and presence stay apart', async () => {
    const shopAlice = await connect(b.url, SHOP, 'alice');
    const gamesAlice = await connect(b.url, GAMES, 'alice');
    const gamesBob = await connect(a.url, GAMES, 'bob');
    for (const c of [shopAlice, gamesAlice]) expect((await emitAck(c.socket, 'room:join', { room: 'lobby' })).data).toMatchObject({ room: 'lobby' });
    // games' bob joining is news to games' alice only.
    await emitAck(gamesBob.socket, 'room:join', { room: 'lobby' });
    await eventually(() => events(gamesAlice, 'presence:join').some(([, p]) => (p as { userId: string }).userId === 'bob'));
    expect(events(gamesAlice, 'presence:join').map(([, p]) => p)).toContainEqual({ room: 'lobby', userId: 'bob' });
    expect(events(shopAlice, 'presence:join').map(([, p]) => p)).not.toContainEqual({ room: 'lobby', userId: 'bob' });

    const sent = await api(a, 'POST', '/rooms/lobby/broadcast', { event: 'round', data: 1 }, forApp('games'));
    expect(sent.body.data.recipients).toBe(2);
    await eventually(() => events(gamesAlice, 'round').length === 1 && events(gamesBob, 'round').length === 1);
    expect(events(gamesAlice, 'round')[0]![2]).toMatchObject({ room: 'lobby', stream: 'lobby' });
    const shopRoom = await api(a, 'GET', '/rooms/lobby');
    const gamesRoom = await api(a, 'GET', '/rooms/lobby', undefined, forApp('games'));
    expect(shopRoom.body.data).toEqual({ room: 'lobby', sockets: 1, users: [{ userId: 'alice', sockets: 1 }] });
    expect(gamesRoom.body.data).toEqual({ room: 'lobby', sockets: 2, users: [{ userId: 'alice', sockets: 1 }, { userId: 'bob', sockets: 1 }] });
    const listed = await api(a, 'GET', '/rooms?prefix=lob&app=games');
    expect(listed.body.data.rooms).toEqual([{ room: 'lobby', sockets: 2, users: 2 }]);
    // Server-side membership: bob of games joins a room; nobody of shop does.
    expect((await api(a, 'PUT', '/rooms/vip/members/alice', undefined, forApp('games'))).body.data.sockets).toBe(1);
    expect((await api(a, 'GET', '/rooms/vip')).status).toBe(404);
    expect((await api(a, 'GET', '/rooms/vip', undefined, forApp('games'))).body.data.sockets).toBe(1);
    // Pusher's API of each app sees its own channel.
    const shopInfo = await pusher(a, SHOP).get({ path: '/channels/lobby', params: { info: 'subscription_count' } });
    const gamesInfo = await pusher(a, GAMES).get({ path: '/channels/lobby', params: { info: 'subscription_count' } });
    expect([(await shopInfo.json()) as unknown, (await gamesInfo.json()) as unknown]).toEqual([
      { occupied: true, subscription_count: 1 },
      { occupied: true, subscription_count: 2 },
    ]);
    await pusher(a, SHOP).trigger('lobby', 'sale', { pct: 10 });
    await eventually(() => events(shopAlice, 'sale').length === 1);
    expect([...events(gamesAlice, 'sale'), ...events(gamesBob, 'sale'), ...events(shopAlice, 'round')]).toEqual([]);
    // Leaving in games is presence news to games only.
    await emitAck(gamesBob.socket, 'room:leave', { room: 'lobby' });
    await eventually(() => events(gamesAlice, 'presence:leave').length === 1);
    expect(events(shopAlice, 'presence:leave')).toEqual([]);
  });

  it('history and recovery are per app: a stream of the same name replays only its own app’s messages', async () => {
    const shop = await connect(b.url, SHOP, 'hist-s');
    const games = await connect(b.url, GAMES, 'hist-g');
    await emitAck(shop.socket, 'room:join', { room: 'news' });
    const joined = await emitAck<{ ok: boolean; data: { room: string; offset: string } }>(games.socket, 'room:join', { room: 'news' });
    await api(a, 'POST', '/rooms/news/broadcast', { event: 'n', data: 'shop-1' });
    for (const n of [1, 2, 3]) await api(a, 'POST', '/rooms/news/broadcast', { event: 'n', data: `games-${n}` }, forApp('games'));
    await eventually(() => events(shop, 'n').length === 1 && events(games, 'n').length === 3);
    const shopOffset = (events(shop, 'n')[0]![2] as { offset: string }).offset;
    // Each app's client recovers its own stream from where it stood: shop has nothing newer, games its three.
    const shopBack = await connect(b.url, SHOP, 'hist-s', {});
    const shopRec = nextEvent<[{ streams: Record<string, { recovered: boolean; replayed: number }> }]>(shopBack.socket, 'recovered');
    const gamesBack = await connect(a.url, GAMES, 'hist-g');
    const gamesRec = nextEvent<[{ streams: Record<string, { recovered: boolean; replayed: number }> }]>(gamesBack.socket, 'recovered');
    await emitAck(shopBack.socket, 'room:join', { room: 'news', since: shopOffset });
    await emitAck(gamesBack.socket, 'room:join', { room: 'news', since: joined.data.offset });
    expect((await shopRec)[0].streams.news).toMatchObject({ recovered: true, replayed: 0 });
    expect((await gamesRec)[0].streams.news).toMatchObject({ recovered: true, replayed: 3 });
    expect(events(gamesBack, 'n').map(([, d]) => d)).toEqual(['games-1', 'games-2', 'games-3']);
    expect(events(shopBack, 'n')).toEqual([]);
  });

  it('message ids are per app: the same id in two apps is two messages, a repeat within one is not', async () => {
    const shop = await connect(b.url, SHOP, 'idem');
    const games = await connect(b.url, GAMES, 'idem');
    const body = { users: ['idem'], event: 'once', data: 1, id: `same-id-${label.replace(/\W+/g, '-')}` };
    const first = await api(a, 'POST', '/push', body);
    const other = await api(a, 'POST', '/push', body, forApp('games'));
    const again = await api(a, 'POST', '/push', body, forApp('games'));
    expect([first.body.data.recipients, other.body.data.recipients, again.body.data.recipients]).toEqual([1, 1, 1]);
    await eventually(() => events(shop, 'once').length === 1 && events(games, 'once').length === 1);
    await api(a, 'POST', '/push', { users: ['idem'], event: 'marker', data: 0 }, forApp('games'));
    await eventually(() => events(games, 'marker').length === 1);
    expect(events(games, 'once')).toHaveLength(1);
  });

  it('socket ids are per app: a push naming another app’s socket reaches nobody', async () => {
    const shop = await connect(b.url, SHOP, 'sid-s');
    const games = await connect(b.url, GAMES, 'sid-g');
    const wrong = await api(a, 'POST', '/push', { socketIds: [shop.welcome.socketId], event: 'direct', data: 1 }, forApp('games'));
    const right = await api(a, 'POST', '/push', { socketIds: [games.welcome.socketId], event: 'direct', data: 2 }, forApp('games'));
    expect([wrong.body.data.recipients, right.body.data.recipients]).toEqual([0, 1]);
    await eventually(() => events(games, 'direct').length === 1);
    await api(a, 'POST', '/push', { users: ['sid-s'], event: 'marker', data: 0 });
    await eventually(() => events(shop, 'marker').length === 1);
    expect(events(shop, 'direct')).toEqual([]);
  });

  it('tokens: an app’s secret signs only its own app’s tokens; the node-wide secret may sign any', async () => {
    expect(await refusal(b.url, makeToken({ sub: 'x', app: 'games' }, {}, SHOP.secret))).toBe('UNAUTHORIZED');
    expect(await refusal(b.url, makeToken({ sub: 'x' }, {}, GAMES.secret))).toBe('UNAUTHORIZED');
    expect(await refusal(b.url, makeToken({ sub: 'x', app: 'nope' }, {}, GAMES.secret))).toBe('UNAUTHORIZED');
    expect(await refusal(b.url, makeToken({ sub: 'x', app: 'off' }, {}, OFF.secret))).toBe('UNAUTHORIZED');
    const operator = await connect(b.url, null, 'op', { app: 'games' });
    expect(operator.welcome).toMatchObject({ app: 'games', userId: 'op' });
    // auth:refresh keeps a socket in its app.
    const refreshed = await emitAck(operator.socket, 'auth:refresh', { token: makeToken({ sub: 'op' }) });
    expect(refreshed.error?.code).toBe('FORBIDDEN');
    expect((await emitAck(operator.socket, 'auth:refresh', { token: makeToken({ sub: 'op', app: 'games' }, {}, GAMES.secret) })).ok).toBe(true);
  });

  it('API keys limited to an app act on it alone; status counts one app when asked', async () => {
    await connect(b.url, GAMES, 'st-1');
    await connect(b.url, GAMES, 'st-2');
    await connect(b.url, SHOP, 'st-3');
    const games = { authorization: `Bearer ${GAMES_KEY}` };
    expect((await api(a, 'POST', '/push', { users: ['st-1'], event: 'e', data: 1 }, games)).body.data.recipients).toBe(1);
    const denied = await api(a, 'POST', '/push', { users: ['st-3'], event: 'e', data: 1 }, { ...games, ...forApp('shop') });
    expect([denied.status, denied.body.error?.code]).toEqual([403, 'FORBIDDEN']);
    expect((await api(a, 'GET', '/status', undefined, forApp('nope'))).status).toBe(404);
    expect((await api(a, 'POST', '/push', { users: ['x'], event: 'e', data: 1 }, forApp('off'))).status).toBe(403);
    await eventually(async () => {
      const [all, g] = await Promise.all([api(a, 'GET', '/status'), api(a, 'GET', '/status', undefined, games)]);
      return g.body.data.app === 'games' && g.body.data.totals.connections === 2 && g.body.data.totals.users === 2 && all.body.data.totals.connections === 3;
    });
  });

  it('an app’s limits are its own: message quota, connection budget, event rate and data size', async () => {
    // metered: 3 messages a minute. Its 4th is refused on both APIs; the other apps go on.
    for (let i = 0; i < 3; i += 1) expect((await api(a, 'POST', '/push', { users: ['m'], event: 'e', data: i }, forApp('metered'))).status).toBe(200);
    const over = await api(a, 'POST', '/push', { users: ['m'], event: 'e', data: 4 }, forApp('metered'));
    expect([over.status, over.body.error?.code]).toEqual([429, 'RATE_LIMIT_EXCEEDED']);
    expect(await statusOf(pusher(a, METERED).trigger('lobby', 'e', 'x'))).toBe(403);
    expect((await api(a, 'POST', '/push', { users: ['m'], event: 'e', data: 5 }, forApp('games'))).status).toBe(200);
    expect(await statusOf(pusher(a, METERED).trigger('lobby', 'e', 'x'.repeat(65)))).toBe(413);
    // metered: 2 new connections a minute, whatever the address; shop still connects.
    const m1 = await connect(b.url, METERED, 'c-1');
    await connect(a.url, METERED, 'c-2');
    expect(await refusal(b.url, makeToken({ sub: 'c-3', app: 'metered' }, {}, METERED.secret))).toBe('RATE_LIMITED');
    await connect(b.url, SHOP, 'c-4');
    // metered: 2 client events a second per socket.
    const answers = await Promise.all([1, 2, 3, 4].map(() => emitAck(m1.socket, 'room:join', { room: 'r' })));
    expect(answers.filter((r) => r.error?.code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(2);
  });

  it('exports per-app metrics', async () => {
    await connect(b.url, GAMES, 'metric');
    await api(b, 'POST', '/push', { users: ['metric'], event: 'e', data: 1 }, forApp('games'));
    const text = await (await fetch(`${b.url}/metrics`)).text();
    expect(text).toMatch(/pushgate_app_messages_pushed_total\{app="games",node="[^"]+"\} [1-9]/);
    expect(text).toMatch(/pushgate_app_connected_sockets\{app="games",node="[^"]+"\} [1-9]/);
    expect(text).toMatch(/pushgate_app_connected_sockets\{app="off",node="[^"]+"\} 0/);
  });
});

describe('rate-limit budgets per app', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({ APPS: `${SHOP.id}:${SHOP.key}:${SHOP.secret},${GAMES.id}:${GAMES.key}:${GAMES.secret}`, RATE_LIMIT_CONNECTIONS: '2', RATE_LIMIT_HTTP: '3' });
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('an address spends RATE_LIMIT_CONNECTIONS in each app apart', async () => {
    await connect(node.url, GAMES, 'g1');
    await connect(node.url, GAMES, 'g2');
    expect(await refusal(node.url, makeToken({ sub: 'g3', app: 'games' }, {}, GAMES.secret))).toBe('RATE_LIMITED');
    const shop = await connect(node.url, SHOP, 's1');
    expect(shop.welcome.app).toBe('shop');
  });

  it('a key spends RATE_LIMIT_HTTP in each app apart, and each Pusher app has its own', async () => {
    for (let i = 0; i < 3; i += 1) expect((await api(node, 'GET', '/status', undefined, forApp('games'))).status).toBe(200);
    expect((await api(node, 'GET', '/status', undefined, forApp('games'))).status).toBe(429);
    expect((await api(node, 'GET', '/status')).status).toBe(200);
    const p = pusher(node, GAMES);
    for (let i = 0; i < 3; i += 1) expect(await statusOf(p.get({ path: '/channels' }))).toBe(200);
    expect(await statusOf(p.get({ path: '/channels' }))).toBe(429);
    expect(await statusOf(pusher(node, SHOP).get({ path: '/channels' }))).toBe(200);
  });
});

describe('without APPS', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode({});
  });
  afterEach(closeAllClients);
  afterAll(() => node.stop());

  it('a token naming an app is refused, the welcome names none and /apps does not exist', async () => {
    expect(await refusal(node.url, makeToken({ sub: 'x', app: 'default' }, {}, TEST_JWT_SECRET))).toBe('UNAUTHORIZED');
    const plain = await connect(node.url, null, 'plain');
    expect(plain.welcome.app).toBeUndefined();
    expect(plain.welcome.pusherSocketId).toBeUndefined();
    expect((await fetch(`${node.url}/apps/default/channels`)).status).toBe(404);
    expect(await (await fetch(`${node.url}/metrics`)).text()).not.toContain('pushgate_app_');
  });
});

describe('an app with its own backend', () => {
  let node: TestNode;
  const shared = new FakeBackend();
  const own = new FakeBackend();
  const OWN_SECRET = 'games-backend-secret-0123456789abcdef01';
  beforeAll(async () => {
    const sharedUrl = await shared.start();
    const ownUrl = await own.start();
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-apps-'));
    const file = join(dir, 'apps.json');
    writeFileSync(file, JSON.stringify([SHOP, { ...GAMES, backend: { url: ownUrl, secret: OWN_SECRET } }]));
    node = await startNode({ APPS: `@${file}`, BACKEND_URL: sharedUrl, BACKEND_SECRET: 'shared-backend-secret-0123456789abcdef' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await node.stop();
    await shared.stop();
    await own.stop();
  });

  it('gets its sockets’ client events and join authorizations, signed with its secret; other apps use BACKEND_URL', async () => {
    const games = await connect(node.url, GAMES, 'g', { rooms: [] });
    const shop = await connect(node.url, SHOP, 's', { rooms: [] });
    expect((await emitAck(games.socket, 'ping', { n: 1 })).ok).toBe(true);
    expect((await emitAck(games.socket, 'room:join', { room: 'table' })).ok).toBe(true);
    expect((await emitAck(shop.socket, 'ping', { n: 2 })).ok).toBe(true);
    expect(own.requests.map((r) => [r.path, r.body.userId, r.body.app])).toEqual([
      ['/events', 'g', 'games'],
      ['/authorize', 'g', 'games'],
    ]);
    expect(shared.requests.map((r) => [r.path, r.body.userId, r.body.app])).toEqual([['/events', 's', 'shop']]);
    const signed = own.requests[0]!;
    const ts = String(signed.headers['x-pushgate-timestamp']);
    expect(signed.headers['x-pushgate-signature']).toBe(`sha256=${createHmac('sha256', OWN_SECRET).update(`${ts}.${signed.raw}`).digest('hex')}`);
  });
});
