#!/usr/bin/env node
/*
 * pushgate vs bare Socket.IO 4, same run, same machine. See --help and docs/benchmarks.md.
 *
 * Processes: this orchestrator (pushes over keep-alive HTTP, reads results), the servers under test
 * (each with probe.cjs preloaded so memory/CPU are read the same way), client workers
 * (client-worker.mjs, many socket.io-client connections each), an HTTP load generator
 * (http-load.mjs) and, for the cross-node case, a private redis-server. Every child is killed on
 * exit, on a signal and at the global deadline.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../free-port.mjs';
import { Pool } from 'undici';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

const HELP = `npm run bench -- [options]

Scenarios (all by default): fanout, latency, memory, http, cluster
  --only a,b            run only these scenarios
  --skip a,b            skip these scenarios
  --quick               short run: 2 repetitions, fewer messages, shorter windows (~3 min)
  --reps N              repetitions per measurement (default 5; quick 2)
  --sizes 1000,5000     fan-out room sizes (sockets), also used by the cross-node case
  --deliveries N        deliveries per fan-out repetition (default 300000; quick 60000)
  --workers N           client processes (default 4)
  --latency-room N      sockets in the latency room (default 1000)
  --latency-rate N      pushes per second in the latency test (default 10: 10,000 deliveries/s,
                        well below saturation, so queueing does not dominate)
  --latency-seconds N   length of one latency repetition (default 10; quick 5)
  --idle N              idle connections for the memory test (default 5000; quick 2000)
  --http-seconds N      length of one push-API repetition (default 8; quick 3)
  --http-connections N  keep-alive connections of the HTTP load generator (default 32)
  --profile             run the servers with node --cpu-prof (profiles in <out dir>/profiles/)
  --pushgate-env K=V    extra environment for the pushgate servers (repeatable), e.g. HISTORY_SIZE=0
  --pushgate-entry P    pushgate's compiled main.js (default: a private build in load-tests/bench/dist)
  --no-build            reuse the private build instead of compiling server/src again
  --out FILE            JSON results (default load-tests/bench/results/<date>-<mode>.json)
  --deadline-s N        hard limit for the whole run (default 1500; quick 600)
  --help                this text`;

// ---------- options ----------
function parseArgs(argv) {
  const o = { quick: false, build: true, profile: false };
  const val = (i) => {
    if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--help': case '-h': o.help = true; break;
      case '--quick': o.quick = true; break;
      case '--no-build': o.build = false; break;
      case '--profile': o.profile = true; break;
      case '--only': o.only = val(i).split(','); i++; break;
      case '--skip': o.skip = val(i).split(','); i++; break;
      case '--sizes': o.sizes = val(i).split(',').map(Number); i++; break;
      case '--out': o.out = val(i); i++; break;
      case '--pushgate-entry': o.entry = resolve(val(i)); i++; break;
      case '--pushgate-env': {
        const kv = val(i);
        if (!/^[A-Z][A-Z0-9_]*=/.test(kv)) throw new Error('--pushgate-env takes NAME=value');
        (o.pushgateEnv ??= {})[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
        i++;
        break;
      }
      case '--reps': case '--deliveries': case '--workers': case '--latency-room': case '--latency-rate':
      case '--latency-seconds': case '--idle': case '--http-seconds': case '--http-connections': case '--deadline-s': {
        const n = Number(val(i));
        if (!Number.isFinite(n) || n <= 0) throw new Error(`${a} needs a positive number`);
        o[a.slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = n;
        i++;
        break;
      }
      default: throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  const q = o.quick;
  const opts = {
    quick: q,
    build: o.build,
    profile: o.profile,
    entry: o.entry ?? null,
    pushgateEnv: o.pushgateEnv ?? {},
    reps: o.reps ?? (q ? 2 : 5),
    sizes: o.sizes ?? [1000, 5000],
    deliveries: o.deliveries ?? (q ? 60000 : 300000),
    workers: o.workers ?? 4,
    latencyRoom: o.latencyRoom ?? 1000,
    latencyRate: o.latencyRate ?? 10,
    latencySeconds: o.latencySeconds ?? (q ? 5 : 10),
    idle: o.idle ?? (q ? 2000 : 5000),
    httpSeconds: o.httpSeconds ?? (q ? 3 : 8),
    httpConnections: o.httpConnections ?? 32,
    deadlineS: o.deadlineS ?? (q ? 600 : 1500),
    help: !!o.help,
  };
  const all = ['fanout', 'latency', 'memory', 'http', 'cluster'];
  for (const s of [...(o.only ?? []), ...(o.skip ?? [])]) if (!all.includes(s)) throw new Error(`unknown scenario ${s} (${all.join(', ')})`);
  opts.scenarios = all.filter((s) => (!o.only || o.only.includes(s)) && !(o.skip ?? []).includes(s));
  if (opts.sizes.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error('--sizes takes positive integers');
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
  opts.out = resolve(o.out ?? join(HERE, 'results', `${stamp}-${q ? 'quick' : 'full'}.json`));
  return opts;
}

// ---------- helpers ----------
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const percentile = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null);

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`timeout after ${ms} ms: ${what}`)), ms)))]).finally(() => clearTimeout(t));
}


const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Raise the soft fd limit (re-exec under `ulimit -n`) when it is below what the run needs. */
function ensureFdLimit(need) {
  if (process.env.PUSHGATE_BENCH_FD) return;
  const read = (flag) => spawnSync('sh', ['-c', `ulimit ${flag}`]).stdout.toString().trim();
  const soft = read('-n');
  if (soft === 'unlimited' || Number(soft) >= need) return;
  const hard = read('-Hn');
  const target = hard === 'unlimited' ? need : Math.min(Number(hard), need);
  if (target < need) log(`warning: open-files limit ${hard} is below the ${need} this run may need; lower --sizes/--idle or raise it`);
  if (target <= Number(soft)) return;
  log(`raising the open-files limit from ${soft} to ${target}`);
  const r = spawnSync('sh', ['-c', `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, PUSHGATE_BENCH_FD: String(target) },
  });
  process.exit(r.status ?? 1);
}

// ---------- processes ----------
class ServerProc {
  constructor(name, child, port) {
    this.name = name;
    this.child = child;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.tail = '';
    this.seq = 0;
    this.pending = new Map();
    const keep = (b) => (this.tail = (this.tail + b.toString()).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('message', (m) => {
      if (m && typeof m === 'object' && this.pending.has(m.probe)) {
        this.pending.get(m.probe)(m);
        this.pending.delete(m.probe);
      }
    });
    this.exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  }

  static async start({ name, script, env, profileDir }) {
    const port = await freePort();
    const flags = ['--expose-gc', '--require', join(HERE, 'probe.cjs')];
    if (profileDir) flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`);
    const child = track(
      spawn(process.execPath, [...flags, script], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(port), ...env },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      }),
    );
    const s = new ServerProc(name, child, port);
    let gone = false;
    void s.exited.then(() => (gone = true));
    const deadline = Date.now() + 30000;
    while (!gone && Date.now() < deadline) {
      if (await fetch(`${s.url}/health/live`).then((r) => r.ok, () => false)) return s;
      await sleep(100);
    }
    child.kill('SIGKILL');
    throw new Error(`${name} did not start: ${s.tail}`);
  }

  probe(cmd = 'read') {
    const id = ++this.seq;
    return withTimeout(new Promise((r) => {
      this.pending.set(id, r);
      this.child.send({ probe: id, cmd });
    }), 15000, `${this.name} probe`);
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 12000);
    await this.exited;
    clearTimeout(t);
  }
}

