import { execFile } from 'node:child_process';
import request from 'supertest';
import { promisify } from 'node:util';
import { RecoveringClient, SteadySender, type Tally } from '../support/delivery-count';
import { ADMIN_KEY, eventually } from '../support/node';
import { useNodesOn } from '../support/node-pair';
import { uniquePrefix } from '../support/redis';
import { RedisCluster, type ClusterNode } from '../support/redis-cluster';

const run = promisify(execFile);

/*
 * A shard of a real Redis Cluster loses its primary (SIGKILL) under steady pushes, and its replica
 * takes over. Numbered messages go to six rooms, two of them on the shard that fails, through node
 * A; node B holds two clients in every room: one stays connected throughout, one disconnects just
 * before the kill and comes back after the takeover with its offsets. Counted per room: lost,
 * duplicated, out of order, and the pushes refused (503, retried with the same id).
 */

const EVERY_MS = 20;
const auth = { Authorization: `Bearer ${ADMIN_KEY}` };
const ROOMS = Array.from({ length: 12 }, (_, i) => `fo:${i}`);

async function slotOf(port: number, key: string): Promise<number> {
  return Number((await run('redis-cli', ['-p', String(port), 'cluster', 'keyslot', key])).stdout.trim());
}

const owner = (nodes: ClusterNode[], slot: number) => nodes.find((n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b))!;

