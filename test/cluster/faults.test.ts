import request from 'supertest';
import { ADMIN_KEY, closeAllClients, connectUser, emitAck, eventually, nextEvent, startNode, type TestNode } from '../support/node';
import { ProcessNode } from '../support/process-node';
import { RedisServer } from '../support/redis-server';
import { testRedisUrl, uniquePrefix } from '../support/redis';
import { WebhookReceiver } from '../support/webhook-receiver';

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };

describe('a node killed with SIGKILL', () => {
  let survivor: TestNode;
  let victim: ProcessNode | null = null;
  const prefix = uniquePrefix('kill');
  beforeAll(async () => {
    survivor = await startNode({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, NODE_ID: 'survivor', HEARTBEAT_MS: '200' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await victim?.kill();
    await survivor.stop();
  });

  it('loses its presence cluster-wide once its heartbeat expires', async () => {
    victim = await ProcessNode.start({ REDIS_URL: testRedisUrl(), REDIS_PREFIX: prefix, NODE_ID: 'victim', HEARTBEAT_MS: '200' });
    const { socket } = await connectUser(victim.url, 'henry', { rooms: ['k:*'] });
    await socket.timeout(5000).emitWithAck('room:join', { room: 'k:1' });
    const before = await request(survivor.url).get('/api/v1/users/henry').set(auth).expect(200);
    expect(before.body.data.sockets).toEqual([expect.objectContaining({ nodeId: 'victim', rooms: ['k:1'] })]);

    await victim.kill('SIGKILL');
    const started = Date.now();
    await eventually(async () => (await request(survivor.url).get('/api/v1/users/henry').set(auth)).body.data.online === false, 60_000, 100);
    await request(survivor.url).get('/api/v1/rooms/k:1').set(auth).expect(404);
    // 3 missed heartbeats plus one reaper period, with generous slack: far below the contract's 60 s.
    expect(Date.now() - started).toBeLessThan(60_000);
    const status = await request(survivor.url).get('/api/v1/status').set(auth).expect(200);
    expect(status.body.data.nodes).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'victim', alive: false })]));
    expect(status.body.data.totals.nodes).toBe(1);
  });
});

describe.each([
  ['classic', 'false'],
  ['sharded', 'true'],
])('Redis stopped and restarted under two running nodes (%s adapter)', (_kind, sharded) => {
  let redis: RedisServer;
  let a: TestNode;
  let b: TestNode;
  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('restart'), REDIS_SHARDED: sharded, PRESENCE_ROOMS: 'chat:*' };
    a = await startNode({ ...env, NODE_ID: 'ra' });
    b = await startNode({ ...env, NODE_ID: 'rb' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await a.stop();
    await b.stop();
    await redis.destroy();
  });

  it('flips readiness, answers 503 quickly while down, and crosses nodes again after the restart', async () => {
    const { socket } = await connectUser(b.url, 'ivy', { rooms: ['chat:*'] });
    const watcher = await connectUser(a.url, 'watcher', { rooms: ['chat:*'] });
    const presence: string[] = [];
    watcher.socket.on('presence:join', (p: { userId: string }) => presence.push(`+${p.userId}`));
    watcher.socket.on('presence:leave', (p: { userId: string }) => presence.push(`-${p.userId}`));
    // Its own join is announced (to itself too) before the join is acknowledged.
    await emitAck(watcher.socket, 'room:join', { room: 'chat:r' });
    await emitAck(socket, 'room:join', { room: 'chat:r' });
    await eventually(() => presence.includes('+ivy'));
    const before = nextEvent(socket, 'm');
    await request(a.url).post('/api/v1/push').set(auth).send({ users: ['ivy'], event: 'm', data: 'before' }).expect(200);
    expect((await before)[0]).toBe('before');

    await redis.stop();
    await eventually(async () => (await request(a.url).get('/health/ready')).status === 503);
    await eventually(async () => (await request(b.url).get('/health/ready')).status === 503);
    await request(a.url).get('/health/live').expect(200);

    const t0 = Date.now();
    const down = await request(a.url).post('/api/v1/push').set(auth).send({ id: 'during-outage', users: ['ivy'], event: 'm', data: 'lost?' });
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(down.headers['retry-after']).toBeDefined();
    expect(Date.now() - t0).toBeLessThan(5000);
    const reads = await request(a.url).get('/api/v1/users/ivy').set(auth);
    expect(reads.status).toBe(503);

    await redis.start();
    await eventually(async () => (await request(a.url).get('/health/ready')).status === 200, 20_000);
    await eventually(async () => (await request(b.url).get('/health/ready')).status === 200, 20_000);

    // Redis came back empty: the nodes re-publish their sockets, so presence and recipients are right again.
    await eventually(async () => (await request(a.url).get('/api/v1/users/ivy').set(auth)).body.data?.online === true, 20_000);

    // The known trap: after a restart the adapter must still carry messages between nodes.
    const after = nextEvent(socket, 'm', 10_000);
    const res = await request(a.url).post('/api/v1/push').set(auth).send({ id: 'during-outage', users: ['ivy'], event: 'm', data: 'after' }).expect(200);
    expect(res.body.data.recipients).toBe(1);
    expect((await after)[0]).toBe('after');
    // Delivered once: a further retry of the id is a duplicate.
    const again = await request(a.url).post('/api/v1/push').set(auth).send({ id: 'during-outage', users: ['ivy'], event: 'm', data: 'after' }).expect(200);
    expect(again.body.data).toEqual(res.body.data);

    // Re-publishing presence after the restart is not news: no second presence:join. A new member
    // on node B, which would have sent that join, marks that everything B sent before has arrived.
    const marker = await connectUser(b.url, 'marker', { rooms: ['chat:*'] });
    await emitAck(marker.socket, 'room:join', { room: 'chat:r' });
    await eventually(() => presence.includes('+marker'));
    expect(presence).toEqual(['+watcher', '+ivy', '+marker']);
  });
});