class RedisProc {
  static async start() {
    const port = await freePort();
    const dir = mkdtempSync(join(os.tmpdir(), 'pushgate-bench-redis-'));
    const child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], { stdio: 'ignore' }));
    const r = new RedisProc();
    Object.assign(r, { child, port, dir, url: `redis://127.0.0.1:${port}` });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const ok = spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG';
      if (ok) return r;
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error('redis-server did not start');
  }

  info(section) {
    return spawnSync('redis-cli', ['-p', String(this.port), 'info', section]).stdout.toString();
  }

  async stop() {
    this.child.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

class Worker {
  constructor(child) {
    this.child = child;
    this.seq = 0;
    this.pending = new Map();
    child.on('message', (m) => {
      if (m?.reply !== undefined && this.pending.has(m.reply)) {
        const { resolve: ok, reject } = this.pending.get(m.reply);
        this.pending.delete(m.reply);
        if (m.ok) ok(m.result);
        else reject(new Error(m.error));
      }
    });
    child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`client worker exited (${code})`));
      this.pending.clear();
    });
  }

  static start() {
    const child = track(spawn(process.execPath, [join(HERE, 'client-worker.mjs')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    return withTimeout(new Promise((res, rej) => {
      child.once('message', (m) => (m?.ready ? res(new Worker(child)) : rej(new Error('bad worker hello'))));
      child.once('exit', (c) => rej(new Error(`client worker exited ${c}`)));
    }), 20000, 'client worker start');
  }

  call(cmd, args, ms = 60000) {
    const id = ++this.seq;
    return withTimeout(new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, ...args });
    }), ms, `worker ${cmd}`);
  }
}

