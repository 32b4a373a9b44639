import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createCluster } from 'redis';
import { RedisCluster } from '../support/redis-cluster';
import { eventually } from '../support/node';

const run = promisify(execFile);
const dbsize = async (port: number) => Number((await run('redis-cli', ['-p', String(port), 'dbsize'])).stdout.trim());

/*
 * The Redis Cluster that the cluster suites of issue 12 will run against: 3 primaries and 3
 * replicas on loopback, started here by the test itself. This checks what those suites will rely
 * on: keys really spread over three shards, and a replica really takes over a SIGKILLed primary,
 * with node-redis' cluster client following it.
 */
describe('a real Redis Cluster on loopback (test fixture)', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await RedisCluster.start({ primaries: 3, replicas: 1 });
  }, 60000);
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('has 3 primaries covering all 16,384 slots, each with one replica; keys spread over all three; a replica takes over a killed primary', async () => {
    const nodes = await cluster.nodes();
    const primaries = nodes.filter((n) => n.role === 'master');
    expect(primaries).toHaveLength(3);
    expect(primaries.flatMap((p) => p.slots).reduce((n, [a, b]) => n + b - a + 1, 0)).toBe(16384);
    expect(nodes.filter((n) => n.role === 'slave').map((n) => n.primaryPort).sort()).toEqual(primaries.map((p) => p.port).sort());

    const client = createCluster({ rootNodes: cluster.urls.map((url) => ({ url })), defaults: { socket: { reconnectStrategy: (n: number) => Math.min(50 * n, 500) } } });
    client.on('error', () => undefined);
    await client.connect();
    try {
      for (let i = 0; i < 300; i++) await client.set(`fixture:${i}`, String(i));
      const sizes = await Promise.all(primaries.map((p) => dbsize(p.port)));
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(300);
      for (const n of sizes) expect(n).toBeGreaterThan(50);

      // Every replica has its primary's keys before the primary goes.
      const victim = primaries[0]!;
      const replica = nodes.find((n) => n.primaryPort === victim.port)!;
      await eventually(async () => (await dbsize(replica.port)) === (await dbsize(victim.port)));
      await cluster.kill(victim.port);
      await eventually(async () => (await cluster.nodes()).some((n) => n.port === replica.port && n.role === 'master' && n.slots.length > 0), 20000);
      // Three primaries again (the promoted replica one of them); the other two shards keep their replicas.
      await cluster.settled(3, 2);

      // The cluster client finds the new primary and reads every key back, including the victim's shard.
      const values = await eventually(async () => {
        const got: (string | null)[] = [];
        for (let i = 0; i < 300; i++) got.push(await client.get(`fixture:${i}`));
        return got.every((v, i) => v === String(i)) ? got : null;
      }, 20000);
      expect(values).toHaveLength(300);
    } finally {
      await client.close().catch(() => undefined);
    }
  }, 60000);
});
