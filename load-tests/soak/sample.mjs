/*
 * What the soak samples every few seconds: each node's memory and sockets from its /metrics, and
 * Redis as a whole (DBSIZE, used_memory) and per key family under the run's prefix.
 */
import { createClient } from 'redis';

/** One value of a Prometheus text exposition (labels ignored; the first series wins). */
export function metricValue(text, name) {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+([-+0-9.eE]+|NaN)\\s*$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

export async function readNode(node, token) {
  const res = await fetch(`${node.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`${node.name} /metrics answered ${res.status}`);
  const text = await res.text();
  return {
    rss: metricValue(text, 'pushgate_process_resident_memory_bytes'),
    heapUsed: metricValue(text, 'pushgate_nodejs_heap_size_used_bytes'),
    sockets: metricValue(text, 'pushgate_connected_sockets'),
    eventLoopLagP99: metricValue(text, 'pushgate_nodejs_eventloop_lag_p99_seconds'),
  };
}

/**
 * The key family of `key` (layout: server/src/cluster/redis-keys.ts): sock, node, user, room,
 * roomu, hist, hmeta, part (a push's per-stream marker), msg, the cluster-wide users, rooms, nodes
 * and owners, and rl.
 */
export function familyOf(prefix, key) {
  const rest = key.slice(prefix.length + 1);
  if (rest.startsWith('{g}:')) return rest.slice(4).split(':')[0];
  if (rest.startsWith('rl:')) return 'rl';
  const kind = /^\{([a-z]):/.exec(rest)?.[1];
  if (kind === 'm') return 'msg';
  if (kind === 's') return 'sock';
  if (kind === 'n') return 'node';
  if (kind === 'u' || kind === 'r') {
    // Names may hold ':' and '}', so the family is read from the end.
    if (/\}:id:/.test(rest)) return 'part';
    if (rest.endsWith(':hmeta')) return 'hmeta';
    if (rest.endsWith(':hist')) return 'hist';
    if (rest.endsWith(':users')) return 'roomu';
    return kind === 'u' ? 'user' : 'room';
  }
  return rest.split(':')[0];
}

export class RedisSampler {
  constructor(url, prefix) {
    this.prefix = prefix;
    this.client = createClient({ url, socket: { reconnectStrategy: (n) => (n > 20 ? false : 200) } });
    this.client.on('error', () => {});
  }

  connect() {
    return this.client.connect();
  }

  /** Keys per family (a full SCAN of the prefix) and the longest history stream. */
  async families() {
    // SCAN may return a key twice (while Redis rehashes): count distinct keys.
    const seen = new Set();
    for await (const keys of this.client.scanIterator({ MATCH: `${this.prefix}:*`, COUNT: 1000 })) for (const k of keys) seen.add(k);
    const counts = {};
    const hist = [];
    for (const k of seen) {
      const f = familyOf(this.prefix, k);
      counts[f] = (counts[f] ?? 0) + 1;
      if (f === 'hist') hist.push(k);
    }
    let maxXlen = 0;
    for (let i = 0; i < hist.length; i += 200) {
      const lens = await Promise.all(hist.slice(i, i + 200).map((k) => this.client.xLen(k).catch(() => 0)));
      for (const l of lens) maxXlen = Math.max(maxXlen, Number(l));
    }
    return { counts, maxXlen };
  }

  async info() {
    const [dbsize, mem] = await Promise.all([this.client.dbSize(), this.client.info('memory')]);
    const used = /used_memory:(\d+)/.exec(mem);
    return { dbsize: Number(dbsize), usedMemory: used ? Number(used[1]) : null };
  }

  async close() {
    await this.client.close().catch(() => this.client.destroy());
  }
}

/**
 * Least-squares slope of `points` ([minutes, value]) in value per minute; null with fewer than 3.
 */
export function slope(points) {
  const pts = points.filter(([, v]) => Number.isFinite(v));
  if (pts.length < 3) return null;
  const n = pts.length;
  const mx = pts.reduce((a, [x]) => a + x, 0) / n;
  const my = pts.reduce((a, [, y]) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of pts) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx === 0 ? null : sxy / sxx;
}
