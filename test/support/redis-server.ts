import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port the OS says is free right now (bind to 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A real redis-server on a free loopback port, no persistence. `stop()` and `start()` again keep the
 * same port, so tests can take Redis away under running nodes and bring it back.
 */
export class RedisServer {
  private proc: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'pushgate-redis-'));

  /**
   * @param extraArgs more redis-server arguments (a Redis Cluster node's, say).
   * @param configFile a config file to start from (a sentinel's, which Redis rewrites as it learns).
   */
  private constructor(
    readonly port: number,
    private readonly extraArgs: string[] = [],
    private readonly configFile: string | null = null,
  ) {}

  static async start(extraArgs: string[] = [], configFile: string | null = null): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), extraArgs, configFile);
    await server.start();
    return server;
  }


  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    const proc = spawn(
      'redis-server',
      [...(this.configFile ? [this.configFile] : []), '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning', ...this.extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (b: Buffer) => {
        out += b.toString();
        if (/Ready to accept connections/i.test(out)) {
          proc.stdout!.off('data', onData);
          resolve();
        }
      };
      // --loglevel warning still prints the readiness line at notice level in Redis 7; fall back to a ping loop.
      proc.stdout!.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
      proc.once('error', reject);
      void waitForPort(this.port).then(resolve, reject);
    });
    proc.stdout!.resume();
    proc.stderr!.resume();
  }

  /** Whether the process is up (started and not stopped). */
  get running(): boolean {
    return this.proc !== null;
  }

  /** SIGKILL by default: an outage, not a polite shutdown. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function waitForPort(port: number, timeoutMs = 10000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.write('PING\r\n');
        s.once('data', (d) => {
          s.destroy();
          resolve(d.toString().startsWith('+PONG'));
        });
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
