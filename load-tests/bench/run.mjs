#!/usr/bin/env node
/*
 * pushgate side by side with its peers, same run, same machine. See --help and docs/benchmarks.md.
 *
 * Peers (each started here on a free loopback port, stopped at the end):
 *   ws         raw-ws-server.mjs: `ws` upgrades, one pre-built frame written to every socket ("the Node limit")
 *   bare       bare-server.mjs: Express + Socket.IO 4
 *   nchan      nginx + the Nchan module (nchan-server.mjs), one worker
 *   pushgate   one pushgate node (private build of server/src)
 *   pushgate2  two pushgate nodes through a private redis-server: clients on B, pushes to A
 *   bare2      two bare Socket.IO nodes through the same Redis (redis-adapter), same placement
 *
 * Scenario multicore: one pushgate (and one bare Socket.IO) node per allowed CPU through Redis,
 * against one node, on one box as PM2 cluster mode or node:cluster would run them (see --help).
 *
 * Processes: this orchestrator (the publisher: pushes over keep-alive HTTP, reads results), the
 * servers under test (Node ones with probe.cjs preloaded), subscriber processes (wire-subscriber.mjs
 * by default, raw TCP + a minimal WebSocket parser; or client-worker.mjs with socket.io-client), an
 * HTTP load generator (http-load.mjs) and redis-server. With ≥ 2 CPUs the servers run on the last
 * one and everything else on the others (taskset). CPU time and write syscalls of every process
 * are read from /proc before and after each measured repetition. Every child is killed on exit, on
 * a signal and at the global deadline.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { freePort } from '../free-port.mjs';
import { answersWithin, diffSnapshot, guardRun, median, percentile, pinProcess, placement, removeTempDir, runMain, sleep, snapshot, tempDir, track, watchChild, withTimeout } from '../lib/procs.mjs';
import { ensureNchan, NchanProc } from './nchan-server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

const PEERS = ['ws', 'bare', 'nchan', 'pushgate', 'pushgate2', 'bare2'];
const CLUSTER_PEERS = ['pushgate2', 'bare2'];
const PEER_LABEL = {
  ws: 'raw ws',
  bare: 'bare Socket.IO',
  nchan: 'nginx + Nchan',
  pushgate: 'pushgate',
  pushgate2: 'pushgate, 2 nodes via Redis',
  bare2: 'bare Socket.IO, 2 nodes via Redis',
};

const HELP = `npm run bench -- [options]

Peers (all by default): ${PEERS.join(', ')}
  --peers a,b           compare only these peers (pushgate2 and bare2: two nodes through Redis,
                        clients on node B, pushes to node A)
  --clients wire|sio    subscriber processes: wire = raw TCP + minimal WebSocket parser
                        (wire-subscriber.mjs, default), sio = socket.io-client (client-worker.mjs;
                        ws and nchan need wire and are left out)

Scenarios (all by default): fanout, latency, memory, http, cluster, multicore
  (fanout: ws, bare, nchan, pushgate; cluster: the same fan-out for pushgate2 and bare2;
   latency: every peer of fanout and cluster; memory: the single-node peers; http: pushgate, bare;
   multicore: pushgate and bare, one node per allowed CPU through Redis against one node)
  multicore             fan-out of --sizes, max(reps, 3) interleaved repetitions, four configs:
                        pushgate ×1 / bare ×1: one node, no Redis, not pinned; pushgate ×N /
                        bare ×N: N = allowed CPUs nodes through one redis-server, node i pinned to
                        CPU i, subscribers split evenly over the nodes, broadcasts to node 0.
                        Subscribers and publisher are not pinned away from the nodes here: they
                        share the cores, so it says what one box gives end to end, not the
                        server's ceiling. Needs ≥ 2 CPUs; --no-pin leaves the ×N nodes unpinned.
                        Part of the default run (~2 of its ~12 min on 2 cores); --skip multicore
                        leaves it out, --only multicore runs it alone.
  --only a,b            run only these scenarios
  --skip a,b            skip these scenarios
  --quick               short run: 3 repetitions, fewer messages, shorter windows (~3 min)
  --reps N              repetitions per measurement (default 5; quick 3); memory: min(reps, 3)
  --sizes 1000,5000     fan-out room sizes (subscribers)
  --deliveries N        deliveries per fan-out repetition (default 300000; quick 60000)
  --concurrency N       broadcasts in flight while bursting (default 4)
  --workers N           subscriber processes (default 4)
  --latency-room N      subscribers in the latency room (default 1000)
  --latency-rate N      pushes per second in the latency test (default 10: 10,000 deliveries/s,
                        well below saturation, so queueing does not dominate)
  --latency-seconds N   length of one latency repetition (default 10; quick 4)
  --idle N              idle connections for the memory test (default 5000; quick 2000)
  --http-seconds N      length of one push-API repetition (default 8; quick 3)
  --http-connections N  keep-alive connections of the HTTP load generator (default 32)
  --no-pin              do not pin servers and clients to separate CPUs
  --profile             run the Node servers with node --cpu-prof (profiles in <out dir>/profiles/)
  --pushgate-env K=V    extra environment for the pushgate servers (repeatable), e.g. HISTORY_SIZE=0
  --pushgate-entry P    pushgate's compiled main.js (default: a private build in load-tests/bench/dist)
  --no-build            reuse the private build instead of compiling server/src again
  --out FILE            JSON results (default load-tests/bench/results/<date>-<mode>.json)
  --deadline-s N        hard limit for the whole run (default 1800; quick 600)
  --help                this text`;

// ---------- options ----------
function parseArgs(argv) {
  const o = { quick: false, build: true, profile: false, pin: true };
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
      case '--no-pin': o.pin = false; break;
      case '--profile': o.profile = true; break;
      case '--only': o.only = val(i).split(','); i++; break;
      case '--skip': o.skip = val(i).split(','); i++; break;
      case '--peers': o.peers = val(i).split(','); i++; break;
      case '--clients': o.clients = val(i); i++; break;
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
      case '--reps': case '--deliveries': case '--workers': case '--latency-room': case '--latency-rate': case '--concurrency':
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
    pin: o.pin,
    profile: o.profile,
    entry: o.entry ?? null,
    pushgateEnv: o.pushgateEnv ?? {},
    clients: o.clients ?? 'wire',
    reps: o.reps ?? (q ? 3 : 5),
    sizes: o.sizes ?? [1000, 5000],
    deliveries: o.deliveries ?? (q ? 60000 : 300000),
    concurrency: o.concurrency ?? 4,
    workers: o.workers ?? 4,
    latencyRoom: o.latencyRoom ?? 1000,
    latencyRate: o.latencyRate ?? 10,
    latencySeconds: o.latencySeconds ?? (q ? 4 : 10),
    idle: o.idle ?? (q ? 2000 : 5000),
    httpSeconds: o.httpSeconds ?? (q ? 3 : 8),
    httpConnections: o.httpConnections ?? 32,
    deadlineS: o.deadlineS ?? (q ? 600 : 1800),
    help: !!o.help,
  };
  if (!['wire', 'sio'].includes(opts.clients)) throw new Error('--clients takes wire or sio');
  for (const k of ['reps', 'workers', 'concurrency']) if (!Number.isInteger(opts[k])) throw new Error(`--${k} takes an integer`);
  const all = ['fanout', 'latency', 'memory', 'http', 'cluster', 'multicore'];
  for (const s of [...(o.only ?? []), ...(o.skip ?? [])]) if (!all.includes(s)) throw new Error(`unknown scenario ${s} (${all.join(', ')})`);
  opts.scenarios = all.filter((s) => (!o.only || o.only.includes(s)) && !(o.skip ?? []).includes(s));
  for (const p of o.peers ?? []) if (!PEERS.includes(p)) throw new Error(`unknown peer ${p} (${PEERS.join(', ')})`);
  opts.peers = PEERS.filter((p) => !o.peers || o.peers.includes(p));
  opts.notes = [];
  if (opts.clients === 'sio' && opts.peers.some((p) => p === 'ws' || p === 'nchan')) {
    opts.notes.push('--clients sio: ws and nchan are left out (they need the wire subscribers)');
    opts.peers = opts.peers.filter((p) => p !== 'ws' && p !== 'nchan');
  }
  if (opts.sizes.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error('--sizes takes positive integers');
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
  opts.out = resolve(o.out ?? join(HERE, 'results', `${stamp}-${q ? 'quick' : 'full'}.json`));
  return opts;
}

// ---------- helpers ----------
const now = () => performance.timeOrigin + performance.now();
const log = (...a) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

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

/** CPU placement, set in main(): servers on the last CPU, everything else on the others. */
let place = placement(false);
const SETPRIV = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL'] : [];

