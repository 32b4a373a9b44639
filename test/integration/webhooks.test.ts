import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { WelcomePayload } from '../../server/src/contracts/socket-events';
import { ADMIN_KEY, closeAllClients, connectClient, emitAck, eventually, makeToken, nextEvent, startNode, type TestNode } from '../support/node';
import { REDIS_BACKENDS, testRedisUrl, uniquePrefix } from '../support/redis';
import { WebhookReceiver } from '../support/webhook-receiver';

/*
 * Webhooks (WEBHOOK_*, or an app's `webhooks` in APPS) received by a real backend that checks them
 * with the `pusher` library: each transition once, in order per room and per user, across nodes;
 * leaving events held for the grace and cancelled by a quick return; retried while the backend is
 * down; never slowing pushes. SIGKILL and reconnect storms: test/cluster/webhooks-faults.test.ts.
 */

const SHOP = { id: 'shop', key: 'shop-key', secret: 'shop-secret-0123456789abcdef0123456789' };
const GAMES = { id: 'games', key: 'games-key', secret: 'games-secret-0123456789abcdef012345678' };
const BACKEND_SECRET = 'backend-secret-0123456789abcdef0123456789';
const GRACE_MS = 400;

type Client = { socket: ClientSocket; welcome: WelcomePayload };

