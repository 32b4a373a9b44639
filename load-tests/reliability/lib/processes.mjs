/*
 * The real processes a scenario runs: a private redis-server (kill -9 and restart on the same port)
 * and pushgate nodes (compiled build or source through tsx), each an OS process on 127.0.0.1 whose
 * memory is read from /proc and whose JSON log lines are kept for the figures.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../free-port.mjs';
import { log, track, until } from './common.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, '..', '..', '..');
const DIST = join(ROOT, 'load-tests', 'reliability', 'dist');
/** The bench's probe: ends a node whose runner went away (IPC disconnect), so no node is orphaned. */
const PROBE = join(ROOT, 'load-tests', 'bench', 'probe.cjs');

/** The newest modification time of the files under `dir`, in ms. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Compiles server/src into a private dist (as the bench does) and returns its entry. A dist older
 * than the sources is rebuilt even when reuse was asked for: a repro run on a stale build measures
 * code that is no longer there.
 */
export function buildServer({ build }) {
  const entry = join(DIST, 'server', 'src', 'main.js');
  const stale = !existsSync(entry) || newest(join(ROOT, 'server', 'src')) > statSync(entry).mtimeMs;
  if (build || stale) {
    log('compiling server/src into load-tests/reliability/dist (--no-build reuses it)');
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', DIST], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('tsc failed (try --source to run server/src through tsx)');
  }
  return entry;
}

/** RSS and peak RSS (VmHWM) of a process, in bytes; null once it is gone. */
export function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rss: kib('VmRSS'), peak: kib('VmHWM') };
  } catch {
    return null;
  }
}

export class RedisProc {
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.dir = mkdtempSync(join(os.tmpdir(), 'pushgate-rel-redis-'));
    this.child = null;
  }

  static async start() {
    const r = new RedisProc(await freePort());
    await r.start();
    return r;
  }

  async start() {
    if (this.child) return;
    const child = track(spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning'], { stdio: 'ignore' }));
    this.child = child;
    const up = await until(() => spawnSync('redis-cli', ['-p', String(this.port), 'ping']).stdout?.toString().trim() === 'PONG', 10000, 50);
    if (!up) throw new Error(`redis-server on ${this.port} did not start`);
  }

  /** kill -9: an outage, not a shutdown. Resolves once the process is gone. */
  async kill() {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((r) => {
      child.once('exit', r);
      child.kill('SIGKILL');
    });
  }

  async destroy() {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Counts log lines by `level message`; keeps the last lines for a failure report. */
class LogBook {
  constructor() {
    this.counts = {};
    this.lines = [];
    this.tail = '';
    this.partial = '';
  }

  feed(chunk) {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop();
    for (const line of parts) {
      this.tail = (this.tail + line + '\n').slice(-6000);
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        continue;
      }
      const key = `${rec.level} ${rec.message}`;
      this.counts[key] = (this.counts[key] ?? 0) + 1;
      // Warnings and errors are kept whole (bounded): scenarios look for reasons in them.
      if (rec.level !== 'info' && this.lines.length < 2000) this.lines.push({ ...rec, at: Date.now() });
      else if (rec.level === 'info' && this.lines.length < 2000 && /drain|shutdown|redis/.test(rec.message)) this.lines.push({ ...rec, at: Date.now() });
    }
  }
}

export class PushgateProc {
  constructor(name, child, port) {
    this.name = name;
    this.child = child;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.logs = new LogBook();
    child.stdout.on('data', (b) => this.logs.feed(b));
    child.stderr.on('data', (b) => this.logs.feed(b));
    this.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal, at: Date.now() })));
    this.exit = null;
    void this.exited.then((e) => (this.exit = e));
  }

  /**
   * Starts a node and waits for /health/live. `launch` is { entry } (compiled) or { source: true }
   * (server/src through tsx); `env` is the node's whole configuration on top of HOST/PORT.
   */
  static async start({ name, env, launch, port }) {
    const p = port ?? (await freePort());
    const flags = ['--require', PROBE];
    const args = launch.source ? [...flags, '--import', 'tsx', join(ROOT, 'server', 'src', 'main.ts')] : [...flags, launch.entry];
    const child = track(
      spawn(process.execPath, args, {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(p), NODE_ID: name, ...env },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
    );
    const node = new PushgateProc(name, child, p);
    const live = await until(async () => node.exit !== null || (await fetch(`${node.url}/health/live`).then((r) => r.ok, () => false)), 30000, 100);
    if (!live || node.exit !== null) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start: ${node.logs.tail.slice(-1500)}`);
    }
    return node;
  }

  get pid() {
    return this.child.pid;
  }

  get alive() {
    return this.exit === null;
  }

  memory() {
    return memoryOf(this.pid);
  }

  /** Sends a signal; resolves with { code, signal, at } once the process has exited. */
  kill(signal = 'SIGKILL') {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it is still there after `ms`. */
  async stop(ms = 12000) {
    if (!this.alive) return this.exit;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), ms);
    const e = await this.exited;
    clearTimeout(t);
    return e;
  }

  logCount(level, pattern) {
    let n = 0;
    for (const [k, v] of Object.entries(this.logs.counts)) if (k.startsWith(`${level} `) && pattern.test(k.slice(level.length + 1))) n += v;
    return n;
  }
}

/** Samples the RSS of some processes every `everyMs` until stopped: before / peak / after come from it. */
export class MemorySampler {
  constructor(procs, everyMs = 250) {
    this.samples = new Map(procs.map((p) => [p.name, []]));
    this.timer = setInterval(() => {
      const t = Date.now();
      for (const p of procs) {
        const m = p.alive ? p.memory() : null;
        if (m) this.samples.get(p.name).push([t, m.rss]);
      }
    }, everyMs);
  }

  stop() {
    clearInterval(this.timer);
  }

  /**
   * RSS in MiB: the last sample before `from`, the highest in [from, to), the last in [from, to)
   * (`atEnd`), and the last sample of all (`after`, once the sampler has run past `to`).
   */
  window(name, from, to) {
    const xs = this.samples.get(name) ?? [];
    const mib = (b) => (b === undefined ? null : Math.round((b / 2 ** 20) * 10) / 10);
    const before = xs.filter(([t]) => t < from).pop()?.[1];
    const during = xs.filter(([t]) => t >= from && t < to).map(([, v]) => v);
    const last = xs[xs.length - 1];
    return { before: mib(before), peak: mib(during.length ? Math.max(...during) : undefined), atEnd: mib(during[during.length - 1]), after: mib(last && last[0] >= to ? last[1] : undefined) };
  }

  /** The last RSS sample at or before `t` (default: the last of all), in MiB. */
  at(name, t = Infinity) {
    const s = (this.samples.get(name) ?? []).filter(([x]) => x <= t).pop();
    return s ? Math.round((s[1] / 2 ** 20) * 10) / 10 : null;
  }
}