/** spawn() of argv behind the placement prefix of `role`. */
function spawnPinned(role, argv, opts) {
  const full = [...place.prefix(role), ...argv];
  return track(spawn(full[0], full.slice(1), opts));
}

// ---------- processes ----------
class ServerProc {
  constructor(name, child, port) {
    this.name = name;
    this.child = child;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.seq = 0;
    this.pending = new Map();
    watchChild(child, this);
    child.on('message', (m) => {
      if (m && typeof m === 'object' && this.pending.has(m.probe)) {
        this.pending.get(m.probe)(m);
        this.pending.delete(m.probe);
      }
    });
  }

  /** role: placement role (see lib/procs.mjs placement()): 'server', 'any', 'cpu:<n>'. */
  static async start({ name, script, env, profileDir, role = 'server' }) {
    const port = await freePort();
    const flags = ['--expose-gc', '--require', join(HERE, 'probe.cjs')];
    if (profileDir) flags.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`);
    const child = spawnPinned(role, [process.execPath, ...flags, script], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const s = new ServerProc(name, child, port);
    if (await answersWithin(`${s.url}/health/live`, s.exited, 30000)) return s;
    child.kill('SIGKILL');
    throw new Error(`${name} did not start: ${s.tail}`);
  }

  pids() {
    return this.child.exitCode === null && this.child.signalCode === null ? [this.child.pid] : [];
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
  static async start(role = 'server') {
    const port = await freePort();
    const dir = tempDir('pushgate-bench-redis-');
    const child = spawnPinned(role, [...SETPRIV, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], { stdio: 'ignore' });
    const r = new RedisProc();
    Object.assign(r, { name: 'redis', child, port, dir, url: `redis://127.0.0.1:${port}` });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      const ok = spawnSync('redis-cli', ['-p', String(port), 'ping']).stdout?.toString().trim() === 'PONG';
      if (ok) return r;
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error('redis-server did not start');
  }

  pids() {
    return this.child.exitCode === null && this.child.signalCode === null ? [this.child.pid] : [];
  }

  info(section) {
    return spawnSync('redis-cli', ['-p', String(this.port), 'info', section]).stdout.toString();
  }

  async stop() {
    this.child.kill('SIGKILL');
    await new Promise((r) => (this.child.exitCode !== null || this.child.signalCode !== null ? r() : this.child.once('exit', r)));
    removeTempDir(this.dir);
  }
}

/** One subscriber process (wire-subscriber.mjs or client-worker.mjs), driven over IPC. */
class Worker {
  constructor(child, name) {
    this.child = child;
    this.name = name;
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
      for (const p of this.pending.values()) p.reject(new Error(`subscriber process exited (${code})`));
      this.pending.clear();
    });
  }

  static start(script, name) {
    const child = spawnPinned('client', [process.execPath, join(HERE, script)], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return withTimeout(new Promise((res, rej) => {
      child.once('message', (m) => (m?.ready ? res(new Worker(child, name)) : rej(new Error('bad subscriber hello'))));
      child.once('exit', (c) => rej(new Error(`subscriber process exited ${c}`)));
    }), 20000, 'subscriber process start');
  }

  call(cmd, args, ms = 60000) {
    const id = ++this.seq;
    return withTimeout(new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, cmd, ...args });
    }), ms, `subscriber ${cmd}`);
  }
}

class ClientPool {
  constructor(workers) {
    this.workers = workers;
  }

  /** Named processes for /proc snapshots: { 'sub:0': [pid], … }. */
  procs() {
    return Object.fromEntries(this.workers.map((w) => [`sub:${w.name}`, [w.child.pid]]));
  }

