import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { API_KEYS_FOR_TESTS, TEST_JWT_SECRET } from './node';
import { freePort } from './redis-server';

const ROOT = join(__dirname, '..', '..');

/** A pushgate node in its own OS process (for SIGKILL and SIGTERM tests), run from source with tsx. */
export class ProcessNode {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {
    proc.stdout!.on('data', (b: Buffer) => (this.stdout += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (this.stderr += b.toString()));
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts `server/src/main.ts` and waits until /health/live answers (or the process exits). */
  static async start(env: Record<string, string | undefined>, opts: { bare?: boolean; waitMs?: number } = {}): Promise<ProcessNode> {
    const port = await freePort();
    const base = opts.bare
      ? {}
      : {
          NODE_ENV: 'test',
          JWT_SECRET: TEST_JWT_SECRET,
          API_KEYS: API_KEYS_FOR_TESTS,
          RATE_LIMIT_CONNECTIONS: '0',
          RATE_LIMIT_HTTP: '0',
          RATE_LIMIT_EVENTS: '0',
        };
    const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(port), ...base };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete childEnv[k];
      else childEnv[k] = v;
    }
    const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server/src/main.ts')], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const node = new ProcessNode(proc, port);
    const deadline = Date.now() + (opts.waitMs ?? 20000);
    let exited = false;
    void node.exited.then(() => (exited = true));
    while (!exited) {
      const ok = await fetch(`${node.url}/health/live`).then((r) => r.ok, () => false);
      if (ok) return node;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`node on ${port} did not become live: ${node.stderr || node.stdout}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return node;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exited;
  }
}