async function connect(url: string, app: { id: string; secret: string }, sub: string): Promise<Client> {
  const socket = connectClient(url, { token: makeToken({ sub, app: app.id, rooms: ['*'] }, {}, app.secret) });
  const welcome = await new Promise<WelcomePayload>((resolve, reject) => {
    socket.once('welcome', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, welcome };
}

async function leaveAndDisconnect(c: Client): Promise<void> {
  c.socket.disconnect();
}

function appsFile(shopUrl: string, gamesUrl: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pushgate-webhooks-'));
  const file = join(dir, 'apps.json');
  writeFileSync(
    file,
    JSON.stringify([
      { ...SHOP, webhooks: { url: shopUrl } },
      { ...GAMES, webhooks: { url: gamesUrl, rooms: ['*'], clientEvents: ['typing*'] } },
    ]),
  );
  return file;
}

/** A sequence of one subject's events is valid when comings and leavings alternate, starting with a coming one. */
function alternates(names: string[], coming: string, leaving: string): boolean {
  return names.every((n, i) => n === (i % 2 === 0 ? coming : leaving));
}

describe.each([['one node in memory', () => ({})] as [string, () => Record<string, string>], ...REDIS_BACKENDS])('webhooks (%s)', (label, backend) => {
  const memory = label.includes('memory');
  let a: TestNode;
  let b: TestNode;
  let shopRx: WebhookReceiver;
  let gamesRx: WebhookReceiver;
  beforeAll(async () => {
    shopRx = new WebhookReceiver(SHOP, BACKEND_SECRET);
    gamesRx = new WebhookReceiver(GAMES, BACKEND_SECRET);
    const env = {
      ...backend(),
      ...(memory ? {} : { REDIS_PREFIX: uniquePrefix('webhooks') }),
      APPS: `@${appsFile(await shopRx.start(), await gamesRx.start())}`,
      BACKEND_SECRET,
      WEBHOOK_BATCH_MS: '50',
      WEBHOOK_LEAVE_GRACE_MS: String(GRACE_MS),
    };
    a = await startNode({ ...env, NODE_ID: 'wh-a' });
    b = memory ? a : await startNode({ ...env, NODE_ID: 'wh-b' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await a.stop();
    if (b !== a) await b.stop();
    await shopRx.stop();
    await gamesRx.stop();
  });

  it('reports each transition once, in order per room and per user, across nodes, signed as Pusher signs, to its own app only', async () => {
    const alice = await connect(a.url, GAMES, 'alice');
    const bob = await connect(b.url, GAMES, 'bob');
    const carol = await connect(a.url, SHOP, 'carol');
    await emitAck(alice.socket, 'room:join', { room: 'lobby' });
    await emitAck(bob.socket, 'room:join', { room: 'lobby' });
    await emitAck(carol.socket, 'room:join', { room: 'lobby' });
    await emitAck(alice.socket, 'room:leave', { room: 'lobby' });
    await leaveAndDisconnect(bob);
    await emitAck(carol.socket, 'room:leave', { room: 'lobby' });
    await eventually(() => gamesRx.of('lobby').length === 6 && gamesRx.userEvents('bob').length === 2 && shopRx.of('lobby').length === 4);
    expect(gamesRx.of('lobby')).toEqual(['channel_occupied', 'member_added:alice', 'member_added:bob', 'member_removed:alice', 'member_removed:bob', 'channel_vacated']);
    expect(shopRx.of('lobby')).toEqual(['channel_occupied', 'member_added:carol', 'member_removed:carol', 'channel_vacated']);
    expect(gamesRx.userEvents('alice')).toEqual(['user_online']);
    expect(gamesRx.userEvents('bob')).toEqual(['user_online', 'user_offline']);
    expect(shopRx.userEvents('carol')).toEqual(['user_online']);
    // Nothing of one app reaches the other's backend; every id is distinct; every signature held.
    expect(shopRx.events.some((e) => e.user_id === 'alice' || e.user_id === 'bob')).toBe(false);
    const ids = [...shopRx.events, ...gamesRx.events].map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(shopRx.badSignatures + gamesRx.badSignatures).toBe(0);
    expect(gamesRx.events.find((e) => e.name === 'member_added')).toMatchObject({ channel: 'lobby', user_id: 'alice', time_ms: expect.any(Number) });
  });

  it('a leave undone within WEBHOOK_LEAVE_GRACE_MS is not reported; one that lasts is, after the grace', async () => {
    const dave = await connect(b.url, GAMES, 'dave');
    await emitAck(dave.socket, 'room:join', { room: 'flap' });
    await eventually(() => gamesRx.of('flap').length === 2);
    // Out and back at once: the leaving events wait for the grace, and the return cancels them.
    await emitAck(dave.socket, 'room:leave', { room: 'flap' });
    await emitAck(dave.socket, 'room:join', { room: 'flap' });
    // A second socket of dave's, in the room too: the first one going is then no leave at all.
    const again = await connect(a.url, GAMES, 'dave');
    await emitAck(again.socket, 'room:join', { room: 'flap' });
    dave.socket.disconnect();
    // A marker transition made after all of that: once it is reported, so would they have been.
    const marker = await connect(b.url, GAMES, 'marker');
    await emitAck(marker.socket, 'room:join', { room: 'flap-marker' });
    await eventually(() => gamesRx.of('flap-marker').length === 2);
    await eventually(async () => (await metric(b, 'pushgate_webhook_events_cancelled_total', 'games')) + (b === a ? 0 : await metric(a, 'pushgate_webhook_events_cancelled_total', 'games')) >= 4);
    expect(gamesRx.of('flap')).toEqual(['channel_occupied', 'member_added:dave']);
    expect(gamesRx.userEvents('dave')).toEqual(['user_online']);
    // Gone for good: reported once the grace is over.
    again.socket.disconnect();
    await eventually(() => gamesRx.userEvents('dave').length === 2 && gamesRx.of('flap').length === 4);
    expect(gamesRx.userEvents('dave')).toEqual(['user_online', 'user_offline']);
    expect(gamesRx.of('flap')).toEqual(['channel_occupied', 'member_added:dave', 'member_removed:dave', 'channel_vacated']);
  });

  it('reports chosen client events as client_event, data as a JSON string', async () => {
    const erin = await connect(b.url, GAMES, 'erin');
    await emitAck(erin.socket, 'typing', { room: 'lobby', on: true });
    await emitAck(erin.socket, 'chatter', { not: 'reported' });
    await eventually(() => gamesRx.events.some((e) => e.name === 'client_event' && e.user_id === 'erin'));
    const got = gamesRx.events.filter((e) => e.name === 'client_event' && e.user_id === 'erin');
    expect(got).toEqual([expect.objectContaining({ event: 'typing', data: JSON.stringify({ room: 'lobby', on: true }), socket_id: erin.welcome.socketId })]);
    // shop asked for no client events.
    const frank = await connect(b.url, SHOP, 'frank');
    await emitAck(frank.socket, 'typing', {});
    await emitAck(frank.socket, 'room:join', { room: 'after-typing' });
    await eventually(() => shopRx.of('after-typing').length === 2);
    expect(shopRx.events.some((e) => e.name === 'client_event')).toBe(false);
  });

  it('a slow backend does not slow pushes', async () => {
    const gina = await connect(b.url, GAMES, 'gina');
    const held = gamesRx.hold();
    await emitAck(gina.socket, 'room:join', { room: 'slow' });
    await held;
    // The webhook request is open and unanswered; pushes go through meanwhile.
    const got: unknown[] = [];
    gina.socket.on('tick', (d: unknown) => got.push(d));
    for (let i = 0; i < 20; i += 1) {
      const res = await fetch(`${a.url}/api/v1/push`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'x-pushgate-app': 'games' }, body: JSON.stringify({ users: ['gina'], event: 'tick', data: i }) });
      expect(res.status).toBe(200);
    }
    await eventually(() => got.length === 20);
    expect(gamesRx.of('slow')).toEqual([]);
    gamesRx.release();
    await eventually(() => gamesRx.of('slow').length === 2);
  });

  it('the dashboard’s webhook status names the sender and counts what was sent', async () => {
    const res = await fetch(`${a.url}/api/v1/admin/webhooks`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const body = (await res.json()) as { data: { apps: { app: string; sender: string | null; sent: number; depth: number }[] } };
    const games = body.data.apps.find((x) => x.app === 'games')!;
    expect(['wh-a', 'wh-b']).toContain(games.sender);
    expect(games.sent).toBeGreaterThan(0);
    expect(body.data.apps.map((x) => x.app).sort()).toEqual(['games', 'shop']);
  });
});

describe('webhooks while the backend is down for 10 s (two nodes on one Redis)', () => {
  let a: TestNode;
  let b: TestNode;
  let rx: WebhookReceiver;
  beforeAll(async () => {
    rx = new WebhookReceiver(null, BACKEND_SECRET);
    const env = { REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('webhooks-down'), WEBHOOK_URL: await rx.start(), BACKEND_SECRET, WEBHOOK_BATCH_MS: '50', WEBHOOK_LEAVE_GRACE_MS: '0' };
    a = await startNode({ ...env, NODE_ID: 'whd-a' });
    b = await startNode({ ...env, NODE_ID: 'whd-b' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await a.stop();
    await b.stop();
    await rx.stop();
  });

  it('keeps everything owed and delivers it, in order, with no gap, once the backend is back', async () => {
    rx.down = true;
    const users = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
      const socket = connectClient((i % 2 ? a : b).url, { token: makeToken({ sub: `d${i}`, rooms: ['*'] }) });
      await nextEvent(socket, 'welcome');
      return socket;
    }));
    for (const [i, s] of users.entries()) await emitAck(s, 'room:join', { room: `down-${i % 3}` });
    for (const [i, s] of users.entries()) if (i % 2 === 0) await emitAck(s, 'room:leave', { room: `down-${i % 3}` });
    await eventually(() => rx.refused > 0);
    // The backend stays down for 10 s, the scenario's length, while the nodes keep retrying.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(rx.events).toEqual([]);
    rx.down = false;
    // 12 online, 3 occupied, 12 added, 6 removed (rooms down-0, -1, -2 keep members).
    await eventually(() => rx.events.length === 33, 30_000);
    for (let r = 0; r < 3; r += 1) {
      const names = rx.of(`down-${r}`);
      expect(names[0]).toBe('channel_occupied');
      expect(names.filter((n) => n.startsWith('member_added')).length).toBe(4);
      // Each member's own events in order: added before removed.
      for (const u of new Set(names.filter((n) => n.includes(':')).map((n) => n.split(':')[1]))) {
        expect(alternates(names.filter((n) => n.endsWith(`:${u}`)).map((n) => n.split(':')[0]!), 'member_added', 'member_removed')).toBe(true);
      }
    }
    expect(new Set(rx.events.map((e) => e.id)).size).toBe(33);
    const failed = (await metric(a, 'pushgate_webhook_attempts_failed_total', 'default')) + (await metric(b, 'pushgate_webhook_attempts_failed_total', 'default'));
    expect(failed).toBeGreaterThan(2);
  });
});

/** A counter's value on one node for one app (0 when absent). */
async function metric(node: TestNode, name: string, app: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const m = new RegExp(`^${name}\\{app="${app}"[^}]*\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('webhooks asking for some events only (one node)', () => {
  let node: TestNode;
  let rx: WebhookReceiver;
  beforeAll(async () => {
    rx = new WebhookReceiver(null, BACKEND_SECRET);
    node = await startNode({ WEBHOOK_URL: await rx.start(), BACKEND_SECRET, WEBHOOK_EVENTS: 'member_removed,user_offline', WEBHOOK_ROOMS: 'chat:*', WEBHOOK_BATCH_MS: '20', WEBHOOK_LEAVE_GRACE_MS: '0' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await node.stop();
    await rx.stop();
  });

  it('sends only the kinds in WEBHOOK_EVENTS, for the rooms of WEBHOOK_ROOMS', async () => {
    const socket = connectClient(node.url, { token: makeToken({ sub: 'only', rooms: ['*'] }) });
    await nextEvent(socket, 'welcome');
    for (const room of ['chat:1', 'other']) await emitAck(socket, 'room:join', { room });
    for (const room of ['chat:1', 'other']) await emitAck(socket, 'room:leave', { room });
    socket.disconnect();
    await eventually(() => rx.userEvents('only').length === 1);
    // A room's and a user's events are two outboxes: no order between them is promised.
    expect(rx.events.map((e) => (e.channel ? `${e.name}:${e.channel}` : e.name)).sort()).toEqual(['member_removed:chat:1', 'user_offline']);
  });
});

describe.each([['one node in memory', () => ({})] as [string, () => Record<string, string>], ['one Redis', () => ({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: uniquePrefix('webhooks-full') })]])('a full webhook queue (%s)', (_label, backend) => {
  let node: TestNode;
  let rx: WebhookReceiver;
  beforeAll(async () => {
    rx = new WebhookReceiver(null, BACKEND_SECRET);
    node = await startNode({ ...backend(), WEBHOOK_URL: await rx.start(), BACKEND_SECRET, WEBHOOK_QUEUE_MAX: '3', WEBHOOK_BATCH_MS: '20', WEBHOOK_LEAVE_GRACE_MS: '0' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await node.stop();
    await rx.stop();
  });

  it('drops a room’s oldest pending events past WEBHOOK_QUEUE_MAX, says so in a log line and a metric, and sends the rest', async () => {
    rx.down = true;
    const socket = connectClient(node.url, { token: makeToken({ sub: 'full', rooms: ['*'] }) });
    await nextEvent(socket, 'welcome');
    // Each join and leave of the room is two events (occupied + added, removed + vacated): 8 in all, 3 kept.
    for (let i = 0; i < 2; i += 1) {
      await emitAck(socket, 'room:join', { room: 'full' });
      await emitAck(socket, 'room:leave', { room: 'full' });
    }
    await eventually(async () => (await metric(node, 'pushgate_webhook_events_dropped_total', 'default')) === 5);
    expect(node.logs.some((l) => l.level === 'warn' && String(l.message).includes('webhook queue full'))).toBe(true);
    rx.down = false;
    await eventually(() => rx.of('full').length === 3);
    expect(rx.of('full')).toEqual(['member_added:full', 'member_removed:full', 'channel_vacated']);
  });
});