class ClientPool {
  constructor(workers) {
    this.workers = workers;
  }

  async connect(group, url, total, { room = null, secret = null, userPrefix = 'u' } = {}) {
    const n = this.workers.length;
    const share = (i) => Math.floor(total / n) + (i < total % n ? 1 : 0);
    let offset = 0;
    const parts = await Promise.all(
      this.workers.map((w, i) => {
        const count = share(i);
        const args = { group, url, count, room, secret, userPrefix, offset };
        offset += count;
        return count ? w.call('connect', args, 30000 + count * 20) : { connected: 0, failed: 0, errors: {}, ms: 0 };
      }),
    );
    const connected = parts.reduce((s, p) => s + p.connected, 0);
    const failed = parts.reduce((s, p) => s + p.failed, 0);
    if (failed > 0) {
      const errors = parts.map((p) => p.errors);
      await this.close(group);
      throw new Error(`${failed} of ${total} connections to ${url} failed: ${JSON.stringify(errors)}`);
    }
    return { connected, ms: Math.max(...parts.map((p) => p.ms)) };
  }

  close(group) {
    return Promise.all(this.workers.map((w) => w.call('close', { group })));
  }

  reset(group, latency = false) {
    return Promise.all(this.workers.map((w) => w.call('reset', { group, latency })));
  }

  async wait(group, perSocket, timeoutMs) {
    const parts = await Promise.all(this.workers.map((w) => w.call('wait', { group, perSocket, timeoutMs }, timeoutMs + 10000)));
    return {
      complete: parts.every((p) => p.complete),
      received: parts.reduce((s, p) => s + p.received, 0),
      expected: parts.reduce((s, p) => s + p.expected, 0),
      last: Math.max(...parts.map((p) => p.last)),
    };
  }

  async latencies(group) {
    const parts = await Promise.all(this.workers.map((w) => w.call('stats', { group })));
    return parts.flatMap((p) => p.latency).sort((a, b) => a - b);
  }
}

// ---------- targets ----------
const JWT_SECRET = randomBytes(32).toString('base64url');
const API_KEY = `k_bench_${randomBytes(18).toString('base64url')}`;
const PAD = 'x'.repeat(64);

function pushgateEnv(nodeId, redis, prefix) {
  return {
    NODE_ENV: 'production',
    NODE_ID: nodeId,
    JWT_SECRET,
    API_KEYS: `bench:${API_KEY}:admin`,
    RATE_LIMIT_HTTP: '0',
    RATE_LIMIT_CONNECTIONS: '0',
    RATE_LIMIT_EVENTS: '0',
    LOG_LEVEL: 'warn',
    ...(redis ? { REDIS_URL: redis.url, REDIS_PREFIX: prefix } : {}),
    ...extraPushgateEnv,
  };
}