  /**
   * `total` subscribers of `peer` (optionally in `room`), spread over the processes. With
   * `peer.clientUrls` (several nodes), each URL gets an even share and process i connects its
   * part of it to URL i mod (number of URLs).
   */
  async connect(group, peer, total, { room = null, userPrefix = 'u' } = {}) {
    const n = this.workers.length;
    const urls = peer.clientUrls ?? [peer.clientUrl];
    const u = urls.length;
    if (n < u) throw new Error(`${u} nodes need at least ${u} subscriber processes (--workers)`);
    const split = (t, parts, j) => Math.floor(t / parts) + (j < t % parts ? 1 : 0);
    const share = (i) => split(split(total, u, i % u), split(n, u, i % u), Math.floor(i / u));
    let offset = 0;
    const base = { group, protocol: peer.protocol, path: room ? peer.subPath(room) : peer.subPath('bench:idle'), room, secret: peer.secret, userPrefix };
    const parts = await Promise.all(
      this.workers.map((w, i) => {
        const count = share(i);
        const args = { ...base, url: urls[i % u], count, offset };
        offset += count;
        return count ? w.call('connect', args, 30000 + count * 20) : { connected: 0, failed: 0, errors: {}, ms: 0 };
      }),
    );
    const connected = sum(parts.map((p) => p.connected));
    const failed = sum(parts.map((p) => p.failed));
    if (failed > 0) {
      const errors = parts.map((p) => p.errors);
      await this.close(group);
      throw new Error(`${failed} of ${total} connections to ${peer.kind} (${urls.join(', ')}) failed: ${JSON.stringify(errors).slice(0, 2000)}`);
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
      received: sum(parts.map((p) => p.received)),
      expected: sum(parts.map((p) => p.expected)),
      last: Math.max(...parts.map((p) => p.last)),
    };
  }

  async latencies(group) {
    const parts = await Promise.all(this.workers.map((w) => w.call('stats', { group })));
    return parts.flatMap((p) => p.latency).filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  }
}

// ---------- peers ----------
const JWT_SECRET = randomBytes(32).toString('base64url');
const API_KEY = `k_bench_${randomBytes(18).toString('base64url')}`;
const PAD = 'x'.repeat(64);

/** --pushgate-env, set once the options are parsed. */
let extraPushgateEnv = {};

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

/**
 * How to talk to one peer: where subscribers connect (and with which protocol), how a room
 * broadcast is requested, and which processes are "the server" for CPU accounting.
 */
