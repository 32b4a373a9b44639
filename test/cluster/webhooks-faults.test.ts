import { createClient } from 'redis';
import type { Socket as ClientSocket } from 'socket.io-client';
import { RedisKeys } from '../../server/src/cluster/redis-keys';
import { ADMIN_KEY, closeAllClients, connectUser, emitAck, eventually, startNode, type TestNode } from '../support/node';
import { ProcessNode } from '../support/process-node';
import { REDIS_BACKENDS, testRedisUrl, uniquePrefix } from '../support/redis';
import { RedisServer } from '../support/redis-server';
import { WebhookReceiver } from '../support/webhook-receiver';

/*
 * Webhooks under real faults, received by a backend that checks every signature (BACKEND_SECRET):
 * a node SIGKILLed while it holds the last socket of a room (and, in some runs, the app's send
 * lease); a reconnect storm after a graceful stop; a network blip; Redis restarted with its data.
 * Each transition is queued by the script that makes it, so a dead node's leaving transitions are
 * reported once, by a survivor; a user back before the reap, or within the leave grace, is no
 * transition at all; and what was queued survives a Redis restart, once.
 * The quiet cases: test/integration/webhooks.test.ts; transitions made during a Redis outage:
 * test/cluster/faults.test.ts.
 */

const BACKEND_SECRET = 'backend-secret-0123456789abcdef0123456789';
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

type UserView = { online: boolean; sockets: { id: string; nodeId: string; rooms: string[] }[] };
type WebhookView = { app: string; sender: string | null; sent: number; depth: number };
/** What backlog() reads with (a node-redis client). */
type RedisReader = { sMembers(key: string): Promise<string[]>; xLen(key: string): Promise<number> };

/** A user's socket, in `room` (the token allows every room). */
async function member(url: string, user: string, room: string): Promise<ClientSocket> {
  const { socket } = await connectUser(url, user, { rooms: ['*'] });
  expect(await emitAck(socket, 'room:join', { room })).toMatchObject({ ok: true });
  return socket;
}

/** `n` users (`user(i)`, in `room(i)`) connected to `url`, 50 handshakes at a time. */
async function members(url: string, n: number, user: (i: number) => string, room: (i: number) => string): Promise<ClientSocket[]> {
  const out: ClientSocket[] = [];
  for (let i = 0; i < n; i += 50) out.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => member(url, user(i + j), room(i + j))))));
  return out;
}

async function api<T>(url: string, path: string): Promise<{ status: number; data: T }> {
  const res = await fetch(`${url}/api/v1${path}`, { headers: auth });
  const body = (await res.json().catch(() => ({}))) as { data: T };
  return { status: res.status, data: body.data };
}

/** The default app's webhooks as the cluster reports them (/admin/webhooks). */
async function webhooks(url: string): Promise<WebhookView | undefined> {
  return (await api<{ apps: WebhookView[] }>(url, '/admin/webhooks')).data?.apps.find((a) => a.app === 'default');
}

/**
 * Events still queued for the default app (held for the grace, or not yet acknowledged by the
 * receiver), read from the outboxes in Redis. 0 once every transition made so far was reported or
 * cancelled: the one thing that says nothing more will come, as a leaving event waits out the
 * grace before it is either.
 */
async function backlog(redis: RedisReader, prefix: string): Promise<number> {
  const outboxes = await redis.sMembers(new RedisKeys(prefix).webhookIndex('default'));
  const lengths = await Promise.all(outboxes.map((k) => redis.xLen(k)));
  return lengths.reduce((n, l) => n + l, 0);
}