/** --pushgate-env, set once the options are parsed. */
let extraPushgateEnv = {};

/** How to talk to one kind of server: where clients connect, how a room broadcast / a push is requested. */
function target(kind, pushServer, clientServer) {
  const pg = kind === 'pushgate';
  const headers = pg ? { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` } : { 'content-type': 'application/json' };
  return {
    kind,
    pushServer,
    clientServer,
    clientUrl: clientServer.url,
    secret: pg ? JWT_SECRET : null,
    pool: new Pool(pushServer.url, { connections: 8, keepAliveTimeout: 60000 }),
    broadcast: (room, data) => ({ path: pg ? `/api/v1/rooms/${encodeURIComponent(room)}/broadcast` : `/rooms/${encodeURIComponent(room)}/broadcast`, method: 'POST', headers, body: JSON.stringify({ event: 'bench', data }) }),
    pushPath: pg ? '/api/v1/push' : '/push',
    headers,
  };
}

async function request(t, opts) {
  const res = await t.pool.request(opts);
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`${t.kind} ${opts.path} → ${res.statusCode} ${text.slice(0, 200)}`);
}

/** Pushes `count` broadcasts to `room`, `concurrency` in flight, each carrying its send time. */
async function pushMany(t, room, count, concurrency) {
  let i = 0;
  const lane = async () => {
    while (i < count) {
      const n = i++;
      await request(t, t.broadcast(room, { n, t: now(), pad: PAD }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** Alternates the order of the two targets between repetitions so neither always goes first. */
async function alternate(targets, reps, fn) {
  const out = Object.fromEntries(targets.map((t) => [t.kind, []]));
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) out[t.kind].push(await fn(t, r));
  }
  return out;
}

// ---------- scenarios ----------
async function fanout(ctx, targets, sizes, label) {
  const results = {};
  for (const size of sizes) {
    const room = `bench:fan-${size}`;
    const messages = Math.max(5, Math.round(ctx.o.deliveries / size));
    for (const t of targets) {
      const c = await ctx.pool.connect(`${label}-${t.kind}-${size}`, t.clientUrl, size, { room, secret: t.secret, userPrefix: `f${size}-` });
      log(`${label} ${t.kind}: ${c.connected} sockets in ${room} (${Math.round(c.ms)} ms)`);
    }
    // An unmeasured warm-up burst per server first: the first repetition would otherwise also
    // measure JIT compilation and first-use allocations (visible in short --quick runs).
    for (const t of targets) {
      const group = `${label}-${t.kind}-${size}`;
      const warm = Math.max(5, Math.round(messages / 5));
      await ctx.pool.reset(group);
      const waiting = ctx.pool.wait(group, warm, 30000);
      await pushMany(t, room, warm, 4);
      await waiting;
    }
    results[size] = await alternate(targets, ctx.o.reps, async (t) => {
      const group = `${label}-${t.kind}-${size}`;
      await ctx.pool.reset(group);
      const servers = [...new Set([t.pushServer, t.clientServer])];
      const cpu0 = await Promise.all(servers.map((s) => s.probe()));
      const redis0 = ctx.redis ? parseCommandStats(ctx.redis.info('commandstats')) : null;
      const timeoutMs = Math.max(30000, (size * messages) / 10);
      const t0 = now();
      const waiting = ctx.pool.wait(group, messages, timeoutMs);
      await pushMany(t, room, messages, 4);
      const w = await waiting;
      const cpu1 = await Promise.all(servers.map((s) => s.probe()));
      const seconds = (w.last - t0) / 1000;
      const cpuEach = Object.fromEntries(servers.map((s, i) => [s.name, (cpu1[i].cpuUser + cpu1[i].cpuSystem - cpu0[i].cpuUser - cpu0[i].cpuSystem) / 1000]));
      const cpuMs = Object.values(cpuEach).reduce((a, b) => a + b, 0);
      const r = { rate: w.received / seconds, delivered: w.received, expected: w.expected, complete: w.complete, seconds, pushes: messages, serverCpuMs: cpuMs, serverCpuMsEach: cpuEach, cpuUsPerDelivery: (cpuMs * 1000) / w.received };
      if (redis0) r.redisCallsPerPush = diffStats(redis0, parseCommandStats(ctx.redis.info('commandstats')), messages);
      log(`${label} ${size} ${t.kind}: ${Math.round(r.rate)} deliveries/s (${w.received}/${w.expected} in ${seconds.toFixed(2)} s, server CPU ${r.cpuUsPerDelivery.toFixed(2)} µs/delivery)`);
      return r;
    });
    for (const t of targets) await ctx.pool.close(`${label}-${t.kind}-${size}`);
    await sleep(500);
  }
  return results;
}

async function latency(ctx, targets) {
  const { latencyRoom: size, latencyRate: rate, latencySeconds: secs } = ctx.o;
  const room = 'bench:latency';
  for (const t of targets) await ctx.pool.connect(`lat-${t.kind}`, t.clientUrl, size, { room, secret: t.secret, userPrefix: 'lat-' });
  const res = await alternate(targets, ctx.o.reps, async (t) => {
    const group = `lat-${t.kind}`;
    await ctx.pool.reset(group, true);
    const total = Math.round(rate * secs);
    const period = 1000 / rate;
    const start = performance.now();
    const sends = [];
    for (let i = 0; i < total; i++) {
      const wait = start + i * period - performance.now();
      if (wait > 0) await sleep(wait);
      sends.push(request(t, t.broadcast(room, { n: i, t: now(), pad: PAD })));
    }
    await Promise.all(sends);
    const w = await ctx.pool.wait(group, total, 20000);
    const lat = await ctx.pool.latencies(group);
    const r = { p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1], samples: lat.length, complete: w.complete };
    log(`latency ${t.kind}: p50 ${r.p50?.toFixed(2)} ms, p99 ${r.p99?.toFixed(2)} ms (${r.samples} samples)`);
    return r;
  });
  for (const t of targets) await ctx.pool.close(`lat-${t.kind}`);
  return res;
}

async function memory(ctx, starters) {
  const n = ctx.o.idle;
  return alternate(starters, Math.max(2, Math.min(ctx.o.reps, 3)), async (st) => {
    const server = await st.start();
    try {
      await sleep(1000);
      const before = await server.probe('gc');
      const group = `idle-${st.kind}`;
      await ctx.pool.connect(group, server.url, n, { secret: st.kind === 'pushgate' ? JWT_SECRET : null, userPrefix: 'idle-' });
      await sleep(2000);
      const after = await server.probe('gc');
      await ctx.pool.close(group);
      const r = { rssPerConn: (after.rss - before.rss) / n, heapPerConn: (after.heapUsed - before.heapUsed) / n, rssBefore: before.rss, rssAfter: after.rss, gc: after.gc };
      log(`memory ${st.kind}: ${(r.rssPerConn / 1024).toFixed(1)} KiB RSS, ${(r.heapPerConn / 1024).toFixed(1)} KiB heap per idle connection (${n})`);
      return r;
    } finally {
      await server.stop();
    }
  });
}

async function httpApi(ctx, targets) {
  return alternate(targets, ctx.o.reps, async (t) => {
    const opts = {
      url: t.pushServer.url,
      path: t.pushPath,
      headers: t.headers,
      body: { users: ['bench-http-nobody'], event: 'bench', data: { n: 1, pad: PAD } },
      connections: ctx.o.httpConnections,
      seconds: ctx.o.httpSeconds,
      warmupSeconds: 1,
    };
    const child = track(spawn(process.execPath, [join(HERE, 'http-load.mjs'), JSON.stringify(opts)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    const code = await withTimeout(new Promise((r) => child.once('exit', r)), (ctx.o.httpSeconds + 30) * 1000, 'http load generator');
    if (code !== 0) throw new Error(`http load generator exited ${code}`);
    const r = JSON.parse(out.trim().split('\n').pop());
    log(`push API ${t.kind}: ${Math.round(r.rps)} req/s, p50 ${r.p50Ms?.toFixed(2)} ms, p99 ${r.p99Ms?.toFixed(2)} ms, non-2xx ${r.non2xx}, errors ${r.errors}`);
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${t.kind} push API answered ${r.non2xx} non-2xx and ${r.errors} errors`);
    return r;
  });
}

