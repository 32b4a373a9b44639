/*
 * The soak's processes: a private redis-server and pushgate nodes run from source, all on
 * 127.0.0.1 and free ports. Every child is registered, killed on exit and on a signal, and watched
 * by a detached watchdog that kills them if this orchestrator itself is SIGKILLed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../free-port.mjs';

/**
 * The benchmark's probe, preloaded into each node: over the IPC channel it answers memory readings
 * and, on request, runs a full GC first (so the soak can read the heap that survives a collection);
 * it also ends the node when this orchestrator goes away.
 */
const PROBE = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench', 'probe.cjs');

const children = new Set();
/** Redis data directories to remove on the way out (a signal, the deadline). */
const dirs = new Set();
/** Every pid this run started (ended or not), for the report and for the CI test's "every process ended". */
export const startedPids = [];
let watchdog = null;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function track(child, name) {
  children.add(child);
  startedPids.push({ name, pid: child.pid });
  child.once('exit', () => children.delete(child));
  refreshWatchdog();
  return child;
}

/** SIGKILL whatever is still running (exit paths, signals, the deadline). */
export function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  if (watchdog) {
    try {
      watchdog.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    watchdog = null;
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

/*
 * A detached process that polls this one: if the orchestrator disappears without running its exit
 * handlers (SIGKILL, OOM), the watchdog kills the children it was told about and ends.
 */
const WATCHDOG = `
const [parent, ...pids] = process.argv.slice(1).map(Number);
const alive = (p) => { try { process.kill(p, 0); return true; } catch { return false; } };
setInterval(() => {
  if (alive(parent)) return;
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch {} }
  process.exit(0);
}, 500);
`;

function refreshWatchdog() {
  const pids = [...children].map((c) => c.pid).filter(Boolean);
  if (watchdog) {
    try {
      watchdog.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  watchdog = spawn(process.execPath, ['-e', WATCHDOG, String(process.pid), ...pids.map(String)], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

/** Children that have not exited yet (the report's "every process ended" reads this after teardown). */
export function stillRunning() {
  return [...children].map((c) => c.pid);
}

export class RedisProc {
  static async start() {
    const port = await freePort();
    const dir = mkdtempSync(join(os.tmpdir(), 'pushgate-soak-redis-'));
    dirs.add(dir);
    const child = track(
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], { stdio: 'ignore' }),
      'redis-server',
    );
    const r = new RedisProc();
    Object.assign(r, { child, port, dir, url: `redis://127.0.0.1:${port}` });
    r.exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      if (spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG') return r;
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error('redis-server did not start');
  }

  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
    rmSync(this.dir, { recursive: true, force: true });
    dirs.delete(this.dir);
  }
}

/** A pushgate node: `node --import tsx server/src/main.ts`, as `npm start` runs it from source. */
export class NodeProc {
  constructor(name, child, port) {
    this.name = name;
    this.child = child;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.tail = '';
    /** Log lines at warn or error (production logs are JSON, one per line). */
    this.warnings = [];
    this.warningCount = 0;
    this.errorCount = 0;
    this.stopping = false;
    this.seq = 0;
    this.pending = new Map();
    child.on('message', (m) => {
      if (m && typeof m === 'object' && this.pending.has(m.probe)) {
        this.pending.get(m.probe)(m);
        this.pending.delete(m.probe);
      }
    });
    let partial = '';
    const onData = (b) => {
      const s = b.toString();
      this.tail = (this.tail + s).slice(-4000);
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) this.noteLine(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    this.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })));
  }

  noteLine(line) {
    if (!line.trim()) return;
    let level;
    try {
      level = JSON.parse(line).level ?? null;
    } catch {
      level = /error/i.test(line) ? 'error' : null;
    }
    if (level === 'warn') this.warningCount += 1;
    else if (level === 'error') this.errorCount += 1;
    else return;
    if (this.warnings.length < 20) this.warnings.push(line.slice(0, 400));
  }

  static async start({ name, root, env }) {
    const port = await freePort();
    const child = track(
      spawn(process.execPath, ['--expose-gc', '--require', PROBE, '--import', 'tsx', join(root, 'server/src/main.ts')], {
        cwd: root,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(port), ...env },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
      name,
    );
    const n = new NodeProc(name, child, port);
    let gone = false;
    void n.exited.then(() => (gone = true));
    const deadline = Date.now() + 60000;
    while (!gone && Date.now() < deadline) {
      if (await fetch(`${n.url}/health/ready`).then((r) => r.ok, () => false)) return n;
      await sleep(100);
    }
    child.kill('SIGKILL');
    throw new Error(`${name} did not become ready: ${n.tail}`);
  }

  /** `cmd` 'gc': full collections first, then { rss, heapUsed, … } as the process sees them. */
  probe(cmd = 'read', timeoutMs = 10000) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no probe answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      try {
        this.child.send({ probe: id, cmd });
      } catch (err) {
        clearTimeout(t);
        this.pending.delete(id);
        reject(err);
      }
    });
  }

  get alive() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM (the graceful drain), SIGKILL after `graceMs`; answers how it ended. */
  async stop(graceMs = 15000) {
    this.stopping = true;
    if (this.alive) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const r = await this.exited;
    clearTimeout(t);
    return r;
  }
}
