import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisServer } from './redis-server';

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  role: 'master' | 'slave';
  /** For a replica, the port of its primary. */
  primaryPort?: number;
  /** Slot ranges a primary serves, e.g. [[0, 5460]]. */
  slots: [number, number][];
}

/**
 * A real Redis Cluster on loopback: `primaries` primaries with `replicas` replicas each, every node
 * a redis-server on its own free port (no persistence), joined with `redis-cli --cluster create`.
 * Start it in a test file's beforeAll and destroy it in afterAll; a node can be SIGKILLed to make
 * its replica take over.
 */
export class RedisCluster {
  private constructor(readonly servers: RedisServer[]) {}

  static async start({ primaries = 3, replicas = 1, nodeTimeoutMs = 1000 } = {}): Promise<RedisCluster> {
    // A replica that never synced cannot take over, and by default a primary waits 5 s to batch
    // replicas into one diskless transfer: here the first sync starts at once.
    const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs), '--cluster-require-full-coverage', 'no', '--repl-diskless-sync-delay', '0'];
    const servers = await Promise.all(Array.from({ length: primaries * (1 + replicas) }, () => RedisServer.start(args)));
    const cluster = new RedisCluster(servers);
    try {
      await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30000 });
      await cluster.settled(primaries, primaries * replicas);
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /** Seed URLs, one per node (a client needs only one that is up). */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  /** The cluster as one live node sees it (`CLUSTER NODES`), failed nodes left out. */
  async nodes(): Promise<ClusterNode[]> {
    const alive = this.servers.filter((s) => s.running);
    let lastErr: unknown;
    for (const s of alive) {
      try {
        const { stdout } = await run('redis-cli', ['-p', String(s.port), 'cluster', 'nodes'], { timeout: 5000 });
        return parseNodes(stdout);
      } catch (err) {
        lastErr = err;
      }
    }
    throw new Error(`no cluster node answered: ${String(lastErr)}`);
  }

  /**
   * Resolves once every live node reports `cluster_state:ok`, with `primaries` primaries serving
   * slots and `replicas` replicas in all, each replica's link to its primary up (synced).
   */
  async settled(primaries: number, replicas: number, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        this.servers.filter((s) => s.running).map((s) => run('redis-cli', ['-p', String(s.port), 'cluster', 'info'], { timeout: 5000 }).then((r) => r.stdout, () => '')),
      );
      const ok = states.every((info) => /cluster_state:ok/.test(info));
      const nodes = ok ? await this.nodes().catch(() => []) : [];
      const p = nodes.filter((n) => n.role === 'master' && n.slots.length > 0).length;
      const replicaNodes = nodes.filter((n) => n.role === 'slave');
      const r = replicaNodes.length;
      const synced = ok && (await Promise.all(replicaNodes.map((n) => run('redis-cli', ['-p', String(n.port), 'info', 'replication'], { timeout: 5000 }).then((x) => /master_link_status:up/.test(x.stdout), () => false)))).every(Boolean);
      if (ok && p === primaries && r === replicas && synced) return;
      if (Date.now() > deadline) throw new Error(`Redis Cluster not settled within ${timeoutMs} ms: ${p} primaries, ${r} replicas, states ${states.map((i) => /cluster_state:(\w+)/.exec(i)?.[1]).join(',')}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** SIGKILLs the node on `port` (an outage: its replica takes over after the node timeout). */
  async kill(port: number): Promise<void> {
    const s = this.servers.find((x) => x.port === port);
    if (!s) throw new Error(`no cluster node on ${port}`);
    await s.stop('SIGKILL');
  }

  async destroy(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.destroy()));
  }
}

function parseNodes(text: string): ClusterNode[] {
  const lines = text.trim().split('\n').filter(Boolean);
  const byId = new Map<string, number>();
  const rows = lines.map((line) => line.split(' '));
  for (const f of rows) byId.set(f[0]!, Number(/:(\d+)@/.exec(f[1]!)?.[1]));
  return rows
    .filter((f) => !f[2]!.includes('fail') && !f[2]!.includes('noaddr'))
    .map((f) => {
      const role = f[2]!.includes('master') ? 'master' : 'slave';
      const slots = f.slice(8).filter((x) => /^\d/.test(x)).map((x) => {
        const [a, b] = x.split('-').map(Number);
        return [a!, b ?? a!] as [number, number];
      });
      const node: ClusterNode = { port: byId.get(f[0]!)!, role, slots };
      if (role === 'slave' && f[3] !== '-') node.primaryPort = byId.get(f[3]!);
      return node;
    });
}
