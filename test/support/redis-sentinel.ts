import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, RedisServer } from './redis-server';

const run = promisify(execFile);

/**
 * A primary, one replica and three sentinels (quorum 2) on loopback, the set-up Redis Sentinel
 * needs to fail over: SIGKILL the primary and the sentinels promote the replica after
 * `downAfterMs`. Real redis-server processes, no persistence.
 */
export class RedisSentinelSet {
  private constructor(
    readonly name: string,
    readonly servers: RedisServer[],
    readonly sentinels: RedisServer[],
    private readonly dir: string,
  ) {}

  static async start({ name = 'pushgate', downAfterMs = 1000 } = {}): Promise<RedisSentinelSet> {
    const dir = mkdtempSync(join(tmpdir(), 'pushgate-sentinel-'));
    const primary = await RedisServer.start(['--repl-diskless-sync-delay', '0']);
    const replica = await RedisServer.start(['--repl-diskless-sync-delay', '0', '--replicaof', '127.0.0.1', String(primary.port)]);
    const sentinels: RedisServer[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        // Each sentinel rewrites its own file with what it learns (replicas, other sentinels, epochs).
        const file = join(dir, `sentinel-${i}-${await freePort()}.conf`);
        writeFileSync(file, [`sentinel monitor ${name} 127.0.0.1 ${primary.port} 2`, `sentinel down-after-milliseconds ${name} ${downAfterMs}`, `sentinel failover-timeout ${name} 5000`, ''].join('\n'));
        sentinels.push(await RedisServer.start(['--sentinel'], file));
      }
      const set = new RedisSentinelSet(name, [primary, replica], sentinels, dir);
      await set.settled();
      return set;
    } catch (err) {
      await Promise.all([primary, replica, ...sentinels].map((s) => s.destroy()));
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** The sentinels' addresses, comma-separated: pushgate's REDIS_URL with REDIS_SENTINEL. */
  get url(): string {
    return this.sentinels.map((s) => s.url).join(',');
  }

  /** The primary's port as the sentinels see it now. */
  async primaryPort(): Promise<number> {
    const { stdout } = await run('redis-cli', ['-p', String(this.sentinels[0]!.port), 'sentinel', 'get-master-addr-by-name', this.name], { timeout: 5000 });
    return Number(stdout.trim().split('\n')[1]);
  }

  /** Resolves once the replica is synced and every sentinel knows the primary, its replica and the other sentinels. */
  async settled(timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const primary = this.servers.find((s) => s.running && s.port !== undefined)!;
      const infos = await Promise.all(this.sentinels.map((s) => run('redis-cli', ['-p', String(s.port), 'sentinel', 'master', this.name], { timeout: 5000 }).then((r) => r.stdout, () => '')));
      const field = (info: string, key: string) => {
        const lines = info.trim().split('\n');
        const i = lines.indexOf(key);
        return i >= 0 ? lines[i + 1] : undefined;
      };
      const ok = infos.every((i) => Number(field(i, 'num-slaves')) >= 1 && Number(field(i, 'num-other-sentinels')) >= 2);
      const synced = await run('redis-cli', ['-p', String(primary.port), 'info', 'replication'], { timeout: 5000 }).then((r) => /slave0:.*state=online/.test(r.stdout), () => false);
      if (ok && synced) return;
      if (Date.now() > deadline) throw new Error(`Sentinel set not settled within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILLs the server on `port`. */
  async kill(port: number): Promise<void> {
    await this.servers.find((s) => s.port === port)!.stop('SIGKILL');
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.servers, ...this.sentinels].map((s) => s.destroy()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