describe('a Redis Cluster primary SIGKILLed under steady pushes', () => {
  const n = useNodesOn(
    'fo',
    () => RedisCluster.start({ primaries: 3, replicas: 1, nodeTimeoutMs: 1000 }),
    (cluster) => ({ REDIS_URL: cluster.urls.join(','), REDIS_CLUSTER: 'true', REDIS_PREFIX: uniquePrefix('failover') }),
  );

  it('the replica takes over; every push answered 2xx reaches the connected client once and in order, and the returning client recovers it or is told recovered: false', async () => {
    const nodes = await n.redis.nodes();
    const seed = nodes[0]!.port;
    // Rooms by the shard that owns their slot (the hash tag is `r:<room>`, see cluster/redis-keys.ts).
    const shardOf = new Map<string, number>();
    for (const room of ROOMS) shardOf.set(room, owner(nodes, await slotOf(seed, `{r:${room}}`)).port);
    const victim = shardOf.get(ROOMS[0]!)!;
    const onVictim = ROOMS.filter((r) => shardOf.get(r) === victim).slice(0, 2);
    const elsewhere = [...new Set(ROOMS.filter((r) => shardOf.get(r) !== victim))].slice(0, 4);
    const rooms = [...onVictim, ...elsewhere];
    expect(onVictim).toHaveLength(2);
    expect(new Set(elsewhere.map((r) => shardOf.get(r))).size).toBe(2);

    const stayer = new RecoveringClient(n.b.url, 'stayer', ['fo:*']);
    const returner = new RecoveringClient(n.b.url, 'returner', ['fo:*']);
    n.clients.push(stayer, returner);
    await Promise.all([stayer.nextWelcome(), returner.nextWelcome()]);
    for (const room of rooms) await Promise.all([stayer.join(room), returner.join(room)]);

    const senders = new Map(rooms.map((room) => [room, new SteadySender(() => n.a.url, { rooms: [room] }, room, EVERY_MS, `${room}-m`)]));
    for (const room of rooms) await stayer.waitFor(room, 10);

    returner.socket.disconnect();
    const killedAt = Date.now();
    await n.redis.kill(victim);
    const replica = nodes.find((n) => n.primaryPort === victim)!.port;
    await eventually(async () => (await n.redis.nodes()).some((n) => n.port === replica && n.role === 'master' && n.slots.length > 0), 20_000, 50);
    const promotedMs = Date.now() - killedAt;
    // Pushes to the failed shard go through again (each sender has a 2xx after the takeover).
    const sentBefore = new Map(rooms.map((r) => [r, senders.get(r)!.sent.length]));
    await eventually(async () => rooms.every((r) => senders.get(r)!.sent.length > sentBefore.get(r)! + 5), 20_000, 50);
    const servingMs = Date.now() - killedAt;

    const recovered = returner.nextRecovered();
    returner.socket.connect();
    const report = await recovered;
    const afterReturn = new Map(rooms.map((r) => [r, senders.get(r)!.sent.length]));
    await Promise.all(rooms.map((r) => senders.get(r)!.stopAfter(10)));
    for (const room of rooms) {
      const last = senders.get(room)!.sent.at(-1)!;
      await Promise.all([stayer.waitFor(room, last), returner.waitFor(room, last)]);
    }

    const figures: Record<string, { shard: string; refused: number; stayer: Tally; returner: Tally & { recovered: boolean } }> = {};
    for (const room of rooms) {
      const s = senders.get(room)!;
      const failed = shardOf.get(room) === victim;
      // A push whose first attempt the dying primary ran (and published) but whose reply never
      // came back is retried, and the new primary may not have it: such a retry can repeat.
      const excused = failed ? s.retried : new Set<number>();
      const stay = stayer.tally(room, s.sent, excused);
      const back = returner.tally(room, s.sent, excused);
      const r = report.streams[room]!;
      figures[room] = { shard: failed ? 'failed' : 'healthy', refused: s.refused, stayer: stay, returner: { ...back, recovered: r.recovered } };

      expect({ room, lost: stay.lost, duplicated: stay.duplicated, outOfOrder: stay.outOfOrder }).toEqual({ room, lost: 0, duplicated: 0, outOfOrder: 0 });
      expect({ room, duplicated: back.duplicated, outOfOrder: back.outOfOrder }).toEqual({ room, duplicated: 0, outOfOrder: 0 });
      if (failed) {
        // The new primary starts the stream over (another writer): the client is told, never left with a silent hole.
        expect({ room, recovered: r.recovered }).toEqual({ room, recovered: false });
      } else {
        // Refusals happen here too (a push's id record may hash to the failed shard): retried, delivered once.
        expect({ room, recovered: r.recovered, lost: back.lost }).toEqual({ room, recovered: true, lost: 0 });
      }
      // Whatever was sent after the returning client was back reached it.
      const later = s.sent.slice(afterReturn.get(room)!);
      expect({ room, missedAfterReturn: later.filter((n) => !(returner.got.get(room) ?? []).includes(n)) }).toEqual({ room, missedAfterReturn: [] });
    }
    process.stdout.write(`redis cluster failover: ${JSON.stringify({ promotedMs, servingMs, figures })}\n`);
  }, 90_000);

  it('a push to two rooms whose second shard stalls is answered 503, and its retry with the same id delivers each part exactly once', async () => {
    const nodes = (await n.redis.nodes()).filter((n) => n.role === 'master' && n.slots.length > 0);
    const seed = nodes[0]!.port;
    const portOf = async (tag: string) => owner(nodes, await slotOf(seed, `{${tag}}`)).port;
    const rooms = Array.from({ length: 12 }, (_, i) => `pf:${i}`);
    const ports = await Promise.all(rooms.map((r) => portOf(`r:${r}`)));
    const r1 = rooms[0]!;
    const i2 = ports.findIndex((p) => p !== ports[0]);
    const r2 = rooms[i2]!;
    const stalled = ports[i2]!;
    // An id whose record lives on neither shard, so the first part is admitted and the second is not.
    let id = '';
    for (let i = 0; !id; i++) if (![ports[0], stalled].includes(await portOf(`m:pf-${i}`))) id = `pf-${i}`;

    const inR1 = new RecoveringClient(n.b.url, 'pf-one', ['pf:*']);
    const inR2 = new RecoveringClient(n.b.url, 'pf-two', ['pf:*']);
    n.clients.push(inR1, inR2);
    await Promise.all([inR1.nextWelcome(), inR2.nextWelcome()]);
    await inR1.join(r1);
    await inR2.join(r2);

    // Writes (scripts included) on the second room's shard wait 3 s: longer than the node's 2 s command timeout.
    await run('redis-cli', ['-p', String(stalled), 'client', 'pause', '3000', 'write']);
    const body = { rooms: [r1, r2], event: 'pf', data: { n: 1 }, id };
    const first = await request(n.a.url).post('/api/v1/push').set(auth).send(body);
    expect(first.status).toBe(503);
    await inR1.waitFor('pf', 1, 5000);
    // Once the shard serves again the retry completes what is missing, and nothing twice.
    const retry = await eventually(async () => {
      const res = await request(n.a.url).post('/api/v1/push').set(auth).send(body);
      return res.status === 200 ? res : null;
    }, 20_000, 200);
    expect(retry.body.data).toEqual({ id, recipients: 2 });
    await inR2.waitFor('pf', 1, 5000);
    // A marker push to each room: whatever was going to arrive has.
    for (const [c, r] of [[inR1, r1], [inR2, r2]] as const) {
      await request(n.a.url).post(`/api/v1/rooms/${r}/broadcast`).set(auth).send({ event: 'pf', data: { n: 2 } }).expect(200);
      await c.waitFor('pf', 2);
    }
    expect(inR1.got.get('pf')).toEqual([1, 2]);
    expect(inR2.got.get('pf')).toEqual([1, 2]);
  }, 60_000);
});
