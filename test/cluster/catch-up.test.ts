import request from 'supertest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RecoveringClient } from '../support/delivery-count';
import { ADMIN_KEY, closeAllClients, eventually, startNode, type TestNode } from '../support/node';
import { ProcessNode } from '../support/process-node';
import { uniquePrefix } from '../support/redis';
import { RedisCluster } from '../support/redis-cluster';
import { RedisServer } from '../support/redis-server';

const run = promisify(execFile);

/*
 * A node that misses pushes on the cluster bus while its clients stay connected to it: frozen (as
 * by a long GC pause or a stalled VM) long enough for Redis to drop its subscriber, whose output
 * buffer is kept small here so that happens after a few pushes. Its clients never reconnect, so no
 * client recovery can fill the gap: the node has to.
 */

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };

/** A Redis set-up whose subscribers are dropped once they fall 64 KiB behind. */
interface Bus {
  env: Record<string, string>;
  /** Subscribers of a sharded channel. */
  subscribers(channel: string): Promise<number>;
  close(): Promise<void>;
}

/** A subscriber more than 64 KiB behind is disconnected at once (the default allows 32 MiB). */
const TIGHT = ['config', 'set', 'client-output-buffer-limit', 'pubsub 65536 0 0'];
const cli = async (port: number, args: string[]) => (await run('redis-cli', ['-p', String(port), ...args])).stdout.trim();
const numsub = async (port: number, channel: string) => Number((await cli(port, ['pubsub', 'shardnumsub', channel])).split('\n')[1]);

async function oneRedis(): Promise<Bus> {
  const redis = await RedisServer.start();
  await cli(redis.port, TIGHT);
  return { env: { REDIS_URL: redis.url }, subscribers: (channel) => numsub(redis.port, channel), close: () => redis.destroy() };
}

/** Three primaries: a node's stream channels sit on different shards, and one shard drops it. */
async function redisCluster(): Promise<Bus> {
  const cluster = await RedisCluster.start({ primaries: 3, replicas: 0 });
  const ports = cluster.servers.map((s) => s.port);
  for (const port of ports) await cli(port, TIGHT);
  return {
    env: { REDIS_URL: cluster.urls.join(','), REDIS_CLUSTER: 'true' },
    subscribers: async (channel) => (await Promise.all(ports.map((p) => numsub(p, channel)))).reduce((x, y) => x + y, 0),
    close: () => cluster.destroy(),
  };
}

describe.each([
  ['one Redis', oneRedis],
  ['a Redis Cluster', redisCluster],
])('a node that missed pushes on the bus (%s)', (_label, start) => {
  let bus: Bus;
  let frozen: ProcessNode;
  let other: TestNode;
  const prefix = uniquePrefix('catchup');
  beforeAll(async () => {
    bus = await start();
    const env = { ...bus.env, REDIS_PREFIX: prefix };
    frozen = await ProcessNode.start({ ...env, NODE_ID: 'frozen' });
    other = await startNode({ ...env, NODE_ID: 'awake' });
    await eventually(async () => (await request(frozen.url).get('/health/ready')).status === 200);
  }, 60_000);
  afterAll(async () => {
    closeAllClients();
    frozen.proc.kill('SIGCONT');
    await frozen.kill();
    await other.stop();
    await bus.close();
  });

  it('delivers what it missed from history once it is back, in order, once, without its clients reconnecting', async () => {
    const c = new RecoveringClient(frozen.url, 'stayer', ['lobby', 'lobby2']);
    await c.nextWelcome();
    await c.join('lobby');
    await c.join('lobby2');
    // Left out of every other room push (their `except`), as a sender of a message is.
    const ex = new RecoveringClient(frozen.url, 'excluded', ['lobby']);
    await ex.nextWelcome();
    await ex.join('lobby');
    let n = 0;
    const sent: number[] = [];
    // Odd numbers go to the room (n % 4 = 1: lobby, except the excluded client; n % 4 = 3: lobby
    // and lobby2 at once, which the stayer is in both of), even ones to the user's personal stream.
    const push = async (pad = '') => {
      n += 1;
      const target = n % 2 ? 'room' : 'user';
      const body = { event: target, data: { n, pad }, id: `cu-${n}` };
      const res =
        target === 'user'
          ? await request(other.url).post('/api/v1/push').set(auth).send({ ...body, users: ['stayer'] })
          : n % 4 === 1
            ? await request(other.url).post('/api/v1/rooms/lobby/broadcast').set(auth).send({ ...body, except: [ex.socket.id] })
            : await request(other.url).post('/api/v1/push').set(auth).send({ ...body, rooms: ['lobby', 'lobby2'] });
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
    const subscribers = () => bus.subscribers(channel);
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

    await ex.waitFor('room', Math.max(...sentTo('room').filter((x) => x % 4 === 3)));
    const tallies = { room: c.tally('room', sentTo('room')), user: c.tally('user', sentTo('user')), excluded: ex.tally('room', sentTo('room').filter((x) => x % 4 === 3)) };
    // Nothing that left the excluded client out reached it, live or caught up.
    expect((ex.got.get('room') ?? []).filter((x) => x % 4 === 1)).toEqual([]);
    process.stdout.write(`catch-up after a frozen node: ${JSON.stringify(tallies)}\n`);
    for (const t of Object.values(tallies)) expect({ lost: t.lost, duplicated: t.duplicated, outOfOrder: t.outOfOrder }).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(c.welcomes).toHaveLength(1);
    const metrics = await request(frozen.url).get('/metrics').set(auth).expect(200);
    const caughtUp = Number(/^pushgate_messages_caught_up_total\{[^}]*\} (\d+)$/m.exec(metrics.text)?.[1]);
    expect(caughtUp).toBeGreaterThanOrEqual(10);
    c.close();
    ex.close();
  });
});