/** Every received id is distinct and every request was signed as it should be. */
function expectCleanDelivery(rx: WebhookReceiver): void {
  const ids = rx.events.map((e) => e.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(rx.badSignatures).toBe(0);
}

/** Each room of `rooms` had one channel_occupied, then a member_added for each of its members and a member_removed for each leaver among them, nothing else. */
function expectRoomEvents(rx: WebhookReceiver, rooms: Map<string, string[]>, leavers: Set<string>): void {
  for (const [room, users] of rooms) {
    const got = rx.of(room);
    const want = [...users.map((u) => `member_added:${u}`), ...users.filter((u) => leavers.has(u)).map((u) => `member_removed:${u}`)];
    expect([room, got[0], got.slice(1).sort()]).toEqual([room, 'channel_occupied', want.sort()]);
  }
}

type Holder = 'victim' | 'survivor';
/** Each Redis set-up with the victim sending the webhooks when it dies (the survivor must take the lease over), and one Redis with the survivor sending. */
const SIGKILL_CASES: [string, Holder, () => Record<string, string>][] = [
  ...REDIS_BACKENDS.map(([label, backend]): [string, Holder, () => Record<string, string>] => [label, 'victim', backend]),
  [REDIS_BACKENDS[0]![0], 'survivor', REDIS_BACKENDS[0]![1]],
];

describe.each(SIGKILL_CASES)('a node SIGKILLed (%s), the webhook sender being the %s', (label, holder, backend) => {
  let victim: ProcessNode;
  let survivor: ProcessNode;
  let rx: WebhookReceiver;
  beforeAll(async () => {
    rx = new WebhookReceiver(null, BACKEND_SECRET);
    // HEARTBEAT_MS 500: the victim is presumed dead 1.5 s after its last beat, reaped within a second more.
    const env = { ...backend(), REDIS_PREFIX: uniquePrefix('wh-kill'), HEARTBEAT_MS: '500', WEBHOOK_URL: await rx.start(), BACKEND_SECRET, WEBHOOK_BATCH_MS: '50' };
    // The sender-to-be starts alone and reports something first: it holds the app's lease, the other node waits for it.
    const first = await ProcessNode.start({ ...env, NODE_ID: holder });
    await member(first.url, 'warm-up', 'warm-up');
    await eventually(() => rx.events.length === 3, 20_000);
    expect((await webhooks(first.url))?.sender).toBe(holder);
    const second = await ProcessNode.start({ ...env, NODE_ID: holder === 'victim' ? 'survivor' : 'victim' });
    [victim, survivor] = holder === 'victim' ? [first, second] : [second, first];
  }, 60_000);
  afterAll(async () => {
    closeAllClients();
    await Promise.all([victim?.kill('SIGKILL'), survivor?.kill('SIGTERM')]);
    await rx.stop();
  });

  it('the survivor reports the dead node’s leaving transitions exactly once, and none for a user who came back before the reap', async () => {
    // u1: the only member of r1, only on the victim. u2: on both nodes, in r2 from both. u3: on the victim, in r3.
    await member(victim.url, 'u1', 'r1');
    await member(victim.url, 'u2', 'r2');
    await member(survivor.url, 'u2', 'r2');
    await member(victim.url, 'u3', 'r3');
    // warm-up's 3 events, then 3 × (online, occupied, added).
    await eventually(() => rx.events.length === 3 + 9, 20_000);
    // Reported and acknowledged: the victim dies with nothing half-sent, so no event can come twice.
    await eventually(async () => {
      const w = await webhooks(victim.url);
      return w?.sender === holder && w.sent === rx.events.length;
    }, 20_000);
    expect((await api<UserView>(survivor.url, '/users/u2')).data.sockets.map((s) => s.nodeId).sort()).toEqual(['survivor', 'victim']);

    await victim.kill('SIGKILL');
    const killed = Date.now();
    // u3's client reconnects (through a balancer, say) to the survivor and joins r3 again before the reaper notices.
    await member(survivor.url, 'u3', 'r3');
    const u3 = await api<UserView>(survivor.url, '/users/u3');
    expect({ status: u3.status, nodes: u3.data.sockets.map((s) => s.nodeId).sort() }).toEqual({ status: 200, nodes: ['survivor', 'victim'] });

    // The reap: every socket of the victim's is gone cluster-wide.
    await eventually(
      async () => {
        const [r1, u1, u2, u3Now] = await Promise.all([api(survivor.url, '/rooms/r1'), api<UserView>(survivor.url, '/users/u1'), api<UserView>(survivor.url, '/users/u2'), api<UserView>(survivor.url, '/users/u3')]);
        return r1.status === 404 && u1.data.online === false && u2.data.sockets.length === 1 && u3Now.data.sockets.length === 1;
      },
      20_000,
      100,
    );
    const reaped = Date.now();
    // A transition made after the reap, on the survivor: once it is reported, everything the reap queued is too
    // (reaped leaves skip the grace, and one pass reads every outbox with something pending).
    await member(survivor.url, 'marker', 'marker-room');
    await eventually(() => rx.of('marker-room').length === 2 && rx.userEvents('marker').length === 1 && rx.of('r1').length === 4 && rx.userEvents('u1').length === 2, 20_000);
    process.stdout.write(`webhooks SIGKILL (${label}, sender: ${holder}): reaped ${reaped - killed} ms after the kill, reported ${Date.now() - killed} ms after it\n`);

    expect(rx.of('r1')).toEqual(['channel_occupied', 'member_added:u1', 'member_removed:u1', 'channel_vacated']);
    expect(rx.userEvents('u1')).toEqual(['user_online', 'user_offline']);
    expect(rx.of('r2')).toEqual(['channel_occupied', 'member_added:u2']);
    expect(rx.userEvents('u2')).toEqual(['user_online']);
    expect(rx.of('r3')).toEqual(['channel_occupied', 'member_added:u3']);
    expect(rx.userEvents('u3')).toEqual(['user_online']);
    expect(rx.userEvents('marker')).toEqual(['user_online']);
    // warm-up, on the sender-to-be, was reaped too when that was the victim.
    if (holder === 'victim') {
      expect(rx.of('warm-up')).toEqual(['channel_occupied', 'member_added:warm-up', 'member_removed:warm-up', 'channel_vacated']);
      expect(rx.userEvents('warm-up')).toEqual(['user_online', 'user_offline']);
    } else {
      expect(rx.of('warm-up')).toEqual(['channel_occupied', 'member_added:warm-up']);
      expect(rx.userEvents('warm-up')).toEqual(['user_online']);
    }
    expect(rx.events).toHaveLength(3 + 9 + 3 + 3 + (holder === 'victim' ? 3 : 0));
    expectCleanDelivery(rx);
    expect((await webhooks(survivor.url))?.sender).toBe('survivor');
  }, 60_000);
});

const USERS = 300;
const ROOMS = 5;
const GRACE_MS = 5000;
const stormRoom = (i: number) => `storm-${i % ROOMS}`;
/** Room → its members, for `user`. */
function roomsOf(user: (i: number) => string): Map<string, string[]> {
  const rooms = new Map<string, string[]>();
  for (let i = 0; i < USERS; i += 1) rooms.set(stormRoom(i), [...(rooms.get(stormRoom(i)) ?? []), user(i)]);
  return rooms;
}

describe('a reconnect storm after a graceful stop (one Redis)', () => {
  const LEAVERS = 20;
  const prefix = uniquePrefix('wh-storm');
  const user = (i: number) => `s${i}`;
  const redis = createClient({ url: testRedisUrl() });
  let a: ProcessNode;
  let b: ProcessNode;
  let rx: WebhookReceiver;
  beforeAll(async () => {
    rx = new WebhookReceiver(null, BACKEND_SECRET);
    const env = { REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, WEBHOOK_URL: await rx.start(), BACKEND_SECRET, WEBHOOK_BATCH_MS: '50', WEBHOOK_LEAVE_GRACE_MS: String(GRACE_MS) };
    [a, b] = await Promise.all([ProcessNode.start({ ...env, NODE_ID: 'storm-a' }), ProcessNode.start({ ...env, NODE_ID: 'storm-b' })]);
    await redis.connect();
  }, 60_000);
  afterAll(async () => {
    closeAllClients();
    await Promise.all([a?.kill('SIGKILL'), b?.kill('SIGTERM')]);
    await redis.close();
    await rx.stop();
  });

  it(`${USERS} users moved by a drain to another node within WEBHOOK_LEAVE_GRACE_MS are no transition; those who then leave for good are reported once`, async () => {
    const rooms = roomsOf(user);
    const first = await members(a.url, USERS, user, stormRoom);
    await eventually(() => rx.events.length === USERS * 2 + ROOMS, 20_000);
    await eventually(async () => (await backlog(redis, prefix)) === 0, 20_000);

    // What a balancer does: each client the drain cuts off is connected anew to node B, and joins its room again.
    const again: ClientSocket[] = [];
    const started = Date.now();
    const moved = Promise.all(
      first.map(
        (s, i) =>
          new Promise<void>((resolve, reject) =>
            s.once('disconnect', () =>
              member(b.url, user(i), stormRoom(i)).then((back) => {
                again[i] = back;
                resolve();
              }, reject),
            ),
          ),
      ),
    );
    const exited = a.kill('SIGTERM');
    await moved;
    const movedMs = Date.now() - started;
    expect(await exited).toEqual({ code: 0, signal: null });
    // A drained node takes its sockets with it: the cluster counts each user's one socket, on B.
    expect((await api<{ totals: { connections: number } }>(b.url, '/status')).data.totals.connections).toBe(USERS);
    await eventually(async () => (await backlog(redis, prefix)) === 0, 30_000, 100);
    process.stdout.write(`webhooks storm: ${USERS} users moved in ${movedMs} ms from SIGTERM; events reported for the move: ${rx.events.length - (USERS * 2 + ROOMS)}\n`);
    for (let i = 0; i < USERS; i += 1) expect([user(i), rx.userEvents(user(i))]).toEqual([user(i), ['user_online']]);
    expectRoomEvents(rx, rooms, new Set());
    await eventually(async () => (await webhooks(b.url))?.sender === 'storm-b');

    // Some leave for good: each is reported once, after the grace.
    const leavers = new Set(Array.from({ length: LEAVERS }, (_, k) => k * Math.floor(USERS / LEAVERS)));
    for (const i of leavers) again[i]!.disconnect();
    await eventually(() => [...leavers].every((i) => rx.userEvents(user(i)).length === 2), 30_000, 100);
    await eventually(async () => (await backlog(redis, prefix)) === 0, 30_000, 100);
    for (let i = 0; i < USERS; i += 1) expect([user(i), rx.userEvents(user(i))]).toEqual([user(i), leavers.has(i) ? ['user_online', 'user_offline'] : ['user_online']]);
    expectRoomEvents(rx, rooms, new Set([...leavers].map(user)));
    expectCleanDelivery(rx);
  }, 90_000);
});

describe('a network blip (one Redis)', () => {
  const prefix = uniquePrefix('wh-blip');
  const user = (i: number) => `b${i}`;
  const redis = createClient({ url: testRedisUrl() });
  let node: TestNode;
  let rx: WebhookReceiver;
  beforeAll(async () => {
    rx = new WebhookReceiver(null, BACKEND_SECRET);
    node = await startNode({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, NODE_ID: 'blip', WEBHOOK_URL: await rx.start(), BACKEND_SECRET, WEBHOOK_BATCH_MS: '50', WEBHOOK_LEAVE_GRACE_MS: String(GRACE_MS) });
    await redis.connect();
  });
  afterAll(async () => {
    closeAllClients();
    await node.stop();
    await redis.close();
    await rx.stop();
  });

  it(`${USERS} users of one node, ${USERS / ROOMS} to a room, who all drop and come back within WEBHOOK_LEAVE_GRACE_MS are no transition`, async () => {
    const rooms = roomsOf(user);
    const first = await members(node.url, USERS, user, stormRoom);
    await eventually(() => rx.events.length === USERS * 2 + ROOMS, 20_000);
    await eventually(async () => (await backlog(redis, prefix)) === 0, 20_000);

    // Every connection drops at once (the client's network), and each client connects again.
    const started = Date.now();
    await Promise.all(
      first.map(async (s, i) => {
        s.disconnect();
        await member(node.url, user(i), stormRoom(i));
      }),
    );
    const backMs = Date.now() - started;
    await eventually(async () => (await backlog(redis, prefix)) === 0, 30_000, 100);
    process.stdout.write(`webhooks blip: ${USERS} users back in ${backMs} ms; events reported for the blip: ${rx.events.length - (USERS * 2 + ROOMS)}\n`);
    for (let i = 0; i < USERS; i += 1) expect([user(i), rx.userEvents(user(i))]).toEqual([user(i), ['user_online']]);
    expectRoomEvents(rx, rooms, new Set());
    expectCleanDelivery(rx);
  }, 60_000);
});

describe.each([
  ['restarted at once', 0],
  ['down for longer than the dead-node timeout', 3000],
])('Redis (appendonly) %s under two nodes with webhooks', (_label, downMs) => {
  const prefix = uniquePrefix('wh-restart');
  let redisServer: RedisServer;
  let redis: ReturnType<typeof createClient>;
  let a: TestNode;
  let b: TestNode;
  let rx: WebhookReceiver;
  beforeAll(async () => {
    // fsync on every write: what a script queued before the crash is on disk.
    redisServer = await RedisServer.start(['--appendonly', 'yes', '--appendfsync', 'always']);
    redis = createClient({ url: redisServer.url, socket: { reconnectStrategy: (n: number) => Math.min(50 * n, 500) } });
    redis.on('error', () => undefined);
    await redis.connect();
    rx = new WebhookReceiver(null, BACKEND_SECRET);
    const env = { REDIS_URL: redisServer.url, REDIS_PREFIX: prefix, WEBHOOK_URL: await rx.start(), BACKEND_SECRET, WEBHOOK_BATCH_MS: '50', WEBHOOK_LEAVE_GRACE_MS: '1000' };
    // Heartbeats every 300 ms: a node silent for 900 ms is presumed dead, so the long outage outlasts that.
    a = await startNode({ ...env, NODE_ID: 'ra' }, { heartbeatMs: 300 });
    b = await startNode({ ...env, NODE_ID: 'rb' }, { heartbeatMs: 300 });
  });
  afterAll(async () => {
    closeAllClients();
    await a.stop();
    await b.stop();
    await redis.close();
    await redisServer.destroy();
    await rx.stop();
  });

  it('reports what was queued before the restart once, and invents nothing for users who stayed', async () => {
    const stayerA = await member(a.url, 'stayer-a', 'k1');
    const stayerB = await member(b.url, 'stayer-b', 'k1');
    expect(await emitAck(stayerB, 'room:join', { room: 'k2' })).toMatchObject({ ok: true });
    const goner = await member(b.url, 'goner', 'k1');
    // online ×3, k1 occupied + 3 added, k2 occupied + added.
    await eventually(() => rx.events.length === 3 + 4 + 2, 20_000);
    await eventually(async () => (await backlog(redis, prefix)) === 0, 20_000);

    // Just before the restart, with the receiver refusing: a user comes (on A), one leaves a room and one leaves for good (on B).
    rx.down = true;
    await member(a.url, 'late', 'k3');
    expect(await emitAck(stayerB, 'room:leave', { room: 'k2' })).toMatchObject({ ok: true });
    goner.disconnect();
    // All queued (and on disk): late's online, k3's occupied and added; k2's removed and vacated; goner's offline and k1's removed.
    await eventually(async () => (await backlog(redis, prefix)) === 7, 20_000);

    await redisServer.stop();
    await eventually(async () => (await fetch(`${a.url}/health/ready`)).status === 503 && (await fetch(`${b.url}/health/ready`)).status === 503);
    rx.down = false;
    // The outage's length is the scenario, not a wait for something.
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await redisServer.start();
    await eventually(async () => (await fetch(`${a.url}/health/ready`)).status === 200 && (await fetch(`${b.url}/health/ready`)).status === 200, 20_000);

    // A transition on each node after both are back (each has beaten since, so no reap can follow), then nothing left queued.
    await member(a.url, 'marker-a', 'marker');
    await member(b.url, 'marker-b', 'marker');
    await eventually(() => rx.userEvents('marker-a').length === 1 && rx.userEvents('marker-b').length === 1, 20_000);
    await eventually(async () => (await backlog(redis, prefix)) === 0, 20_000, 100);

    expect(rx.userEvents('stayer-a')).toEqual(['user_online']);
    expect(rx.userEvents('stayer-b')).toEqual(['user_online']);
    expect(rx.userEvents('late')).toEqual(['user_online']);
    expect(rx.userEvents('goner')).toEqual(['user_online', 'user_offline']);
    expect(rx.of('k1')).toEqual(['channel_occupied', 'member_added:stayer-a', 'member_added:stayer-b', 'member_added:goner', 'member_removed:goner']);
    expect(rx.of('k2')).toEqual(['channel_occupied', 'member_added:stayer-b', 'member_removed:stayer-b', 'channel_vacated']);
    expect(rx.of('k3')).toEqual(['channel_occupied', 'member_added:late']);
    expect(rx.of('marker')).toEqual(['channel_occupied', 'member_added:marker-a', 'member_added:marker-b']);
    expect(rx.events).toHaveLength(9 + 7 + 5);
    expectCleanDelivery(rx);
    expect([stayerA.connected, stayerB.connected]).toEqual([true, true]);
  }, 60_000);
});