function makePeer(kind, { push, client, servers }, concurrency) {
  const pg = kind === 'pushgate' || kind === 'pushgate2';
  const nchan = kind === 'nchan';
  const enc = encodeURIComponent;
  const headers = pg ? { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` } : { 'content-type': nchan ? 'text/plain' : 'application/json' };
  return {
    kind,
    label: PEER_LABEL[kind],
    pushServer: push,
    clientServer: client,
    clientUrl: client.url,
    protocol: kind === 'ws' || nchan ? 'ws' : 'socket.io',
    subPath: (room) => `/sub/${enc(room)}`,
    secret: pg ? JWT_SECRET : null,
    pool: new Pool(push.url, { connections: Math.max(8, concurrency), keepAliveTimeout: 60000 }),
    /** Nchan relays the body as is: it gets the same text the Socket.IO servers would write. */
    broadcast: (room, data) =>
      nchan
        ? { path: `/pub/${enc(room)}`, method: 'POST', headers, body: `42${JSON.stringify(['bench', data, { id: randomUUID(), ts: Date.now(), room }])}` }
        : { path: pg ? `/api/v1/rooms/${enc(room)}/broadcast` : `/rooms/${enc(room)}/broadcast`, method: 'POST', headers, body: JSON.stringify({ event: 'bench', data }) },
    pushPath: pg ? '/api/v1/push' : '/push',
    headers,
    servers,
    /** { 'server:<name>': [pids] } of every process of this peer (nginx: its whole tree; two-node peers: both nodes and Redis). */
    procs: () => Object.fromEntries(servers.map((s) => [`server:${s.name}`, s.pids()])),
  };
}

async function request(p, opts) {
  let res;
  try {
    res = await p.pool.request(opts);
  } catch (err) {
    const tails = p.servers.map((s) => s.tail).filter(Boolean).join(' | ').slice(-1500);
    throw new Error(`${p.kind} ${opts.path}: ${err.message}${tails ? `; server output: ${tails}` : ''}`, { cause: err });
  }
  const text = await res.body.text();
  if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`${p.kind} ${opts.path} → ${res.statusCode} ${text.slice(0, 200)}`);
}

/** Pushes `count` broadcasts to `room`, `concurrency` in flight, each carrying its send time. */
async function pushMany(p, room, count, concurrency) {
  let i = 0;
  const lane = async () => {
    while (i < count) {
      const n = i++;
      await request(p, p.broadcast(room, { n, t: now(), pad: PAD }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Alternates the order of the peers between repetitions (forward, reversed, …) so none always goes first. */
async function alternate(peers, reps, fn) {
  const out = Object.fromEntries(peers.map((p) => [p.kind, []]));
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? peers : [...peers].reverse();
    for (const p of order) out[p.kind].push(await fn(p, r));
  }
  return out;
}

/** CPU accounting of one measured window from two /proc snapshots (see lib/procs.mjs). */
function usage(before, after, wallMs, delivered) {
  const d = diffSnapshot(before, after);
  const part = (pre) => Object.fromEntries(Object.entries(d).filter(([k]) => k.startsWith(pre)).map(([k, v]) => [k.slice(pre.length), v]));
  const server = part('server:');
  const subs = part('sub:');
  const serverCpuMs = sum(Object.values(server).map((v) => v.cpuMs));
  const serverSyscw = sum(Object.values(server).map((v) => v.syscw));
  const subMs = Object.values(subs).map((v) => v.cpuMs);
  const round = (x, n = 1) => Math.round(x * 10 ** n) / 10 ** n;
  return {
    cpuWindowMs: round(wallMs),
    serverCpuMs,
    serverCpuMsEach: Object.fromEntries(Object.entries(server).map(([k, v]) => [k, v.cpuMs])),
    cpuUsPerDelivery: delivered ? (serverCpuMs * 1000) / delivered : null,
    serverBusy: serverCpuMs / wallMs,
    serverWriteSyscalls: serverSyscw,
    serverWriteSyscallsEach: Object.fromEntries(Object.entries(server).map(([k, v]) => [k, v.syscw])),
    writeSyscallsPerDelivery: delivered ? serverSyscw / delivered : null,
    subscriberCpuMsEach: Object.fromEntries(Object.entries(subs).map(([k, v]) => [k, v.cpuMs])),
    subscriberCpuMs: sum(subMs),
    subscriberBusy: sum(subMs) / wallMs,
    subscriberMaxProcessBusy: Math.max(0, ...subMs) / wallMs,
    publisherCpuMs: d.publisher?.cpuMs ?? null,
    publisherBusy: (d.publisher?.cpuMs ?? 0) / wallMs,
  };
}

// ---------- scenarios ----------
async function fanout(ctx, peers, sizes, reps = ctx.o.reps) {
  const results = {};
  const { concurrency } = ctx.o;
  for (const size of sizes) {
    const room = `bench:fan-${size}`;
    const messages = Math.max(5, Math.round(ctx.o.deliveries / size));
    const groupOf = (p) => `fan-${p.kind}-${size}`;
    for (const p of peers) {
      const c = await ctx.pool.connect(groupOf(p), p, size, { room, userPrefix: `f${size}-` });
      log(`fanout ${p.kind}: ${c.connected} subscribers in ${room} (${Math.round(c.ms)} ms)`);
    }
    // An unmeasured warm-up burst per server first: the first repetition would otherwise also
    // measure JIT compilation and first-use allocations (visible in short --quick runs).
    for (const p of peers) {
      const group = groupOf(p);
      const warm = Math.max(5, Math.round(messages / 5));
      await ctx.pool.reset(group);
      const waiting = ctx.pool.wait(group, warm, 30000);
      await pushMany(p, room, warm, concurrency);
      const w = await waiting;
      if (!w.complete) throw new Error(`${p.kind}: warm-up incomplete (${w.received}/${w.expected})`);
    }
    results[size] = await alternate(peers, reps, async (p) => {
      const group = groupOf(p);
      await ctx.pool.reset(group);
      const procs = { ...p.procs(), ...ctx.pool.procs(), publisher: [process.pid] };
      const redis0 = p.redis ? parseCommandStats(p.redis.info('commandstats')) : null;
      const timeoutMs = Math.max(30000, (size * messages) / 10);
      const s0 = snapshot(procs);
      const t0 = now();
      const waiting = ctx.pool.wait(group, messages, timeoutMs);
      await pushMany(p, room, messages, concurrency);
      const w = await waiting;
      const s1 = snapshot(procs);
      const t1 = now();
      const seconds = (w.last - t0) / 1000;
      const r = {
        rate: w.received / seconds,
        delivered: w.received,
        expected: w.expected,
        complete: w.complete,
        seconds,
        pushes: messages,
        concurrency,
        ...usage(s0, s1, t1 - t0, w.received),
      };
      if (redis0) r.redisCallsPerPush = diffStats(redis0, parseCommandStats(p.redis.info('commandstats')), messages);
      log(`fanout ${size} ${p.kind}: ${Math.round(r.rate)} deliveries/s (${w.received}/${w.expected} in ${seconds.toFixed(2)} s), server ${r.cpuUsPerDelivery.toFixed(2)} µs CPU and ${r.writeSyscallsPerDelivery.toFixed(2)} writes per delivery, busy: server ${pct(r.serverBusy)}, subscribers ${pct(r.subscriberBusy)}, publisher ${pct(r.publisherBusy)}`);
      if (!w.complete) log(`warning: ${p.kind} repetition incomplete (${w.received}/${w.expected})`);
      return r;
    });
    for (const p of peers) await ctx.pool.close(groupOf(p));
    await sleep(500);
  }
  return results;
}

const pct = (x) => `${Math.round(x * 100)}%`;

async function latency(ctx, peers) {
  const { latencyRoom: size, latencyRate: rate, latencySeconds: secs } = ctx.o;
  const room = 'bench:latency';
  for (const p of peers) await ctx.pool.connect(`lat-${p.kind}`, p, size, { room, userPrefix: 'lat-' });
  const res = await alternate(peers, ctx.o.reps, async (p) => {
    const group = `lat-${p.kind}`;
    await ctx.pool.reset(group, true);
    const total = Math.round(rate * secs);
    const period = 1000 / rate;
    const procs = { ...p.procs(), ...ctx.pool.procs(), publisher: [process.pid] };
    const s0 = snapshot(procs);
    const t0 = now();
    const start = performance.now();
    const sends = [];
    for (let i = 0; i < total; i++) {
      const wait = start + i * period - performance.now();
      if (wait > 0) await sleep(wait);
      sends.push(request(p, p.broadcast(room, { n: i, t: now(), pad: PAD })));
    }
    await Promise.all(sends);
    const w = await ctx.pool.wait(group, total, 20000);
    const s1 = snapshot(procs);
    const t1 = now();
    const lat = await ctx.pool.latencies(group);
    const r = { p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat[lat.length - 1], samples: lat.length, complete: w.complete, ...usage(s0, s1, t1 - t0, w.received) };
    log(`latency ${p.kind}: p50 ${r.p50?.toFixed(2)} ms, p99 ${r.p99?.toFixed(2)} ms (${r.samples} samples), server ${r.cpuUsPerDelivery?.toFixed(2)} µs CPU per delivery`);
    return r;
  });
  for (const p of peers) await ctx.pool.close(`lat-${p.kind}`);
  return res;
}

async function memory(ctx, starters) {
  const n = ctx.o.idle;
  return alternate(starters, Math.max(2, Math.min(ctx.o.reps, 3)), async (st) => {
    const server = await st.start();
    try {
      await sleep(1000);
      // Node servers: RSS and heap after forced GC (probe.cjs); nginx: RSS of its processes (/proc).
      const read = async () => (server.probe ? server.probe('gc') : { rss: snapshot({ s: server.pids() }).s.rss, heapUsed: null });
      const before = await read();
      const group = `idle-${st.kind}`;
      const peer = { kind: st.kind, clientUrl: server.url, protocol: st.protocol, subPath: (room) => `/sub/${encodeURIComponent(room)}`, secret: st.secret };
      await ctx.pool.connect(group, peer, n, { userPrefix: 'idle-' });
      await sleep(2000);
      const after = await read();
      await ctx.pool.close(group);
      const r = {
        rssPerConn: (after.rss - before.rss) / n,
        heapPerConn: after.heapUsed === null ? null : (after.heapUsed - before.heapUsed) / n,
        rssBefore: before.rss,
        rssAfter: after.rss,
        gc: after.gc ?? false,
      };
      log(`memory ${st.kind}: ${(r.rssPerConn / 1024).toFixed(1)} KiB RSS${r.heapPerConn === null ? '' : `, ${(r.heapPerConn / 1024).toFixed(1)} KiB heap`} per idle connection (${n})`);
      return r;
    } finally {
      await server.stop();
    }
  });
}

async function httpApi(ctx, peers) {
  return alternate(peers, ctx.o.reps, async (p) => {
    const opts = {
      url: p.pushServer.url,
      path: p.pushPath,
      headers: p.headers,
      body: { users: ['bench-http-nobody'], event: 'bench', data: { n: 1, pad: PAD } },
      connections: ctx.o.httpConnections,
      seconds: ctx.o.httpSeconds,
      warmupSeconds: 1,
    };
    const child = spawnPinned('client', [process.execPath, join(HERE, 'http-load.mjs'), JSON.stringify(opts)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    const procs = { ...p.procs(), 'load-generator': [child.pid] };
    const s0 = snapshot(procs);
    const t0 = now();
    const code = await withTimeout(new Promise((r) => child.once('exit', r)), (ctx.o.httpSeconds + 30) * 1000, 'http load generator');
    if (code !== 0) throw new Error(`http load generator exited ${code}`);
    const r = JSON.parse(out.trim().split('\n').pop());
    // The generator has exited by now: its CPU is read from the last snapshot only through the server side.
    r.serverCpuMs = sum(Object.entries(diffSnapshot(s0, snapshot(procs))).filter(([k]) => k.startsWith('server:')).map(([, v]) => v.cpuMs));
    r.serverBusy = r.serverCpuMs / (now() - t0);
    log(`push API ${p.kind}: ${Math.round(r.rps)} req/s, p50 ${r.p50Ms?.toFixed(2)} ms, p99 ${r.p99Ms?.toFixed(2)} ms, non-2xx ${r.non2xx}, errors ${r.errors}`);
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${p.kind} push API answered ${r.non2xx} non-2xx and ${r.errors} errors`);
    return r;
  });
}