describe('Redis restarted with its data (appendonly) under two nodes with webhooks', () => {
  let redis: RedisServer;
  let a: TestNode;
  let b: TestNode;
  let rx: WebhookReceiver;
  beforeAll(async () => {
    redis = await RedisServer.start(['--appendonly', 'yes', '--appendfsync', 'always']);
    rx = new WebhookReceiver(null, null);
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('kept'), PRESENCE_ROOMS: 'chat:*', HEARTBEAT_MS: '2000', WEBHOOK_URL: await rx.start(), WEBHOOK_BATCH_MS: '50', WEBHOOK_LEAVE_GRACE_MS: '0' };
    a = await startNode({ ...env, NODE_ID: 'ka' });
    b = await startNode({ ...env, NODE_ID: 'kb' });
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await a.stop();
    await b.stop();
    await redis.destroy();
    await rx.stop();
  });

  it('announces what changed during the outage, once, and nothing that did not', async () => {
    const watcher = await connectUser(a.url, 'k-watcher', { rooms: ['chat:*'] });
    const stayer = await connectUser(b.url, 'k-stayer', { rooms: ['chat:*'] });
    const goner = await connectUser(b.url, 'k-goner', { rooms: ['chat:*'] });
    const presence: string[] = [];
    watcher.socket.on('presence:join', (p: { userId: string }) => presence.push(`+${p.userId}`));
    watcher.socket.on('presence:leave', (p: { userId: string }) => presence.push(`-${p.userId}`));
    for (const c of [watcher, stayer, goner]) await emitAck(c.socket, 'room:join', { room: 'chat:k' });
    await eventually(() => presence.includes('+k-goner') && rx.of('chat:k').length === 4 && rx.userEvents('k-goner').length === 1);

    await redis.stop();
    await eventually(async () => (await request(b.url).get('/health/ready')).status === 503);
    // While Redis is away: one user goes, another comes. Their presence writes fail.
    const gone = nextEvent(goner.socket, 'disconnect');
    goner.socket.disconnect();
    await gone;
    const newbie = await connectUser(a.url, 'k-newbie', { rooms: ['chat:*'] });
    await redis.start();
    await eventually(async () => (await request(a.url).get('/health/ready')).status === 200 && (await request(b.url).get('/health/ready')).status === 200, 20_000);

    // Redis kept what it had: the goner's socket is taken out (and that is news), the newbie's is put in.
    await eventually(async () => (await request(a.url).get('/api/v1/users/k-goner').set(auth)).body.data?.online === false, 20_000);
    await eventually(async () => (await request(a.url).get('/api/v1/users/k-newbie').set(auth)).body.data?.online === true, 20_000);
    await eventually(() => presence.includes('-k-goner') && rx.userEvents('k-goner').length === 2 && rx.userEvents('k-newbie').length === 1);
    // A marker after all of it: once its events are in, anything invented would be too.
    await emitAck(newbie.socket, 'room:join', { room: 'chat:k' });
    await eventually(() => presence.includes('+k-newbie') && rx.of('chat:k').includes('member_added:k-newbie'));
    expect(presence).toEqual(['+k-watcher', '+k-stayer', '+k-goner', '-k-goner', '+k-newbie']);
    expect(rx.of('chat:k')).toEqual(['channel_occupied', 'member_added:k-watcher', 'member_added:k-stayer', 'member_added:k-goner', 'member_removed:k-goner', 'member_added:k-newbie']);
    expect(rx.userEvents('k-goner')).toEqual(['user_online', 'user_offline']);
    expect(rx.userEvents('k-stayer')).toEqual(['user_online']);
    expect(rx.userEvents('k-newbie')).toEqual(['user_online']);
    expect(stayer.socket.connected).toBe(true);
  });
});
