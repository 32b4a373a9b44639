/*
 * A Redis Cluster to break: the cluster of redis.mjs (primaries and replicas on loopback), set up
 * so that a replica takes over a dead primary within seconds and the other shards keep serving
 * meanwhile, and what a failover scenario reads and does: `CLUSTER NODES` from any live node
 * (failed nodes included), the primary owning a key's slot (`CLUSTER KEYSLOT`), a SIGKILL of one
 * node, and the wait for a replica's promotion.
 */
import { sleep } from './procs.mjs';
import { cli, RedisCluster } from './redis.mjs';

/**
 * Starts `primaries` × (1 + `replicas`) redis-servers joined into a cluster, every replica synced.
 * `nodeTimeoutMs` is how long a primary may be unreachable before its replica is promoted (the
 * benchmark's 15 s default is for a saturated CPU; a failover wants ~1 s).
 */
export async function startCluster({ primaries = 3, replicas = 1, nodeTimeoutMs = 1000 } = {}) {
  const cluster = await RedisCluster.start({ primaries, replicas, nodeTimeoutMs });
  // By default every node refuses every command while any slot is uncovered: one dead primary
  // would stop the whole cluster until its replica takes over, not just its own shard.
  const set = await Promise.all(cluster.servers.map((s) => cli(s.port, 'config', 'set', 'cluster-require-full-coverage', 'no')));
  if (!set.every((r) => r.trim() === 'OK')) {
    await cluster.stop();
    throw new Error(`CONFIG SET cluster-require-full-coverage no failed: ${set.join(' ')}`);
  }
  return cluster;
}

/**
 * Every node of the cluster as the first live one sees it (`CLUSTER NODES`): `{ id, port, role
 * ('primary' | 'replica'), primaryPort (replicas), slots ([from, to] ranges), failed (flagged fail
 * or fail?) }`. Empty when no node answered.
 */
export async function clusterNodes(cluster) {
  for (const s of cluster.servers.filter((x) => x.running)) {
    const nodes = await nodesSeenBy(s.port);
    if (nodes.length) return nodes;
  }
  return [];
}

/** `CLUSTER NODES` of the node on `port` (as clusterNodes()), empty when it did not answer. */
export const nodesSeenBy = async (port) => parseNodes(await cli(port, 'cluster', 'nodes'));

function parseNodes(text) {
  if (!text.trim()) return [];
  const rows = text.trim().split('\n').filter(Boolean).map((l) => l.split(' '));
  const portOf = new Map(rows.map((f) => [f[0], Number(/:(\d+)@/.exec(f[1])?.[1])]));
  return rows.map((f) => {
    const flags = f[2].split(',');
    const primary = flags.includes('master');
    return {
      id: f[0],
      port: portOf.get(f[0]),
      role: primary ? 'primary' : 'replica',
      primaryPort: primary ? null : (portOf.get(f[3]) ?? null),
      slots: f.slice(8).filter((x) => /^\d/.test(x)).map((x) => x.split('-').map(Number)).map(([a, b = a]) => [a, b]),
      failed: flags.includes('fail') || flags.includes('fail?'),
    };
  });
}

/** The hash slot of `key` as the cluster computes it (`CLUSTER KEYSLOT`, asked of the first live node). */
export async function keySlot(cluster, key) {
  const s = cluster.servers.find((x) => x.running);
  const slot = Number((await cli(s.port, 'cluster', 'keyslot', key)).trim());
  if (!Number.isInteger(slot)) throw new Error(`CLUSTER KEYSLOT ${key} gave no slot`);
  return slot;
}

/** The live primary serving `slot` among `nodes` (from clusterNodes()), or undefined. */
export const primaryOf = (nodes, slot) => nodes.find((n) => n.role === 'primary' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));

/** SIGKILLs the node on `port` (an outage, not a shutdown); resolves once it is gone. */
export async function killNode(cluster, port) {
  const s = cluster.servers.find((x) => x.port === port);
  if (!s) throw new Error(`no cluster node on ${port}`);
  await s.stop();
}

/**
 * Polls the node on `port` (its own `CLUSTER NODES`) every `everyMs` until it is a primary serving
 * slots; resolves with the time it was first seen so (ms since the epoch), or null after `ms`.
 */
export async function promoted(port, ms = 20000, everyMs = 50) {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(everyMs)) {
    const n = (await nodesSeenBy(port)).find((x) => x.port === port);
    if (n && n.role === 'primary' && n.slots.length > 0) return Date.now();
  }
  return null;
}