/**
 * Scenario multicore: for each server kind, `kind ×1` (one node, no Redis, not pinned) against
 * `kind ×N` (N nodes through `redis`, node i pinned to the i-th allowed CPU, subscribers split
 * evenly over the nodes, broadcasts to node 0), measured by fanout(). `start` registers each
 * server for stopAll(). The subscriber processes and this process (the publisher) are unpinned
 * for the scenario and pinned back afterwards.
 */
async function multicore(ctx, { kinds, n, redis, start, scripts, profileDir, workerPids }) {
  const { o } = ctx;
  const peers = [];
  for (const kind of kinds) {
    /** Environment of node i of ×N (through Redis), or of the ×1 node (i = null, no Redis). */
    const env = (i) => {
      if (kind === 'pushgate') return pushgateEnv(`bench-mc-${i ?? 'single'}`, i === null ? null : redis, `benchmc${process.pid}`);
      return i === null ? {} : { REDIS_URL: redis.url, REDIS_KEY: `baremc${process.pid}#io` };
    };
    const one = await start(() => ServerProc.start({ name: `${kind}-x1`, script: scripts[kind], env: env(null), profileDir, role: 'any' }));
    const nodes = [];
    for (let i = 0; i < n; i++) nodes.push(await start(() => ServerProc.start({ name: `${kind}-x${n}-${i}`, script: scripts[kind], env: env(i), profileDir, role: `cpu:${place.cpus[i]}` })));
    const single = makePeer(kind, { push: one, client: one, servers: [one] }, o.concurrency);
    const multi = makePeer(kind, { push: nodes[0], client: nodes[0], servers: [...nodes, redis] }, o.concurrency);
    Object.assign(single, { kind: `${kind}-x1`, label: `${kind} ×1`, base: kind });
    Object.assign(multi, { kind: `${kind}-x${n}`, label: `${kind} ×${n}`, base: kind, clientUrls: nodes.map((s) => s.url), redis });
    peers.push(single, multi);
  }
  const repin = (cpus) => place.pinned && [process.pid, ...workerPids].forEach((pid) => pinProcess(pid, cpus) || log(`warning: could not pin ${pid} to CPU ${cpus}`));
  const reps = Math.max(3, o.reps);
  let runs;
  repin(place.cpus.join(','));
  try {
    log(`multicore: ${peers.map((p) => p.label).join(', ')}; ${place.pinned ? `×${n} nodes on CPU ${place.cpus.slice(0, n).join(', ')}, ×1 nodes, redis-server, subscribers and publisher not pinned` : `nothing pinned (${place.reason})`}; ${reps} repetitions`);
    runs = await fanout(ctx, peers, o.sizes, reps);
  } finally {
    repin(place.clientCpus);
    await Promise.all(peers.map((p) => p.pool.close()));
  }
  const summary = {};
  for (const [size, byPeer] of Object.entries(runs)) {
    const configs = {};
    for (const p of peers) {
      const rs = byPeer[p.kind];
      const m = (f) => median(rs.map(f));
      const busyOf = (each, pre) => Object.fromEntries(Object.keys(rs[0][each]).map((k) => [`${pre}${k}`, m((r) => (r[each][k] / r.cpuWindowMs) * 100)]));
      configs[p.kind] = {
        label: p.label,
        nodes: p.clientUrls?.length ?? 1,
        rate: m((r) => r.rate),
        cpuUsPerDelivery: m((r) => r.cpuUsPerDelivery),
        writeSyscallsPerDelivery: m((r) => r.writeSyscallsPerDelivery),
        serverBusyPct: m((r) => r.serverBusy * 100),
        busyPct: { ...busyOf('serverCpuMsEach', ''), ...busyOf('subscriberCpuMsEach', 'sub:'), publisher: m((r) => r.publisherBusy * 100) },
        complete: rs.every((r) => r.complete),
      };
    }
    const ratios = {};
    for (const kind of kinds) {
      const [a, b] = [configs[`${kind}-x${n}`], configs[`${kind}-x1`]];
      const q = (k) => (a[k] !== null && b[k] ? a[k] / b[k] : null);
      ratios[kind] = { label: `${kind} ×${n} / ×1`, rate: q('rate'), cpuUsPerDelivery: q('cpuUsPerDelivery'), writeSyscallsPerDelivery: q('writeSyscallsPerDelivery'), serverBusyPct: q('serverBusyPct') };
    }
    summary[size] = { configs, ratios };
  }
  const note = `multicore: the ${o.workers} subscriber processes and the publisher are not pinned away from the nodes; on this ${place.cpus.length}-CPU machine they share the cores with them, so the figures say what one box gives end to end, not the server's ceiling`;
  return {
    nodes: n,
    reps,
    pinned: place.pinned ? { nodes: place.cpus.slice(0, n), others: 'not pinned' } : null,
    note,
    configs: Object.fromEntries(peers.map((p) => [p.kind, { label: p.label, servers: p.servers.map((s) => s.name), pushTo: p.pushServer.name, subscribersOn: (p.clientUrls ?? [p.clientUrl]).length }])),
    summary,
    runs,
  };
}

