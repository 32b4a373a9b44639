import request from 'supertest';
import { createClient } from 'redis';
import { RecoveringClient } from '../support/delivery-count';
import { ADMIN_KEY, closeAllClients, eventually, startNode, type TestNode } from '../support/node';
import { ProcessNode } from '../support/process-node';
import { uniquePrefix } from '../support/redis';
import { RedisServer } from '../support/redis-server';

/*
 * A node that misses pushes on the cluster bus while its clients stay connected to it: frozen (as
 * by a long GC pause or a stalled VM) long enough for Redis to drop its subscriber, whose output
 * buffer is kept small here so that happens after a few pushes. Its clients never reconnect, so no
 * client recovery can fill the gap: the node has to.
 */

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };

describe('a node that missed pushes on the bus', () => {
  let redis: RedisServer;
  let admin: ReturnType<typeof createClient>;
  let frozen: ProcessNode;
  let other: TestNode;
  const prefix = uniquePrefix('catchup');
  beforeAll(async () => {
    redis = await RedisServer.start();
    admin = createClient({ url: redis.url });
    await admin.connect();
    // A subscriber more than 64 KiB behind is disconnected at once (the default allows 32 MiB).
    await admin.configSet('client-output-buffer-limit', 'pubsub 65536 0 0');
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix };
    frozen = await ProcessNode.start({ ...env, NODE_ID: 'frozen' });
    other = await startNode({ ...env, NODE_ID: 'awake' });
    await eventually(async () => (await request(frozen.url).get('/health/ready')).status === 200);
  });
  afterAll(async () => {
    closeAllClients();
    frozen.proc.kill('SIGCONT');
    await frozen.kill();
    await other.stop();
    await admin.quit();
    await redis.destroy();
  });

  it('delivers what it missed from history once it is back, in order, once, without its clients reconnecting', async () => {
    const c = new RecoveringClient(frozen.url, 'stayer', ['lobby']);
    await c.nextWelcome();
    await c.join('lobby');
    let n = 0;
    const sent: number[] = [];
    // Odd numbers go to the room, even ones to the user's personal stream.
    const push = async (pad = '') => {
      n += 1;
      const target = n % 2 ? 'room' : 'user';
      const body = { event: target, data: { n, pad }, id: `cu-${n}` };
      const res = target === 'room' ? await request(other.url).post('/api/v1/rooms/lobby/broadcast').set(auth).send(body) : await request(other.url).post('/api/v1/push').set(auth).send({ ...body, users: ['stayer'] });
      expect(res.status).toBe(200);
      sent.push(n);
    };
    for (let i = 0; i < 3; i++) await push();
    await c.waitFor('room', 3);

    frozen.proc.kill('SIGSTOP');
    // Big pushes until Redis has dropped the frozen node's subscriber: everything after that is missed on the bus.
    const pad = 'x'.repeat(32 * 1024);
    // The room's channel (cluster/redis-keys.ts): only the frozen node, which has the room's one socket, listens to it.
    const channel = `${prefix}#{r:lobby}`;
    const subscribers = async () => Number((await admin.sendCommand<[string, number]>(['PUBSUB', 'SHARDNUMSUB', channel]))[1]);
    for (let i = 0; i < 400 && (await subscribers()) > 0; i++) await push(pad);
    expect(await subscribers()).toBe(0);
    for (let i = 0; i < 10; i++) await push();
    frozen.proc.kill('SIGCONT');

    await eventually(async () => (await request(frozen.url).get('/health/ready')).status === 200, 20_000);
    // And the bus works again after the catch-up: these arrive live.
    for (let i = 0; i < 4; i++) await push();
    const sentTo = (kind: 'room' | 'user') => sent.filter((x) => (kind === 'room' ? x % 2 === 1 : x % 2 === 0));
    await c.waitFor('room', Math.max(...sentTo('room')));
    await c.waitFor('user', Math.max(...sentTo('user')));

    const tallies = { room: c.tally('room', sentTo('room')), user: c.tally('user', sentTo('user')) };
    process.stdout.write(`catch-up after a frozen node: ${JSON.stringify(tallies)}\n`);
    for (const t of Object.values(tallies)) expect({ lost: t.lost, duplicated: t.duplicated, outOfOrder: t.outOfOrder }).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(c.welcomes).toHaveLength(1);
    const metrics = await request(frozen.url).get('/metrics').set(auth).expect(200);
    const caughtUp = Number(/^pushgate_messages_caught_up_total\{[^}]*\} (\d+)$/m.exec(metrics.text)?.[1]);
    expect(caughtUp).toBeGreaterThanOrEqual(10);
    c.close();
  });
});