// ---------- report ----------
function summarise(res, o) {
  const rows = [];
  const fmt = (x, d = 0) => (x === null || x === undefined ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  const add = (metric, key, pgXs, bareXs, { digits = 0, target = null, higherIsBetter = true, unit = '' } = {}) => {
    const pg = median(pgXs);
    const bare = median(bareXs);
    const ratio = pg !== null && bare ? pg / bare : null;
    const pass = target === null || ratio === null ? null : higherIsBetter ? ratio >= target : ratio <= target;
    rows.push({ metric, key, unit, pushgate: pg, bare, ratio, target: target === null ? null : `${higherIsBetter ? '≥' : '≤'} ${target}`, pass, pgSamples: pgXs, bareSamples: bareXs, digits });
  };
  const pick = (xs, f) => (xs ?? []).map(f);
  for (const size of o.sizes) {
    const f = res.fanout?.[size];
    if (f) add(`Fan-out, room of ${size.toLocaleString('en-US')} (deliveries/s)`, `fanout.${size}`, pick(f.pushgate, (r) => r.rate), pick(f.bare, (r) => r.rate), { target: 0.95 });
  }
  if (res.latency) {
    add(`Push→receive p50 (ms), ${o.latencyRate}/s to ${o.latencyRoom}`, 'latency.p50', pick(res.latency.pushgate, (r) => r.p50), pick(res.latency.bare, (r) => r.p50), { digits: 2, higherIsBetter: false });
    add(`Push→receive p99 (ms), ${o.latencyRate}/s to ${o.latencyRoom}`, 'latency.p99', pick(res.latency.pushgate, (r) => r.p99), pick(res.latency.bare, (r) => r.p99), { digits: 2, higherIsBetter: false });
  }
  if (res.memory) {
    add(`Memory per idle connection (KiB RSS, ${o.idle.toLocaleString('en-US')} conns)`, 'memory.rss', pick(res.memory.pushgate, (r) => r.rssPerConn / 1024), pick(res.memory.bare, (r) => r.rssPerConn / 1024), { digits: 1, target: 1.1, higherIsBetter: false });
    add('Memory per idle connection (KiB heap used)', 'memory.heap', pick(res.memory.pushgate, (r) => r.heapPerConn / 1024), pick(res.memory.bare, (r) => r.heapPerConn / 1024), { digits: 1, higherIsBetter: false });
  }
  if (res.http) add('Push API (requests/s)', 'http.rps', pick(res.http.pushgate, (r) => r.rps), pick(res.http.bare, (r) => r.rps), { target: 0.5 });
  for (const size of o.sizes) {
    const f = res.cluster?.[size];
    if (f) add(`Cross-node fan-out via Redis, ${size.toLocaleString('en-US')} on B (deliveries/s)`, `cluster.${size}`, pick(f.pushgate, (r) => r.rate), pick(f.bare, (r) => r.rate), { target: 0.9 });
  }
  for (const size of o.sizes) {
    const f = res.fanout?.[size];
    if (f) add(`Server CPU per delivery, room of ${size.toLocaleString('en-US')} (µs)`, `cpu.${size}`, pick(f.pushgate, (r) => r.cpuUsPerDelivery), pick(f.bare, (r) => r.cpuUsPerDelivery), { digits: 2, higherIsBetter: false });
  }
  const nodeB = (r) => (r.serverCpuMsEach ? (Object.entries(r.serverCpuMsEach).find(([k]) => k.endsWith('-B'))?.[1] ?? NaN) * 1000 / r.delivered : NaN);
  for (const size of o.sizes) {
    const f = res.cluster?.[size];
    if (f) add(`Cross-node: node B CPU per delivery, ${size.toLocaleString('en-US')} (µs)`, `cpuB.${size}`, pick(f.pushgate, nodeB), pick(f.bare, nodeB), { digits: 2, higherIsBetter: false });
  }
  const table = [
    '| measurement | pushgate (median) | bare Socket.IO (median) | ratio pushgate/bare | target | met |',
    '|---|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${r.metric} | ${fmt(r.pushgate, r.digits)} | ${fmt(r.bare, r.digits)} | ${r.ratio === null ? 'n/a' : r.ratio.toFixed(2)} | ${r.target ?? '—'} | ${r.pass === null ? '—' : r.pass ? 'yes' : '**no**'} |`),
  ].join('\n');
  return { rows, table };
}

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

// ---------- main ----------
async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${HELP}\n`);
    process.exit(2);
  }
  extraPushgateEnv = o.pushgateEnv;
  if (o.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  ensureFdLimit(Math.max(...o.sizes, o.idle, o.latencyRoom) * 2 + 2048);

  const deadline = setTimeout(() => {
    log(`deadline of ${o.deadlineS} s reached: stopping everything`);
    killAll();
    process.exit(3);
  }, o.deadlineS * 1000);
  const onSignal = (sig) => {
    log(`${sig}: stopping everything`);
    killAll();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killAll);

  let entry = o.entry ?? join(HERE, 'dist', 'server', 'src', 'main.js');
  if (!o.entry && (o.build || !existsSync(entry))) {
    log('compiling server/src into load-tests/bench/dist (private build; --no-build reuses it)');
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', join(HERE, 'dist')], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('tsc failed');
  }
  if (!existsSync(entry)) throw new Error(`pushgate entry ${entry} does not exist`);
  const source = sourceVersion(o);
  const bareScript = join(HERE, 'bare-server.mjs');
  const profileDir = o.profile ? join(dirname(o.out), 'profiles') : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const loads = [];
  const loadTimer = setInterval(() => loads.push(os.loadavg()[0]), 2000);
  const startLoad = os.loadavg();
  const started = new Date();
  log(`machine: ${JSON.stringify(machine())}; load average at start ${startLoad.map((x) => x.toFixed(2)).join(' ')}`);
  log(`scenarios: ${o.scenarios.join(', ')}; reps ${o.reps}; sizes ${o.sizes.join(',')}; workers ${o.workers}`);

  const workers = await Promise.all(Array.from({ length: o.workers }, () => Worker.start()));
  const ctx = { o, pool: new ClientPool(workers) };
  const results = {};
  const servers = [];
  const stopAll = async () => {
    await Promise.allSettled(servers.splice(0).map((s) => s.stop()));
  };

  try {
    const single = ['fanout', 'latency', 'http'].filter((s) => o.scenarios.includes(s));
    if (single.length) {
      const pg = await ServerProc.start({ name: 'pushgate', script: entry, env: pushgateEnv('bench-pg'), profileDir });
      const bare = await ServerProc.start({ name: 'bare', script: bareScript, env: {}, profileDir });
      servers.push(pg, bare);
      const targets = [target('pushgate', pg, pg), target('bare', bare, bare)];
      if (o.scenarios.includes('fanout')) results.fanout = await fanout(ctx, targets, o.sizes, 'fanout');
      if (o.scenarios.includes('latency')) results.latency = await latency(ctx, targets);
      if (o.scenarios.includes('http')) results.http = await httpApi(ctx, targets);
      await Promise.all(targets.map((t) => t.pool.close()));
      await stopAll();
    }
    if (o.scenarios.includes('memory')) {
      results.memory = await memory(ctx, [
        { kind: 'pushgate', start: () => ServerProc.start({ name: 'pushgate-mem', script: entry, env: pushgateEnv('bench-pg-mem') }) },
        { kind: 'bare', start: () => ServerProc.start({ name: 'bare-mem', script: bareScript, env: {} }) },
      ]);
    }
    if (o.scenarios.includes('cluster')) {
      const redis = await RedisProc.start();
      try {
        const prefix = `bench${process.pid}`;
        const pgA = await ServerProc.start({ name: 'pushgate-A', script: entry, env: pushgateEnv('bench-pg-A', redis, prefix), profileDir });
        const pgB = await ServerProc.start({ name: 'pushgate-B', script: entry, env: pushgateEnv('bench-pg-B', redis, prefix), profileDir });
        const bareEnv = { REDIS_URL: redis.url, REDIS_KEY: `bare${process.pid}#io` };
        const bareA = await ServerProc.start({ name: 'bare-A', script: bareScript, env: bareEnv, profileDir });
        const bareB = await ServerProc.start({ name: 'bare-B', script: bareScript, env: bareEnv, profileDir });
        servers.push(pgA, pgB, bareA, bareB);
        const targets = [target('pushgate', pgA, pgB), target('bare', bareA, bareB)];
        ctx.redis = redis;
        results.cluster = await fanout(ctx, targets, o.sizes, 'cluster');
        ctx.redis = null;
        await Promise.all(targets.map((t) => t.pool.close()));
        await stopAll();
      } finally {
        await redis.stop();
      }
    }
  } finally {
    clearInterval(loadTimer);
    await stopAll();
    for (const w of workers) w.child.disconnect?.();
  }

  const summary = summarise(results, o);
  const endLoad = os.loadavg();
  const report = {
    date: started.toISOString(),
    durationS: Math.round((Date.now() - started.getTime()) / 1000),
    command: `npm run bench --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machine(),
    source,
    loadAverage: { start: startLoad, end: endLoad, samples1m: loads, min: Math.min(...loads), median: median(loads), max: Math.max(...loads) },
    options: o,
    rows: summary.rows,
    results,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${summary.table}\n\n`);
  process.stdout.write(`machine: ${report.machine.nproc} cores, ${report.machine.cpuModel}, ${report.machine.memoryGiB} GiB, Node ${report.machine.node}\n`);
  process.stdout.write(`load average (1 min) during the run: min ${report.loadAverage.min?.toFixed(2)}, median ${report.loadAverage.median?.toFixed(2)}, max ${report.loadAverage.max?.toFixed(2)}\n`);
  process.stdout.write(`results: ${relative(process.cwd(), o.out)}${profileDir ? `; CPU profiles: ${relative(process.cwd(), profileDir)}` : ''}\n`);
  clearTimeout(deadline);
}

/** Redis commands per push during one repetition (heartbeats of the idle nodes included, a few per second). */
function diffStats(before, after, pushes) {
  const out = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0 && k !== 'info') out[k] = Math.round((d / pushes) * 100) / 100;
  }
  return out;
}

/** Which code was measured: the commit, and whether server/src differed from it when the run began. */
function sourceVersion(o) {
  const git = (...a) => spawnSync('git', a, { cwd: ROOT }).stdout?.toString().trim() ?? '';
  return { commit: git('rev-parse', 'HEAD') || null, serverSrcDirty: git('status', '--porcelain', '--', 'server/src') !== '', pushgateEntry: relative(ROOT, o.entry ?? join(HERE, 'dist', 'server', 'src', 'main.js')) };
}

function parseCommandStats(text) {
  const out = {};
  for (const m of text.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) out[m[1]] = Number(m[2]);
  return out;
}

main().then(
  () => process.exit(0),
  (err) => {
    log(`failed: ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);