function multicoreTable(mc) {
  const fmt = (x, d = 0) => (x === null || x === undefined ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  const pc = (x) => fmt(x, x !== null && x < 10 ? 1 : 0);
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const rows = [
    line(['room', 'config', 'deliveries/s', 'server CPU per delivery (µs, nodes + redis)', 'server write syscalls per delivery', 'server CPU (% of a core, all)', 'each server process (%)', 'each subscriber process (%)', 'publisher (%)']),
    line(['---:', '---', '---:', '---:', '---:', '---:', '---', '---', '---:']),
  ];
  for (const [size, { configs, ratios }] of Object.entries(mc.summary)) {
    const room = Number(size).toLocaleString('en-US');
    for (const [kind, c] of Object.entries(configs)) {
      const servers = Object.entries(c.busyPct).filter(([k]) => !k.startsWith('sub:') && k !== 'publisher').map(([k, v]) => `${k === kind ? 'node' : k.replace(`${kind}-`, 'node ')} ${pc(v)}`);
      const subs = Object.entries(c.busyPct).filter(([k]) => k.startsWith('sub:')).map(([, v]) => pc(v));
      rows.push(line([room, c.label + (c.complete ? '' : ' (incomplete)'), fmt(c.rate), fmt(c.cpuUsPerDelivery, 2), fmt(c.writeSyscallsPerDelivery, 2), fmt(c.serverBusyPct), servers.join(', '), subs.join(', '), pc(c.busyPct.publisher)]));
    }
    for (const r of Object.values(ratios)) rows.push(line([room, `**${r.label}**`, `**${fmt(r.rate, 2)}**`, fmt(r.cpuUsPerDelivery, 2), fmt(r.writeSyscallsPerDelivery, 2), fmt(r.serverBusyPct, 2), '', '', '']));
  }
  return rows.join('\n');
}

// ---------- report ----------
const RATIOS = [
  ['pushgate', 'bare'],
  ['pushgate', 'nchan'],
  ['pushgate', 'ws'],
  ['pushgate2', 'bare2'],
];

function summarise(res, o, peers) {
  const rows = [];
  const fmt = (x, d = 0) => (x === null || x === undefined ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  /**
   * One row: `byPeer` is { peer: [repetition results] }, `f` picks the number. `targets`:
   * [[numerator, denominator, '≥' | '≤', value, goal?]] on the ratio of the medians.
   */
  const add = (metric, key, byPeer, f, { digits = 0, targets = [], ratios: withRatios = true } = {}) => {
    if (!byPeer) return;
    const samples = Object.fromEntries(Object.entries(byPeer).map(([k, xs]) => [k, xs.map(f)]));
    const values = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)]));
    if (Object.values(values).every((v) => v === null)) return;
    const ratios = {};
    if (withRatios) for (const [a, b] of RATIOS) if (values[a] !== null && values[a] !== undefined && values[b]) ratios[`${a}/${b}`] = values[a] / values[b];
    const checks = targets
      .filter(([a, b]) => ratios[`${a}/${b}`] !== undefined)
      .map(([a, b, op, v, goal]) => {
        const r = ratios[`${a}/${b}`];
        return { ratio: `${a}/${b}`, target: `${op} ${v}`, goal: !!goal, pass: op === '≥' ? r >= v : r <= v };
      });
    rows.push({ metric, key, digits, values, ratios, checks, samples });
  };
  for (const size of o.sizes) {
    const f = res.fanout?.[size];
    const s = size.toLocaleString('en-US');
    add(`Fan-out, room of ${s} (deliveries/s)`, `fanout.${size}`, f, (r) => r.rate, {
      targets: [['pushgate', 'bare', '≥', 1.5], ...(size === 5000 ? [['pushgate', 'nchan', '≥', 1, true]] : []), ['pushgate2', 'bare2', '≥', 0.9]],
    });
    add(`Server CPU per delivery, ${s} (µs)`, `cpu.${size}`, f, (r) => r.cpuUsPerDelivery, { digits: 2, targets: [['pushgate', 'bare', '≤', 0.5]] });
    add(`Server write syscalls per delivery, ${s}`, `syscw.${size}`, f, (r) => r.writeSyscallsPerDelivery, { digits: 2 });
    add(`Server CPU busy during fan-out, ${s} (% of 1 core)`, `serverBusy.${size}`, f, (r) => r.serverBusy * 100, { ratios: false });
    add(`Subscribers' CPU during fan-out, ${s} (% of 1 core, all ${o.workers})`, `subBusy.${size}`, f, (r) => r.subscriberBusy * 100, { ratios: false });
    add(`Publisher CPU during fan-out, ${s} (% of 1 core)`, `pubBusy.${size}`, f, (r) => r.publisherBusy * 100, { ratios: false });
  }
  if (res.latency) {
    const at = `${o.latencyRate}/s to ${o.latencyRoom.toLocaleString('en-US')}`;
    add(`Push→receive p50 (ms), ${at}`, 'latency.p50', res.latency, (r) => r.p50, { digits: 2 });
    add(`Push→receive p99 (ms), ${at}`, 'latency.p99', res.latency, (r) => r.p99, { digits: 2, targets: [['pushgate', 'bare', '≤', 1]] });
    add(`Server CPU per delivery at ${at} (µs)`, 'latency.cpu', res.latency, (r) => r.cpuUsPerDelivery, { digits: 2 });
  }
  if (res.memory) {
    add(`Memory per idle connection (KiB RSS, ${o.idle.toLocaleString('en-US')} conns)`, 'memory.rss', res.memory, (r) => r.rssPerConn / 1024, { digits: 1, targets: [['pushgate', 'bare', '≤', 1.1]] });
    add('Memory per idle connection (KiB heap used)', 'memory.heap', res.memory, (r) => (r.heapPerConn === null ? null : r.heapPerConn / 1024), { digits: 1 });
  }
  if (res.http) add('Push API (requests/s)', 'http.rps', res.http, (r) => r.rps, { targets: [['pushgate', 'bare', '≥', 0.5]] });

  const cols = peers.filter((p) => rows.some((r) => r.values[p] !== undefined));
  const ratioCols = RATIOS.map(([a, b]) => `${a}/${b}`).filter((k) => rows.some((r) => r.ratios[k] !== undefined));
  const line = (cells) => `| ${cells.join(' | ')} |`;
  const table = [
    line(['measurement', ...cols, ...ratioCols, 'target', 'met']),
    line(['---', ...cols.map(() => '---:'), ...ratioCols.map(() => '---:'), '---', '---']),
    ...rows.map((r) => {
      const targets = r.checks.map((c) => `${c.goal ? 'goal ' : ''}${c.ratio} ${c.target}`).join('; ') || '—';
      const met = r.checks.map((c) => (c.pass ? 'yes' : '**no**')).join('; ') || '—';
      return line([r.metric, ...cols.map((p) => fmt(r.values[p], r.digits)), ...ratioCols.map((k) => (r.ratios[k] === undefined ? (Object.keys(r.ratios).length ? 'n/a' : '') : r.ratios[k].toFixed(2))), targets, met]);
    }),
  ].join('\n');
  return { rows, table };
}

