import request from 'supertest';
import { createClient, createCluster } from 'redis';
import { RedisKeys } from '../../server/src/cluster/redis-keys';
import { ADMIN_KEY, closeAllClients, connectClient, connectUser, emitAck, eventually, makeToken, nextEvent, startNode, type TestNode } from '../support/node';
import { testClusterUrls, uniquePrefix } from '../support/redis';

/*
 * What makes Redis Cluster support real sharding, checked on the run's 3-shard cluster: the keys
 * and the push channels of different rooms and users live on different shards, a node listens to
 * a stream's channel only while it has sockets in the stream, and a push to streams on several
 * shards is still counted, delivered and kept as one push.
 */

const auth = { Authorization: `Bearer ${ADMIN_KEY}` };

describe('pushgate on a 3-shard Redis Cluster', () => {
  const keys = new RedisKeys(uniquePrefix('shard'));
  let a: TestNode;
  let b: TestNode;
  let cluster: ReturnType<typeof createCluster>;
  beforeAll(async () => {
    const env = { REDIS_URL: testClusterUrls(), REDIS_CLUSTER: 'true', REDIS_PREFIX: keys.prefix };
    a = await startNode({ ...env, NODE_ID: `${keys.prefix}-a` });
    b = await startNode({ ...env, NODE_ID: `${keys.prefix}-b` });
    cluster = createCluster({ rootNodes: testClusterUrls().split(',').map((url) => ({ url })) });
    cluster.on('error', () => undefined);
    await cluster.connect();
  });
  afterEach(closeAllClients);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await cluster?.close();
  });

  /** Keys under this test's prefix on each primary. */
  async function keysPerPrimary(): Promise<number[]> {
    return Promise.all(
      cluster.masters.map(async (m) => {
        const c = createClient({ socket: { host: m.host, port: m.port } });
        await c.connect();
        try {
          let n = 0;
          for await (const batch of c.scanIterator({ MATCH: `${keys.prefix}:*`, COUNT: 1000 })) n += batch.length;
          return n;
        } finally {
          await c.close();
        }
      }),
    );
  }

  /** Subscribers of a sharded channel, summed over the primaries (only the owner of its slot has any). */
  async function listeners(channel: string): Promise<number> {
    const counts = await Promise.all(
      cluster.masters.map(async (m) => {
        const c = createClient({ socket: { host: m.host, port: m.port } });
        await c.connect();
        try {
          return Number((await c.sendCommand<[string, number]>(['PUBSUB', 'SHARDNUMSUB', channel]))[1]);
        } finally {
          await c.close();
        }
      }),
    );
    return counts.reduce((x, y) => x + y, 0);
  }

  it('spreads presence, history and id records of 24 users in 24 rooms over all three shards', async () => {
    for (let i = 0; i < 24; i++) {
      const { socket } = await connectUser(b.url, `spread-${i}`, { rooms: ['spread:*'] });
      expect(await emitAck(socket, 'room:join', { room: `spread:${i}` })).toMatchObject({ ok: true });
    }
    for (let i = 0; i < 24; i++) await request(a.url).post(`/api/v1/rooms/spread:${i}/broadcast`).set(auth).send({ event: 'e', data: i }).expect(200);
    const per = await keysPerPrimary();
    process.stdout.write(`keys per primary after 24 users in 24 rooms and 24 pushes: ${JSON.stringify(per)}\n`);
    expect(per).toHaveLength(3);
    const total = per.reduce((x, y) => x + y, 0);
    // Each primary holds a share; none holds the lot (a single hash tag would put every key on one).
    for (const n of per) expect(n).toBeGreaterThan(total / 10);
  });

  it('a node listens to a room’s channel on its shard while it has a socket there, and not after', async () => {
    const { socket } = await connectUser(b.url, 'listener', { rooms: ['listen:*'] });
    const channel = keys.streamChannel('listen:1');
    expect(await listeners(channel)).toBe(0);
    expect(await emitAck(socket, 'room:join', { room: 'listen:1' })).toMatchObject({ ok: true });
    // Joined means listening: the join answers only once the subscription is in place.
    expect(await listeners(channel)).toBe(1);
    expect(await listeners(keys.streamChannel('user:listener'))).toBe(1);
    const gauge = async () => Number(/^pushgate_stream_subscriptions\{[^}]*\} (\d+)$/m.exec((await request(b.url).get('/metrics').set(auth).expect(200)).text)?.[1]);
    // Node B's only socket now: its personal stream and the room (earlier tests' sockets have gone).
    await eventually(async () => (await gauge()) === 2);
    const got = nextEvent(socket, 'hi');
    await request(a.url).post('/api/v1/rooms/listen:1/broadcast').set(auth).send({ event: 'hi', data: 1 }).expect(200);
    expect((await got)[1]).toMatchObject({ stream: 'listen:1' });
    await emitAck(socket, 'room:leave', { room: 'listen:1' });
    await eventually(async () => (await listeners(channel)) === 0);
    await eventually(async () => (await gauge()) === 1);
    socket.disconnect();
    await eventually(async () => (await listeners(keys.streamChannel('user:listener'))) === 0);
  });

  it('a push to a user and two rooms on different shards counts each socket once, reaches each once, and is kept in every stream', async () => {
    const names = ['multi:a', 'multi:b', 'multi:c', 'multi:d', 'multi:e', 'multi:f'];
    const slotOwner = async (room: string) => String(await cluster.sendCommand<string>(keys.room(room), false, ['CLUSTER', 'KEYSLOT', keys.room(room)]));
    const slots = await Promise.all(names.map(slotOwner));
    const shard = (slot: string) => cluster.masters.findIndex((m) => cluster.slots[Number(slot)]?.master === m);
    const [r1, r2] = names.filter((_, i) => i === 0 || shard(slots[i]!) !== shard(slots[0]!));
    expect(shard(slots[names.indexOf(r2!)]!)).not.toBe(shard(slots[0]!));

    const both = await connectUser(b.url, 'multi-u', { rooms: ['multi:*'] });
    const onlyR2 = await connectUser(a.url, 'multi-v', { rooms: ['multi:*'] });
    await emitAck(both.socket, 'room:join', { room: r1! });
    await emitAck(both.socket, 'room:join', { room: r2! });
    await emitAck(onlyR2.socket, 'room:join', { room: r2! });
    const gotBoth: unknown[][] = [];
    const gotR2: unknown[][] = [];
    both.socket.on('multi', (...args: unknown[]) => gotBoth.push(args));
    onlyR2.socket.on('multi', (...args: unknown[]) => gotR2.push(args));

    const res = await request(a.url).post('/api/v1/push').set(auth).send({ users: ['multi-u'], rooms: [r1, r2], event: 'multi', data: 'x', id: `${keys.prefix}-multi` }).expect(200);
    expect(res.body.data.recipients).toBe(2);
    await eventually(async () => gotBoth.length >= 1 && gotR2.length >= 1);
    // A marker push to each socket's last stream: everything before it has arrived.
    await request(a.url).post(`/api/v1/rooms/${r2}/broadcast`).set(auth).send({ event: 'multi', data: 'end' }).expect(200);
    await eventually(async () => gotBoth.length >= 2 && gotR2.length >= 2);
    expect(gotBoth.map(([d, m]) => [d, (m as { stream: string }).stream])).toEqual([
      ['x', 'user:multi-u'],
      ['end', r2],
    ]);
    expect(gotR2.map(([d, m]) => [d, (m as { stream: string }).stream])).toEqual([
      ['x', r2],
      ['end', r2],
    ]);

    // Kept in each of the three streams: a client recovering each from the offset before the push gets it.
    const offsetBefore = (m: unknown) => {
      const [epoch, seq] = (m as { offset: string }).offset.split(':');
      return `${epoch}:${Number(seq) - 1}`;
    };
    const recover = { 'user:multi-u': offsetBefore(gotBoth[0]![1]), [r2!]: offsetBefore(gotR2[0]![1]) };
    const back = connectClient(b.url, { token: makeToken({ sub: 'multi-u', rooms: ['multi:*'] }), recover });
    const report = (await nextEvent(back, 'recovered'))[0] as { streams: Record<string, { recovered: boolean; replayed: number }> };
    expect(report.streams['user:multi-u']).toMatchObject({ recovered: true });
    expect(report.streams[r2!]).toMatchObject({ recovered: true, replayed: 2 });

    // A retry of the id changes nothing anywhere.
    const again = await request(b.url).post('/api/v1/push').set(auth).send({ users: ['multi-u'], rooms: [r1, r2], event: 'multi', data: 'x', id: `${keys.prefix}-multi` }).expect(200);
    expect(again.body.data).toEqual(res.body.data);
  });
});