function machine() {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  return {
    nproc: os.cpus().length,
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
}

const version = (cmd, args, re) => re.exec(spawnSync(cmd, args).output?.map((b) => b?.toString() ?? '').join('') ?? '')?.[1] ?? null;

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
  const biggest = Math.max(...o.sizes, o.idle, o.latencyRoom);
  ensureFdLimit(Math.max(biggest * 2 + 2048, Math.ceil((o.peers.length * biggest) / o.workers) + 2048));

  const deadline = guardRun(o.deadlineS, log);
  for (const n of o.notes) log(n);

  // Which peers run in which scenario.
  const has = (s) => o.scenarios.includes(s);
  const single = o.peers.filter((p) => !CLUSTER_PEERS.includes(p));
  const cluster = has('cluster') ? o.peers.filter((p) => CLUSTER_PEERS.includes(p)) : [];
  const fanoutPeers = [...(has('fanout') ? single : []), ...cluster];
  const latencyPeers = has('latency') ? [...single, ...cluster] : [];
  const memoryPeers = has('memory') ? single : [];
  const httpPeers = has('http') ? single.filter((p) => p === 'pushgate' || p === 'bare') : [];
  const needed = new Set([...fanoutPeers, ...latencyPeers, ...memoryPeers, ...httpPeers]);
  let mcKinds = has('multicore') ? ['pushgate', 'bare'].filter((p) => o.peers.includes(p)) : [];
  const mcCpus = placement(o.pin).cpus.length;
  if (mcKinds.length && mcCpus < 2) {
    o.notes.push(`multicore skipped: only ${mcCpus} CPU allowed`);
    log(`warning: multicore skipped: only ${mcCpus} CPU allowed`);
    mcKinds = [];
  }
  if (needed.size === 0 && mcKinds.length === 0) throw new Error('nothing to run: no peer takes part in the selected scenarios');

  let nchanBin = null;
  if (needed.has('nchan')) {
    nchanBin = ensureNchan(log);
    if (nchanBin.error) {
      log(`warning: ${nchanBin.error}`);
      o.notes.push(nchanBin.error);
      for (const list of [fanoutPeers, latencyPeers, memoryPeers]) if (list.includes('nchan')) list.splice(list.indexOf('nchan'), 1);
      needed.delete('nchan');
    }
  }

  let entry = o.entry ?? join(HERE, 'dist', 'server', 'src', 'main.js');
  if ([...needed].some((p) => p.startsWith('pushgate')) || mcKinds.includes('pushgate')) {
    if (!o.entry && (o.build || !existsSync(entry))) {
      log('compiling server/src into load-tests/bench/dist (private build; --no-build reuses it)');
      const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', join(HERE, 'dist')], { cwd: ROOT, stdio: 'inherit' });
      if (r.status !== 0) throw new Error('tsc failed');
    }
    if (!existsSync(entry)) throw new Error(`pushgate entry ${entry} does not exist`);
  }
  const source = sourceVersion(o);
  const bareScript = join(HERE, 'bare-server.mjs');
  const wsScript = join(HERE, 'raw-ws-server.mjs');
  const profileDir = o.profile ? join(dirname(o.out), 'profiles') : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  place = placement(o.pin);
  if (place.pinned) {
    if (!pinProcess(process.pid, place.clientCpus)) log('warning: could not pin the orchestrator');
    log(`placement: servers on CPU ${place.serverCpus}; subscribers, publisher and load generator on CPU ${place.clientCpus}`);
  } else log(`warning: no CPU pinning (${place.reason}): servers and clients share every CPU`);

  const loads = [os.loadavg()[0]];
  const loadTimer = setInterval(() => loads.push(os.loadavg()[0]), 2000);
  const startLoad = os.loadavg();
  const started = new Date();
  log(`machine: ${JSON.stringify(machine())}; load average at start ${startLoad.map((x) => x.toFixed(2)).join(' ')}`);
  log(`peers: fanout ${fanoutPeers.join(',') || '-'}; latency ${latencyPeers.join(',') || '-'}; memory ${memoryPeers.join(',') || '-'}; http ${httpPeers.join(',') || '-'}; multicore ${mcKinds.join(',') || '-'}`);
  log(`reps ${o.reps}; sizes ${o.sizes.join(',')}; ${o.workers} ${o.clients} subscriber processes; ${o.concurrency} broadcasts in flight`);

  const script = o.clients === 'wire' ? 'wire-subscriber.mjs' : 'client-worker.mjs';
  const workers = await Promise.all(Array.from({ length: o.workers }, (_, i) => Worker.start(script, String(i))));
  const ctx = { o, pool: new ClientPool(workers) };
  const results = {};
  const servers = [];
  const peerInfo = {};
  let redis = null;
  const stopAll = async () => {
    await Promise.allSettled(servers.splice(0).map((s) => s.stop()));
    if (redis) await redis.stop();
    redis = null;
  };

  try {
    const live = [...new Set([...fanoutPeers, ...latencyPeers, ...httpPeers])];
    if (live.length) {
      const maxConns = Math.max(...o.sizes) + o.latencyRoom;
      const running = {};
      const start = async (fn) => {
        const s = await fn();
        servers.push(s);
        return s;
      };
      if (live.some((p) => CLUSTER_PEERS.includes(p))) redis = await RedisProc.start();
      const prefix = `bench${process.pid}`;
      for (const kind of PEERS.filter((p) => live.includes(p))) {
        if (kind === 'ws') {
          const s = await start(() => ServerProc.start({ name: 'ws', script: wsScript, env: {}, profileDir }));
          running.ws = { push: s, client: s, servers: [s] };
        } else if (kind === 'bare') {
          const s = await start(() => ServerProc.start({ name: 'bare', script: bareScript, env: {}, profileDir }));
          running.bare = { push: s, client: s, servers: [s] };
        } else if (kind === 'nchan') {
          const s = await start(() => NchanProc.start({ name: 'nchan', bin: nchanBin, prefix: place.prefix('server'), maxConns }));
          running.nchan = { push: s, client: s, servers: [s] };
        } else if (kind === 'pushgate') {
          const s = await start(() => ServerProc.start({ name: 'pushgate', script: entry, env: pushgateEnv('bench-pg'), profileDir }));
          running.pushgate = { push: s, client: s, servers: [s] };
        } else if (kind === 'pushgate2') {
          const a = await start(() => ServerProc.start({ name: 'pushgate-A', script: entry, env: pushgateEnv('bench-pg-A', redis, prefix), profileDir }));
          const b = await start(() => ServerProc.start({ name: 'pushgate-B', script: entry, env: pushgateEnv('bench-pg-B', redis, prefix), profileDir }));
          running.pushgate2 = { push: a, client: b, servers: [a, b, redis] };
        } else if (kind === 'bare2') {
          const env = { REDIS_URL: redis.url, REDIS_KEY: `bare${process.pid}#io` };
          const a = await start(() => ServerProc.start({ name: 'bare-A', script: bareScript, env, profileDir }));
          const b = await start(() => ServerProc.start({ name: 'bare-B', script: bareScript, env, profileDir }));
          running.bare2 = { push: a, client: b, servers: [a, b, redis] };
        }
      }
      const peers = Object.fromEntries(Object.entries(running).map(([k, v]) => [k, makePeer(k, v, o.concurrency)]));
      for (const k of CLUSTER_PEERS) if (peers[k]) peers[k].redis = redis;
      for (const p of Object.values(peers)) peerInfo[p.kind] = { label: p.label, protocol: p.protocol, servers: p.servers.map((s) => s.name), pushTo: p.pushServer.name, subscribersOn: p.clientServer.name };
      const list = (kinds) => PEERS.filter((k) => kinds.includes(k)).map((k) => peers[k]);
      if (fanoutPeers.length) results.fanout = await fanout(ctx, list(fanoutPeers), o.sizes);
      if (latencyPeers.length) results.latency = await latency(ctx, list(latencyPeers));
      if (httpPeers.length) results.http = await httpApi(ctx, list(httpPeers));
      await Promise.all(Object.values(peers).map((p) => p.pool.close()));
      await stopAll();
    }
    if (memoryPeers.length) {
      const starters = {
        ws: { kind: 'ws', protocol: 'ws', start: () => ServerProc.start({ name: 'ws-mem', script: wsScript, env: {} }) },
        bare: { kind: 'bare', protocol: 'socket.io', start: () => ServerProc.start({ name: 'bare-mem', script: bareScript, env: {} }) },
        nchan: { kind: 'nchan', protocol: 'ws', start: () => NchanProc.start({ name: 'nchan-mem', bin: nchanBin, prefix: place.prefix('server'), maxConns: o.idle }) },
        pushgate: { kind: 'pushgate', protocol: 'socket.io', secret: JWT_SECRET, start: () => ServerProc.start({ name: 'pushgate-mem', script: entry, env: pushgateEnv('bench-pg-mem') }) },
      };
      results.memory = await memory(ctx, PEERS.filter((k) => memoryPeers.includes(k)).map((k) => starters[k]));
    }
    if (mcKinds.length) {
      redis = await RedisProc.start('any');
      const start = async (fn) => {
        const s = await fn();
        servers.push(s);
        return s;
      };
      results.multicore = await multicore(ctx, { kinds: mcKinds, n: mcCpus, redis, start, scripts: { pushgate: entry, bare: bareScript }, profileDir, workerPids: workers.map((w) => w.child.pid) });
      await stopAll();
    }
  } finally {
    clearInterval(loadTimer);
    await stopAll();
    for (const w of workers) w.child.disconnect?.();
  }

  const summary = summarise(results, o, PEERS);
  const endLoad = os.loadavg();
  const report = {
    date: started.toISOString(),
    durationS: Math.round((Date.now() - started.getTime()) / 1000),
    command: `npm run bench --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machine(),
    placement: { pinned: place.pinned, reason: place.reason, serverCpus: place.serverCpus, clientCpus: place.clientCpus },
    source,
    versions: {
      nginx: needed.has('nchan') ? version('nginx', ['-v'], /nginx\/(\S+)/) : null,
      nchan: needed.has('nchan') ? version('dpkg-query', ['-W', '-f', '${Version}', 'libnginx-mod-nchan'], /(\S+)/) : null,
      nchanInstalledByRun: nchanBin?.installed ?? null,
      redis: cluster.length || mcKinds.length ? version('redis-server', ['--version'], /v=(\S+)/) : null,
      socketIo: JSON.parse(readFileSync(join(ROOT, 'node_modules', 'socket.io', 'package.json'), 'utf8')).version,
      ws: JSON.parse(readFileSync(join(ROOT, 'node_modules', 'ws', 'package.json'), 'utf8')).version,
    },
    loadAverage: { start: startLoad, end: endLoad, samples1m: loads, min: Math.min(...loads), median: median(loads), max: Math.max(...loads) },
    options: o,
    peers: peerInfo,
    rows: summary.rows,
    results,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
  if (summary.rows.length) process.stdout.write(`\n${summary.table}\n\n`);
  const mc = results.multicore;
  if (mc) {
    const where = mc.pinned ? `×${mc.nodes} nodes on CPU ${mc.pinned.nodes.join(', ')} (one each); ×1 nodes, redis-server, subscribers and publisher not pinned` : `nothing pinned (${place.reason})`;
    process.stdout.write(`\nMulticore: one node per CPU (×${mc.nodes}, through one redis-server, subscribers split evenly, broadcasts to node 0) against one node (×1, no Redis); medians of ${mc.reps} interleaved repetitions; ${where}\n\n${multicoreTable(mc)}\n\nnote: ${mc.note}\n\n`);
  }
  if (Object.keys(peerInfo).length) process.stdout.write(`peers: ${Object.entries(peerInfo).map(([k, v]) => `${k} = ${v.label}`).join('; ')}\n`);
  process.stdout.write(`machine: ${report.machine.nproc} cores, ${report.machine.cpuModel}, ${report.machine.memoryGiB} GiB, Node ${report.machine.node}\n`);
  if (summary.rows.length) process.stdout.write(`placement${mc ? ' (first table)' : ''}: ${place.pinned ? `servers on CPU ${place.serverCpus}, subscribers/publisher on CPU ${place.clientCpus}` : `not pinned (${place.reason})`}; ${o.workers} ${o.clients} subscriber processes; ${o.concurrency} broadcasts in flight\n`);
  process.stdout.write(`load average (1 min) during the run: min ${report.loadAverage.min?.toFixed(2)}, median ${report.loadAverage.median?.toFixed(2)}, max ${report.loadAverage.max?.toFixed(2)}; duration ${report.durationS} s\n`);
  for (const n of o.notes) process.stdout.write(`note: ${n}\n`);
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

runMain(main, log);
