#!/usr/bin/env node
/*
 * pushgate on one Redis against pushgate on a 3-shard Redis Cluster (issue 12), in one run on one
 * machine, repetitions interleaved. See --help and docs/benchmarks.md.
 *
 * Backends, both up for the whole comparison (the idle one costs a few heartbeats and the cluster
 * bus' gossip):
 *   single   one redis-server; nodes A and B with REDIS_URL (as before issue 12)
 *   cluster  3 primaries + 3 replicas (load-tests/lib/redis.mjs); nodes A and B with REDIS_CLUSTER=true
 * Per repetition and backend (the order of the backends alternates):
 *   ops      an op-client process (socket.io-client) connects N sockets to node B and waits for each
 *            `welcome`; then they join rooms; then they disconnect: each step measured on its own
 *            (INFO commandstats / stats of every redis-server before and after, until Redis is quiet)
 *   fanout   subscribers (wire-subscriber.mjs) on node B in many rooms; a burst of broadcasts to node
 *            A's HTTP API, round-robin over the rooms: deliveries/s, CPU per delivery (nodes A, B and
 *            every redis-server, from /proc), Redis per push and per delivery, commands per shard
 *   http     bench/http-load.mjs against node A: broadcasts to rooms spread over the shards (one load
 *            process per room), then /api/v1/push to one user: requests/s, Redis per request
 * Then the capacity check: 3 nodes on the cluster behind nginx (load-tests/lib/nginx.mjs), clients
 * connected through nginx, bursts of broadcasts through nginx.
 *
 * Placement as in run.mjs: with ≥ 2 CPUs every server (nodes, redis-servers, nginx) on the last CPU,
 * subscribers, load generators and this orchestrator on the others. Every child is killed on exit,
 * on a signal and at the deadline.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startBalancer } from '../lib/nginx.mjs';
import { diffSnapshot, guardRun, median, parseOrExit, pinProcess, placement, runMain, sleep, snapshot, withTimeout } from '../lib/procs.mjs';
import { benchEnv, buildPushgate, PushgateNode, ROOT, sourceState } from '../lib/pushgate.mjs';
import { cli, diffCounters, infoOverhead, readCounters, RedisCluster, RedisServer, slotOf } from '../lib/redis.mjs';
import { OP_CLIENT, Subscribers, WIRE_SUBSCRIBER } from '../lib/subscribers.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

const HELP = `npm run bench:cluster -- [options]

pushgate on 1 Redis against pushgate on a 3-shard Redis Cluster (3 primaries + 3 replicas), same
run, repetitions interleaved; then a capacity check: 3 nodes on the cluster behind nginx.

  --quick               smoke run (~2 min): 2 repetitions, smaller rooms and windows
  --reps N              repetitions per backend (default 3; quick 2)
  --rooms N             fan-out rooms on node B (default 50; quick 20)
  --room-size N         subscribers per fan-out room (default 40; quick 20)
  --pushes-per-room N   broadcasts per room in one fan-out burst (default 150; quick 20); the warm-up
                        before the first repetition sends as many
  --concurrency N       broadcasts in flight during a burst (default 16: with rooms of 40 a push is
                        cheap, and 4 in flight, npm run bench's default for rooms of 1,000+, left
                        the servers' CPU partly idle, waiting on round trips)
  --ops N               sockets connected, joined and disconnected per repetition (default 1000; quick 300)
  --ops-rooms N         rooms those sockets join (default 50; quick 20)
  --http-seconds N      length of one push-API window (default 6; quick 2)
  --http-connections N  keep-alive connections of the push-API load (default 32)
  --http-rooms N        broadcast rooms of the push-API load, one load process each, chosen so that
                        they spread evenly over the shards (default 6)
  --cap-clients N       clients of the capacity check (default 3000; quick 600)
  --cap-rooms N         their rooms (default 30; quick 10)
  --cap-pushes-per-room N  broadcasts per room per capacity burst (default 100; quick 15)
  --workers N           wire subscriber processes (default 2)
  --skip a,b            leave out: ops, fanout, http, capacity
  --no-pin              do not pin servers and clients to separate CPUs
  --no-build            reuse the private build in load-tests/bench/dist
  --out FILE            JSON results (default load-tests/bench/results/<date>-cluster.json)
  --deadline-s N        hard limit for the whole run (default 900; quick 300)
  --help                this text`;

const STEPS = ['ops', 'fanout', 'http', 'capacity'];

function parseArgs(argv) {
  const o = { build: true, pin: true, skip: [] };
  const NUMERIC = ['reps', 'rooms', 'room-size', 'pushes-per-room', 'concurrency', 'ops', 'ops-rooms', 'http-seconds', 'http-connections', 'http-rooms', 'cap-clients', 'cap-rooms', 'cap-pushes-per-room', 'workers', 'deadline-s'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (argv[i + 1] === undefined) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--help' || a === '-h') o.help = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--no-build') o.build = false;
    else if (a === '--out') o.out = resolve(value());
    else if (a === '--skip') o.skip = value().split(',');
    else if (NUMERIC.includes(a.slice(2))) {
      const n = Number(value());
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a} takes a positive integer`);
      o[a.slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = n;
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  for (const s of o.skip) if (!STEPS.includes(s)) throw new Error(`--skip: unknown step ${s} (${STEPS.join(', ')})`);
  const q = !!o.quick;
  const d = (k, full, quick) => o[k] ?? (q ? quick : full);
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
  return {
    quick: q,
    help: !!o.help,
    build: o.build,
    pin: o.pin,
    steps: STEPS.filter((s) => !o.skip.includes(s)),
    reps: d('reps', 3, 2),
    rooms: d('rooms', 50, 20),
    roomSize: d('roomSize', 40, 20),
    pushesPerRoom: d('pushesPerRoom', 150, 20),
    concurrency: d('concurrency', 16, 16),
    ops: d('ops', 1000, 300),
    opsRooms: d('opsRooms', 50, 20),
    httpSeconds: d('httpSeconds', 6, 2),
    httpConnections: d('httpConnections', 32, 32),
    httpRooms: d('httpRooms', 6, 6),
    capClients: d('capClients', 3000, 600),
    capRooms: d('capRooms', 30, 10),
    capPushesPerRoom: d('capPushesPerRoom', 100, 15),
    workers: d('workers', 2, 2),
    deadlineS: d('deadlineS', 900, 300),
    out: o.out ?? join(HERE, 'results', `${stamp}-cluster${q ? '-quick' : ''}.json`),
  };
}

// ---------- helpers ----------
const log = (...a) => process.stderr.write(`[bench:cluster ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
const now = () => performance.timeOrigin + performance.now();
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const JWT_SECRET = randomBytes(32).toString('base64url');
const API_KEY = `k_bench_${randomBytes(18).toString('base64url')}`;
const PAD = 'x'.repeat(64);
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
const broadcastPath = (room) => `/api/v1/rooms/${encodeURIComponent(room)}/broadcast`;
/** The hash slot of a room's keys and channel (tag `r:<room>`, cluster/redis-keys.ts). */
const roomSlot = (room) => slotOf(`{r:${room}}`);

let place = placement(false);

/**
 * A burst of `count` broadcasts over `rooms` (round-robin), `concurrency` in flight, to `url`;
 * each carries its send time. Throws on a non-2xx answer.
 */
async function burst(pool, rooms, count, concurrency) {
  let i = 0;
  const lane = async () => {
    for (let n = i++; n < count; n = i++) {
      const res = await pool.request({ path: broadcastPath(rooms[n % rooms.length]), method: 'POST', headers: HEADERS, body: JSON.stringify({ event: 'bench', data: { n, t: now(), pad: PAD } }) });
      const text = await res.body.text();
      if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`broadcast ${n} → ${res.statusCode} ${text.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/** Runs bench/http-load.mjs with `opts` (pinned with the clients); resolves with its JSON line. */
function httpLoad(opts) {
  const argv = [...place.prefix('client'), process.execPath, join(HERE, 'http-load.mjs'), JSON.stringify(opts)];
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  const done = new Promise((res, rej) => child.once('exit', (code) => (code === 0 ? res(JSON.parse(out.trim().split('\n').pop())) : rej(new Error(`http-load exited ${code}`)))));
  return withTimeout(done, (opts.seconds + (opts.warmupSeconds ?? 1) + 30) * 1000, 'http-load');
}

// ---------- backends ----------
/**
 * One Redis set-up under test with its two pushgate nodes. `redis` lists every redis-server as
 * { name, role: 'primary' | 'replica', server }; counters are read from all of them.
 */
class Backend {
  constructor(kind, label) {
    this.kind = kind;
    this.label = label;
    this.redis = [];
    this.nodes = [];
    this.reads = new Map();
  }

  static async start(kind, entry) {
    const b = new Backend(kind, kind === 'single' ? '1 Redis' : '3-shard Redis Cluster');
    const prefix = place.prefix('server');
    if (kind === 'single') {
      b.store = await RedisServer.start({ prefix, name: 'redis' });
      b.redis = [{ name: 'redis', role: 'primary', server: b.store }];
    } else {
      b.store = await RedisCluster.start({ primaries: 3, replicas: 1, prefix });
      const { primaries, replicas } = b.store.topology;
      b.redis = [
        ...primaries.map((s, i) => ({ name: `primary-${i + 1}`, role: 'primary', server: s })),
        ...replicas.map((s) => ({ name: `replica-${primaries.findIndex((p) => p.port === s.primaryPort) + 1}`, role: 'replica', server: s })),
      ];
    }
    const redis = { url: b.store.url, prefix: `bc${process.pid}${kind}`, cluster: kind === 'cluster' };
    for (const n of ['A', 'B']) b.nodes.push(await PushgateNode.start({ name: `${kind}-${n}`, entry, env: benchEnv({ nodeId: `bench-${kind}-${n}`, jwtSecret: JWT_SECRET, apiKey: API_KEY, redis }), prefix }));
    [b.a, b.b] = b.nodes;
    b.pool = new Pool(b.a.url, { connections: 16, keepAliveTimeout: 60000 });
    // What one counter read adds to the next one's bytes (its request and its reply).
    for (const r of b.redis) r.overhead = await infoOverhead(r.server.port);
    return b;
  }

  primaries() {
    return this.redis.filter((r) => r.role === 'primary');
  }

  /** { 'node:A': [pid], …, '<redis name>': [pid] } for /proc snapshots. */
  procs() {
    return { ...Object.fromEntries(this.nodes.map((n) => [`node:${n.name.split('-').pop()}`, n.pids()])), ...Object.fromEntries(this.redis.map((r) => [`redis:${r.name}`, r.server.pids()])) };
  }

  /** Counters of every redis-server: { name: readCounters() }, counting the reads made. */
  async counters() {
    const all = await Promise.all(this.redis.map((r) => readCounters(r.server.port)));
    for (const r of this.redis) this.reads.set(r.name, (this.reads.get(r.name) ?? 0) + 1);
    return Object.fromEntries(this.redis.map((r, i) => [r.name, all[i]]));
  }

  /** Polls the counters until no command ran for 300 ms (at most `ms`); returns the last reading. */
  async quiet(ms = 8000) {
    let prev = await this.counters();
    for (const deadline = Date.now() + ms; Date.now() < deadline;) {
      await sleep(300);
      const cur = await this.counters();
      if (this.redis.every((r) => cur[r.name].commands === prev[r.name].commands)) return cur;
      prev = cur;
    }
    return prev;
  }

  /**
   * after − before per redis-server, less the bytes of the counter reads made in between (`reads`
   * of them, the last one included) and, when `background` is known, the idle traffic (heartbeats,
   * replicas' acks) of `seconds`.
   */
  delta(before, after, reads, seconds, background = this.background) {
    const out = {};
    for (const r of this.redis) {
      const d = diffCounters(before[r.name], after[r.name]);
      d.netIn -= reads * r.overhead.netIn;
      d.netOut -= reads * r.overhead.netOut;
      const bg = background?.[r.name];
      if (bg) for (const k of ['commands', 'scripts', 'netIn', 'netOut', 'replIn', 'replOut']) d[k] -= bg[k] * seconds;
      out[r.name] = d;
    }
    return out;
  }

  /** A measured window: counters and /proc before, `fn`, (optionally) wait for Redis to be quiet, after. */
  async measure(fn, { extraProcs = {}, settle = false } = {}) {
    const procs = { ...this.procs(), ...extraProcs };
    const c0 = await this.counters();
    const reads0 = sum([...this.reads.values()]);
    const s0 = snapshot(procs);
    const t0 = now();
    const result = await fn();
    const t1 = now();
    const c1 = settle ? await this.quiet() : await this.counters();
    const s1 = snapshot(procs);
    const t2 = now();
    const reads = (sum([...this.reads.values()]) - reads0) / this.redis.length;
    return { result, ms: t1 - t0, windowMs: t2 - t0, cpu: diffSnapshot(s0, s1), redis: this.delta(c0, c1, reads, (t2 - t0) / 1000) };
  }

  /** Idle traffic per second of each redis-server (heartbeats, replication acks), over `ms`. */
  async measureBackground(ms) {
    this.background = null;
    const m = await this.measure(() => sleep(ms));
    this.background = Object.fromEntries(Object.entries(m.redis).map(([k, d]) => [k, Object.fromEntries(['commands', 'scripts', 'netIn', 'netOut', 'replIn', 'replOut'].map((f) => [f, d[f] / (m.windowMs / 1000)]))]));
    return this.background;
  }

  async pushedTotal() {
    return sum(await Promise.all(this.nodes.map((n) => n.metric('pushgate_messages_pushed_total'))));
  }

  async stop() {
    await this.pool?.close();
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
    await this.store?.stop();
  }
}

/** Sums a delta by role: { commands, scripts, netIn, netOut, replIn, replOut, keys, usedMemory, calls }. */
function byRole(redisDelta, backend, role) {
  const names = backend.redis.filter((r) => r.role === role).map((r) => r.name);
  if (!names.length) return null;
  const out = { calls: {} };
  for (const k of ['commands', 'scripts', 'netIn', 'netOut', 'replIn', 'replOut', 'keys', 'usedMemory']) out[k] = sum(names.map((n) => redisDelta[n][k]));
  for (const n of names) for (const [c, v] of Object.entries(redisDelta[n].calls)) out.calls[c] = (out.calls[c] ?? 0) + v;
  return out;
}

/** Redis cost per operation: primaries (commands, scripts, bytes in/out, replication out) and replicas. */
function perOp(redisDelta, backend, ops) {
  const p = byRole(redisDelta, backend, 'primary');
  const r = byRole(redisDelta, backend, 'replica');
  const per = (x) => Math.round((x / ops) * 100) / 100;
  return {
    ops,
    primaries: { commands: per(p.commands), scripts: per(p.scripts), bytesIn: per(p.netIn), bytesOut: per(p.netOut), replicationOut: per(p.replOut), keys: per(p.keys), usedMemory: per(p.usedMemory), calls: Object.fromEntries(Object.entries(p.calls).map(([k, v]) => [k, per(v)])) },
    replicas: r ? { commands: per(r.commands), replicationIn: per(r.replIn) } : null,
  };
}

/** CPU of a measured window: ms per process group and µs per unit of work. */
function cpuOf(cpu, units) {
  const ms = (pred) => sum(Object.entries(cpu).filter(([k]) => pred(k)).map(([, v]) => v.cpuMs));
  const nodes = ms((k) => k.startsWith('node:'));
  const primaries = ms((k) => k.startsWith('redis:') && !k.includes('replica'));
  const replicas = ms((k) => k.startsWith('redis:replica'));
  const us = (x) => (units ? (x * 1000) / units : null);
  return { nodesMs: nodes, primariesMs: primaries, replicasMs: replicas, serverMs: nodes + primaries + replicas, usPerUnit: us(nodes + primaries + replicas), nodesUsPerUnit: us(nodes), redisUsPerUnit: us(primaries + replicas), each: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.cpuMs])) };
}

/** Commands per primary in a window, and max/min over the primaries. */
function balance(redisDelta, backend) {
  const per = Object.fromEntries(backend.primaries().map((r) => [r.name, Math.round(redisDelta[r.name].commands)]));
  const xs = Object.values(per);
  return { commands: per, maxMin: xs.length > 1 && Math.min(...xs) > 0 ? Math.max(...xs) / Math.min(...xs) : null };
}

// ---------- steps ----------
async function opsStep(ctx, b, rep) {
  const { o, opClient } = ctx;
  const group = `ops-${b.kind}`;
  const rooms = Array.from({ length: o.opsRooms }, (_, k) => `bench:op-${k}`);
  const connect = await b.measure(() => opClient.connect(group, { url: b.b.url, secret: JWT_SECRET, rooms: [{ room: null, count: o.ops }], userPrefix: `op${rep}-`, concurrency: 25 }), { settle: true });
  const joined = await b.measure(() => opClient.join(group, rooms, 25), { settle: true });
  const leave = await b.measure(() => opClient.close(group), { settle: true });
  const r = {
    connect: { ...perOp(connect.redis, b, o.ops), perSecond: o.ops / (connect.ms / 1000), cpu: cpuOf(connect.cpu, o.ops) },
    join: { ...perOp(joined.redis, b, o.ops), perSecond: o.ops / (joined.ms / 1000), cpu: cpuOf(joined.cpu, o.ops) },
    disconnect: { ...perOp(leave.redis, b, o.ops), cpu: cpuOf(leave.cpu, o.ops) },
  };
  log(`ops ${b.kind}: per connect ${r.connect.primaries.commands} commands (${r.connect.primaries.scripts} scripts), ${Math.round(r.connect.primaries.bytesIn)} B in, ${Math.round(r.connect.primaries.bytesOut)} B out; per join ${r.join.primaries.commands} commands, ${Math.round(r.join.primaries.bytesIn)}/${Math.round(r.join.primaries.bytesOut)} B; per disconnect ${r.disconnect.primaries.commands} commands`);
  return r;
}

/**
 * One measured burst on backend `b`: `perRoom` broadcasts to each of `rooms` through `pool`, until
 * every socket of subscriber group `group` has them all. Returns the window (b.measure()) and the
 * deliveries: { rate, delivered, expected, complete, seconds } (rate over first push → last delivery).
 */
async function measuredBurst(ctx, b, { group, pool, rooms, perRoom }) {
  const { o, subs } = ctx;
  const pushes = rooms.length * perRoom;
  await subs.reset(group);
  const t0 = now();
  let w;
  const m = await b.measure(async () => {
    const waiting = subs.wait(group, perRoom, Math.max(60000, pushes * 20));
    await burst(pool, rooms, pushes, o.concurrency);
    w = await waiting;
  }, { extraProcs: { ...subs.pids(), publisher: [process.pid] } });
  const seconds = (w.last - t0) / 1000;
  if (!w.complete) log(`warning: ${b.kind} burst incomplete (${w.received}/${w.expected})`);
  return { m, deliveries: { rate: w.received / seconds, delivered: w.received, expected: w.expected, complete: w.complete, seconds } };
}

async function fanoutStep(ctx, b) {
  const pushed0 = await b.pushedTotal();
  const { m, deliveries } = await measuredBurst(ctx, b, { group: `fan-${b.kind}`, pool: b.pool, rooms: ctx.fanRooms, perRoom: ctx.o.pushesPerRoom });
  const admitted = (await b.pushedTotal()) - pushed0;
  const { delivered } = deliveries;
  const cpu = cpuOf(m.cpu, delivered);
  const push = perOp(m.redis, b, admitted);
  const subMs = sum(Object.entries(m.cpu).filter(([k]) => k.startsWith('sub:')).map(([, v]) => v.cpuMs));
  const r = {
    ...deliveries,
    pushes: admitted,
    cpu,
    cpuUsPerPush: (cpu.serverMs * 1000) / admitted,
    nodeAUsPerPush: (m.cpu['node:A'].cpuMs * 1000) / admitted,
    nodeBUsPerDelivery: (m.cpu['node:B'].cpuMs * 1000) / delivered,
    nodeBWritesPerDelivery: m.cpu['node:B'].syscw / delivered,
    nodeAWritesPerPush: m.cpu['node:A'].syscw / admitted,
    redisUsPerPush: ((cpu.primariesMs + cpu.replicasMs) * 1000) / admitted,
    serverBusy: cpu.serverMs / m.windowMs,
    subscriberBusy: subMs / m.windowMs,
    publisherBusy: (m.cpu.publisher?.cpuMs ?? 0) / m.windowMs,
    push,
    delivery: perOp(m.redis, b, delivered),
    balance: balance(m.redis, b),
  };
  log(`fanout ${b.kind}: ${Math.round(r.rate)} deliveries/s (${delivered}/${r.expected} in ${r.seconds.toFixed(2)} s), ${cpu.usPerUnit.toFixed(2)} µs CPU per delivery (nodes ${cpu.nodesUsPerUnit.toFixed(2)}, redis ${cpu.redisUsPerUnit.toFixed(2)}), per push ${push.primaries.commands} commands, ${Math.round(push.primaries.bytesIn)}/${Math.round(push.primaries.bytesOut)} B; busy: servers ${Math.round(r.serverBusy * 100)}%, subscribers ${Math.round(r.subscriberBusy * 100)}%${r.balance.maxMin ? `; shards max/min ${r.balance.maxMin.toFixed(2)}` : ''}`);
  return r;
}

/** Connections split as evenly as possible over `parts`. */
const split = (n, parts) => Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));

async function httpStep(ctx, b) {
  const { o } = ctx;
  const one = async (kind, loads) => {
    const pushed0 = await b.pushedTotal();
    const m = await b.measure(() => Promise.all(loads.map((l) => httpLoad({ url: b.a.url, headers: HEADERS, seconds: o.httpSeconds, warmupSeconds: 1, ...l }))));
    const admitted = (await b.pushedTotal()) - pushed0;
    const parts = m.result;
    const r = {
      rps: sum(parts.map((p) => p.rps)),
      requests: sum(parts.map((p) => p.requests)),
      non2xx: sum(parts.map((p) => p.non2xx)),
      errors: sum(parts.map((p) => p.errors)),
      p50Ms: median(parts.map((p) => p.p50Ms)),
      p99Ms: Math.max(...parts.map((p) => p.p99Ms ?? 0)),
      admitted,
      cpu: cpuOf(m.cpu, admitted),
      serverBusy: sum(Object.values(m.cpu).map((v) => v.cpuMs)) / m.windowMs,
      perRequest: perOp(m.redis, b, admitted),
      balance: balance(m.redis, b),
    };
    log(`push API ${b.kind} ${kind}: ${Math.round(r.rps)} req/s (p50 ${r.p50Ms?.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${loads.length} load process${loads.length > 1 ? 'es' : ''}), ${r.cpu.usPerUnit.toFixed(1)} µs server CPU and ${r.perRequest.primaries.commands} Redis commands per request${r.balance.maxMin ? `; shards max/min ${r.balance.maxMin.toFixed(2)}` : ''}`);
    if (r.non2xx || r.errors) throw new Error(`${b.kind} push API: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return r;
  };
  const conns = split(o.httpConnections, ctx.httpRooms.length);
  const body = { event: 'bench', data: { n: 1, pad: PAD } };
  return {
    broadcast: await one('broadcast', ctx.httpRooms.map((room, i) => ({ path: broadcastPath(room), body, connections: conns[i] }))),
    push: await one('push', [{ path: '/api/v1/push', body: { users: ['bench-http-nobody'], ...body }, connections: o.httpConnections }]),
  };
}

/**
 * `count` room names `<prefix><i>` whose slots are spread evenly over the cluster's primaries
 * (round-robin over the shards), so a load on them reaches every shard alike.
 */
function roomsOverShards(cluster, prefix, count) {
  const shards = cluster.topology.primaries.length;
  const buckets = Array.from({ length: shards }, () => []);
  for (let i = 0; buckets.some((x) => x.length < Math.ceil(count / shards)) && i < 100000; i++) {
    const room = `${prefix}${i}`;
    const s = cluster.topology.primaries.indexOf(cluster.primaryOf(roomSlot(room)));
    if (buckets[s].length < Math.ceil(count / shards)) buckets[s].push(room);
  }
  const out = [];
  for (let i = 0; out.length < count; i++) out.push(buckets[i % shards][Math.floor(i / shards)]);
  return out;
}

// ---------- capacity check ----------
async function capacity(ctx, cluster, entry) {
  const { o, subs } = ctx;
  const prefix = place.prefix('server');
  const redis = { url: cluster.url, prefix: `bcap${process.pid}`, cluster: true };
  const nodes = [];
  for (let i = 1; i <= 3; i++) nodes.push(await PushgateNode.start({ name: `cap-${i}`, entry, env: benchEnv({ nodeId: `bench-cap-${i}`, jwtSecret: JWT_SECRET, apiKey: API_KEY, redis }), prefix }));
  const lb = await startBalancer({ upstreams: nodes.map((n) => `127.0.0.1:${n.port}`), maxConns: o.capClients + 256, prefix });
  const b = new Backend('capacity', '3 nodes behind nginx, 3-shard cluster');
  b.redis = ctx.clusterRedis;
  b.nodes = nodes;
  b.procs = () => ({ ...Object.fromEntries(nodes.map((n) => [`node:${n.name}`, n.pids()])), nginx: lb.pids(), ...Object.fromEntries(b.redis.map((r) => [`redis:${r.name}`, r.server.pids()])) });
  for (const r of b.redis) r.overhead = await infoOverhead(r.server.port);
  const pool = new Pool(lb.url, { connections: 16, keepAliveTimeout: 60000 });
  const group = 'cap';
  const rooms = Array.from({ length: o.capRooms }, (_, k) => `bench:cap-${k}`);
  try {
    // Warm-up, not measured: fresh nodes and nginx would otherwise charge JIT compilation to the first connections.
    await subs.connect('cap-warm', { url: lb.url, secret: JWT_SECRET, rooms: [{ room: 'bench:cap-warm', count: 150 }], userPrefix: 'capw-', concurrency: 25 });
    await subs.close('cap-warm');
    await b.quiet();
    await b.measureBackground(2000);
    const gc0 = await Promise.all(nodes.map((n) => n.probe('gc')));
    const perRoom = split(o.capClients, o.capRooms);
    const conn = await b.measure(() => subs.connect(group, { url: lb.url, secret: JWT_SECRET, rooms: rooms.map((room, k) => ({ room, count: perRoom[k] })), userPrefix: 'cap-', concurrency: 25 }), { settle: true });
    await sleep(1000);
    const gc1 = await Promise.all(nodes.map((n) => n.probe('gc')));
    const sockets = await Promise.all(nodes.map((n) => n.metric('pushgate_connected_sockets')));
    const connectPrimaries = byRole(conn.redis, b, 'primary');
    const result = {
      nodes: nodes.length,
      clients: o.capClients,
      rooms: o.capRooms,
      socketsPerNode: Object.fromEntries(nodes.map((n, i) => [n.name, sockets[i]])),
      connect: {
        ms: conn.ms,
        perSecond: o.capClients / (conn.ms / 1000),
        cpu: cpuOf(conn.cpu, o.capClients),
        nginxUsPerConnection: (conn.cpu.nginx.cpuMs * 1000) / o.capClients,
        redis: perOp(conn.redis, b, o.capClients),
        redisOpsPerSecondPerShard: Object.fromEntries(b.primaries().map((r) => [r.name, conn.redis[r.name].commands / (conn.ms / 1000)])),
        redisMemoryPerConnection: connectPrimaries.usedMemory / o.capClients,
        redisKeysPerConnection: connectPrimaries.keys / o.capClients,
      },
      rssPerConnection: Object.fromEntries(nodes.map((n, i) => [n.name, (gc1[i].rss - gc0[i].rss) / sockets[i]])),
      heapPerConnection: Object.fromEntries(nodes.map((n, i) => [n.name, (gc1[i].heapUsed - gc0[i].heapUsed) / sockets[i]])),
      roomsPerPrimary: Object.fromEntries(b.primaries().map((r) => [r.name, rooms.filter((room) => cluster.primaryOf(roomSlot(room)) === r.server).length])),
      keysPerPrimary: Object.fromEntries(await Promise.all(b.primaries().map(async (r) => [r.name, Number((await cli(r.server.port, 'dbsize')).trim())]))),
      bursts: [],
    };
    log(`capacity: ${o.capClients} clients through nginx in ${(conn.ms / 1000).toFixed(1)} s (${Math.round(result.connect.perSecond)}/s), sockets per node ${sockets.join(', ')}; RSS per connection ${Object.values(result.rssPerConnection).map((x) => (x / 1024).toFixed(1)).join(', ')} KiB`);
    const pushes = o.capRooms * o.capPushesPerRoom;
    // Warm-up burst, not measured.
    await subs.reset(group);
    const warmPerRoom = o.capPushesPerRoom;
    const warm = subs.wait(group, warmPerRoom, 120000);
    await burst(pool, rooms, o.capRooms * warmPerRoom, o.concurrency);
    if (!(await warm).complete) throw new Error('capacity warm-up incomplete');
    for (let rep = 0; rep < o.reps; rep++) {
      await Promise.all(nodes.map((n) => n.probe('gc')));
      const { m, deliveries } = await measuredBurst(ctx, b, { group, pool, rooms, perRoom: o.capPushesPerRoom });
      const { delivered, seconds } = deliveries;
      const perNode = Object.fromEntries(nodes.map((n, i) => {
        const delivered = sockets[i] * o.capPushesPerRoom;
        return [n.name, { delivered, cpuMs: m.cpu[`node:${n.name}`].cpuMs, cpuUsPerDelivery: (m.cpu[`node:${n.name}`].cpuMs * 1000) / delivered, busy: m.cpu[`node:${n.name}`].cpuMs / m.windowMs }];
      }));
      const r = {
        ...deliveries,
        pushes,
        cpu: cpuOf(m.cpu, delivered),
        nginxUsPerDelivery: (m.cpu.nginx.cpuMs * 1000) / delivered,
        perNode,
        serverBusy: sum(Object.entries(m.cpu).filter(([k]) => k.startsWith('node:') || k.startsWith('redis:') || k === 'nginx').map(([, v]) => v.cpuMs)) / m.windowMs,
        redisOpsPerSecondPerShard: Object.fromEntries(b.primaries().map((r) => [r.name, m.redis[r.name].commands / seconds])),
        perPush: perOp(m.redis, b, pushes),
        balance: balance(m.redis, b),
      };
      // CPU of everything on the server side, nginx included.
      r.totalUsPerDelivery = r.cpu.usPerUnit + r.nginxUsPerDelivery;
      r.totalUsPerPush = (r.totalUsPerDelivery * delivered) / pushes;
      log(`capacity burst ${rep + 1}/${o.reps}: ${Math.round(r.rate)} deliveries/s (${delivered}/${r.expected} in ${seconds.toFixed(2)} s); CPU µs per delivery: nodes ${Object.values(perNode).map((x) => x.cpuUsPerDelivery.toFixed(2)).join(' / ')}, nginx ${r.nginxUsPerDelivery.toFixed(2)}, redis ${r.cpu.redisUsPerUnit.toFixed(2)}, all ${r.totalUsPerDelivery.toFixed(2)}; Redis ops/s per shard ${Object.values(r.redisOpsPerSecondPerShard).map(Math.round).join(' / ')}`);
      result.bursts.push(r);
    }
    await subs.close(group);
    return result;
  } finally {
    await pool.close();
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await lb.stop();
  }
}

// ---------- report ----------
const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
const line = (cells) => `| ${cells.join(' | ')} |`;

function tables(res, o) {
  const kinds = ['single', 'cluster'];
  const med = (f) => Object.fromEntries(kinds.map((k) => [k, median((res.reps[k] ?? []).map((r) => {
    try {
      return f(r);
    } catch {
      return null;
    }
  }))]));
  const out = [];
  const main = [line(['measurement (median of reps)', '1 Redis', '3-shard cluster', 'cluster / 1 Redis']), line(['---', '---:', '---:', '---:'])];
  const row = (label, f, d = 0) => {
    const v = med(f);
    if (v.single === null && v.cluster === null) return;
    main.push(line([label, fmt(v.single, d), fmt(v.cluster, d), v.single && v.cluster !== null ? fmt(v.cluster / v.single, 2) : 'n/a']));
  };
  const fan = `${o.rooms} rooms × ${o.roomSize}`;
  row(`Cross-node fan-out, ${fan} on node B, pushes to node A (deliveries/s)`, (r) => r.fanout.rate);
  row('Server CPU per delivery, nodes + every redis-server (µs)', (r) => r.fanout.cpu.usPerUnit, 2);
  row('… of which nodes A + B (µs)', (r) => r.fanout.cpu.nodesUsPerUnit, 2);
  row('… of which redis-servers (µs; cluster: primaries + replicas)', (r) => r.fanout.cpu.redisUsPerUnit, 2);
  row('Server CPU per push in the burst, everything (µs)', (r) => r.fanout.cpuUsPerPush, 1);
  row('… node A (HTTP API + admission) per push (µs)', (r) => r.fanout.nodeAUsPerPush, 1);
  row('… redis-servers per push (µs)', (r) => r.fanout.redisUsPerPush, 1);
  row('… node B (receives from Redis, writes to sockets) per delivery (µs)', (r) => r.fanout.nodeBUsPerDelivery, 2);
  row('Write syscalls: node A per push', (r) => r.fanout.nodeAWritesPerPush, 2);
  row('Write syscalls: node B per delivery', (r) => r.fanout.nodeBWritesPerDelivery, 3);
  row('Server CPU busy during the burst (% of one core)', (r) => r.fanout.serverBusy * 100);
  row(`Push API: broadcast to ${o.httpRooms} rooms over the shards (requests/s)`, (r) => r.http.broadcast.rps);
  row('… server CPU per request (µs)', (r) => r.http.broadcast.cpu.usPerUnit, 1);
  row('… p99 (ms)', (r) => r.http.broadcast.p99Ms, 1);
  row('Push API: /api/v1/push to one user (requests/s)', (r) => r.http.push.rps);
  row('… server CPU per request (µs)', (r) => r.http.push.cpu.usPerUnit, 1);
  row(`Connects/s (${o.ops} sockets; socket.io-client on the client CPU, so client-bound)`, (r) => r.ops.connect.perSecond);
  row('Server CPU per connect (µs)', (r) => r.ops.connect.cpu.usPerUnit, 1);
  row('Server CPU per room:join (µs)', (r) => r.ops.join.cpu.usPerUnit, 1);
  row('Server CPU per disconnect (µs)', (r) => r.ops.disconnect.cpu.usPerUnit, 1);
  if (main.length > 2) out.push(main.join('\n'));

  const ops = [
    ['connect (socket + personal stream + presence)', (r) => r.ops.connect],
    ['room:join', (r) => r.ops.join],
    ['disconnect', (r) => r.ops.disconnect],
    [`push, fan-out burst (room of ${o.roomSize} on node B)`, (r) => r.fanout.push],
    ['delivery, fan-out burst', (r) => r.fanout.delivery],
    ['push API broadcast (room without sockets)', (r) => r.http.broadcast.perRequest],
    ['push API /push (user without sockets)', (r) => r.http.push.perRequest],
  ];
  const cost = [
    line(['Redis per operation (median of reps)', '1 Redis: commands', 'scripts', 'bytes in', 'bytes out', 'keys', 'cluster primaries: commands', 'scripts', 'bytes in', 'bytes out', 'keys', 'repl. out', 'cluster replicas: commands']),
    line(['---', ...Array(12).fill('---:')]),
  ];
  for (const [label, pick] of ops) {
    const v = (k, f) => med((r) => f(pick(r)))[k];
    const d = (x) => (x !== null && Math.abs(x) < 10 ? 2 : 0);
    const cells = [
      ...['commands', 'scripts', 'bytesIn', 'bytesOut', 'keys'].map((f) => v('single', (p) => p.primaries[f])),
      ...['commands', 'scripts', 'bytesIn', 'bytesOut', 'keys', 'replicationOut'].map((f) => v('cluster', (p) => p.primaries[f])),
      v('cluster', (p) => p.replicas.commands),
    ];
    if (cells.every((c) => c === null)) continue;
    cost.push(line([label, ...cells.map((c) => fmt(c, d(c)))]));
  }
  if (cost.length > 2) out.push(cost.join('\n'));

  const cl = res.reps.cluster ?? [];
  if (cl.length && res.shards) {
    const names = res.shards.primaries.map((p) => p.name);
    const medOf = (f) => names.map((n) => median(cl.map((r) => f(r)?.commands?.[n] ?? null)));
    const ratio = (xs) => (xs.every((x) => x > 0) ? fmt(Math.max(...xs) / Math.min(...xs), 2) : 'n/a');
    const bal = [line(['shard balance (cluster)', ...names, 'max / min']), line(['---', ...names.map(() => '---:'), '---:'])];
    bal.push(line(['hash slots', ...res.shards.primaries.map((p) => fmt(p.slots)), ratio(res.shards.primaries.map((p) => p.slots))]));
    bal.push(line([`fan-out rooms (of ${o.rooms})`, ...res.shards.primaries.map((p) => fmt(p.fanRooms)), ratio(res.shards.primaries.map((p) => p.fanRooms))]));
    bal.push(line([`push-API rooms (of ${o.httpRooms})`, ...res.shards.primaries.map((p) => fmt(p.httpRooms.length)), ratio(res.shards.primaries.map((p) => p.httpRooms.length))]));
    bal.push(line(['keys after the reps (the /push user\'s shard also holds a marker per /push)', ...res.shards.primaries.map((p) => `${fmt(p.keys)}${p.pushUser ? ' (user)' : ''}`), ratio(res.shards.primaries.map((p) => p.keys))]));
    for (const [label, f] of [['commands in a fan-out burst', (r) => r.fanout?.balance], ['commands in the broadcast API window', (r) => r.http?.broadcast.balance], ['commands in the /push API window (one user: one slot)', (r) => r.http?.push.balance]]) {
      const xs = medOf(f);
      if (xs.every((x) => x === null)) continue;
      bal.push(line([label, ...xs.map((x) => fmt(x)), ratio(xs)]));
    }
    out.push(`${bal.join('\n')}\n\nKeys after the reps on the single Redis: ${fmt(res.shards.singleKeys)}; on the cluster: ${fmt(sum(res.shards.primaries.map((p) => p.keys)))} over the primaries.`);
  }

  const cap = res.capacity;
  if (cap) {
    const names = Object.keys(cap.socketsPerNode);
    const m = (f) => median(cap.bursts.map(f));
    const c = [line(['capacity check: 3 nodes behind nginx, 3-shard cluster', ...names, 'all']), line(['---', ...names.map(() => '---:'), '---:'])];
    c.push(line(['clients (sockets on the node)', ...names.map((n) => fmt(cap.socketsPerNode[n])), fmt(cap.clients)]));
    c.push(line(['RSS per connection (KiB, after GC)', ...names.map((n) => fmt(cap.rssPerConnection[n] / 1024, 1)), '']));
    c.push(line(['V8 heap per connection (KiB, after GC)', ...names.map((n) => fmt(cap.heapPerConnection[n] / 1024, 1)), '']));
    c.push(line([`deliveries/s (median of ${cap.bursts.length} bursts)`, ...names.map((n) => fmt(m((b) => b.perNode[n].delivered / b.seconds))), fmt(m((b) => b.rate))]));
    c.push(line(['CPU per delivery (µs): node', ...names.map((n) => fmt(m((b) => b.perNode[n].cpuUsPerDelivery), 2)), fmt(m((b) => b.cpu.nodesUsPerUnit), 2)]));
    c.push(line(['CPU per delivery (µs): nginx / redis-servers / everything', ...names.map(() => ''), `${fmt(m((b) => b.nginxUsPerDelivery), 2)} / ${fmt(m((b) => b.cpu.redisUsPerUnit), 2)} / ${fmt(m((b) => b.totalUsPerDelivery), 2)}`]));
    c.push(line(['CPU per push (µs): nodes + nginx + redis-servers', ...names.map(() => ''), fmt(m((b) => b.totalUsPerPush))]));
    c.push(line(['node CPU busy during the burst (% of one core)', ...names.map((n) => fmt(m((b) => b.perNode[n].busy * 100))), fmt(m((b) => b.serverBusy * 100))]));
    out.push(c.join('\n'));
    const shards = Object.keys(cap.connect.redisOpsPerSecondPerShard);
    const s = [line(['capacity check: Redis per shard', ...shards, 'all']), line(['---', ...shards.map(() => '---:'), '---:'])];
    const all = (obj) => fmt(sum(Object.values(obj)));
    s.push(line(['commands/s while connecting', ...shards.map((k) => fmt(cap.connect.redisOpsPerSecondPerShard[k])), all(cap.connect.redisOpsPerSecondPerShard)]));
    const burstOps = Object.fromEntries(shards.map((k) => [k, m((b) => b.redisOpsPerSecondPerShard[k])]));
    s.push(line(['commands/s during a push burst', ...shards.map((k) => fmt(burstOps[k])), all(burstOps)]));
    s.push(line([`rooms (of ${cap.rooms})`, ...shards.map((k) => fmt(cap.roomsPerPrimary[k])), fmt(cap.rooms)]));
    s.push(line(['keys after connecting', ...shards.map((k) => fmt(cap.keysPerPrimary[k])), all(cap.keysPerPrimary)]));
    out.push(s.join('\n'));
    out.push(`Capacity check, connect: ${fmt(cap.clients)} clients through nginx in ${fmt(cap.connect.ms / 1000, 1)} s (${fmt(cap.connect.perSecond)}/s with the clients' handshakes on the client CPU), ${fmt(cap.connect.cpu.usPerUnit)} µs server CPU per connection (nodes + redis-servers, with its room:join; nginx ${fmt(cap.connect.nginxUsPerConnection)} µs more); Redis per connection: ${fmt(cap.connect.redis.primaries.commands, 1)} commands, ${fmt(cap.connect.redisMemoryPerConnection)} B used_memory, ${fmt(cap.connect.redisKeysPerConnection, 1)} keys (summed over the primaries).`);
  }
  return out.join('\n\n');
}

function machine() {
  return { nproc: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10, node: process.version, os: `${os.type()} ${os.release()}` };
}

// ---------- main ----------
async function main() {
  const o = parseOrExit(parseArgs, process.argv.slice(2), HELP);
  if (o.help) return void process.stdout.write(`${HELP}\n`);
  const deadline = guardRun(o.deadlineS, log);

  const needFds = 2 * (o.rooms * o.roomSize * 2 + o.ops + o.capClients) + 2048;
  const fdLimit = Number(spawnSync('sh', ['-c', 'ulimit -n']).stdout.toString().trim());
  if (Number.isFinite(fdLimit) && fdLimit < needFds) log(`warning: open-files limit ${fdLimit} is below the ~${needFds} this run may need`);

  const distEntry = join(HERE, 'dist', 'server', 'src', 'main.js');
  let entry = distEntry;
  if (o.build || !existsSync(distEntry)) {
    log('compiling server/src into load-tests/bench/dist (private build; --no-build reuses it)');
    entry = buildPushgate(join(HERE, 'dist'));
  }
  const source = sourceState();
  if (source.serverSrcDirty) log('note: server/src differs from HEAD (uncommitted changes are measured)');

  place = placement(o.pin);
  if (place.pinned) {
    if (!pinProcess(process.pid, place.clientCpus)) log('warning: could not pin the orchestrator');
    log(`placement: servers (nodes, redis-servers, nginx) on CPU ${place.serverCpus}; subscribers, load generators and orchestrator on CPU ${place.clientCpus}`);
  } else log(`no CPU pinning (${place.reason})`);

  const started = new Date();
  const loads = [os.loadavg()[0]];
  const loadTimer = setInterval(() => loads.push(os.loadavg()[0]), 2000);
  log(`machine: ${JSON.stringify(machine())}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log(`reps ${o.reps}; fan-out ${o.rooms} rooms × ${o.roomSize}, ${o.pushesPerRoom} pushes per room; ops ${o.ops} sockets over ${o.opsRooms} rooms; capacity ${o.capClients} clients in ${o.capRooms} rooms; steps ${o.steps.join(',')}`);

  const backends = {};
  let subs = null;
  let opClient = null;
  const res = { reps: { single: [], cluster: [] } };
  try {
    [subs, opClient] = await Promise.all([
      Subscribers.start(WIRE_SUBSCRIBER, o.workers, { prefix: place.prefix('client'), name: 'sub' }),
      Subscribers.start(OP_CLIENT, 1, { prefix: place.prefix('client'), name: 'op' }),
    ]);
    backends.single = await Backend.start('single', entry);
    backends.cluster = await Backend.start('cluster', entry);
    const cluster = backends.cluster.store;
    log(`cluster: primaries on ${cluster.topology.primaries.map((p) => p.port).join(', ')}, replicas on ${cluster.topology.replicas.map((p) => p.port).join(', ')}`);
    const ctx = { o, subs, opClient, clusterRedis: backends.cluster.redis };
    ctx.fanRooms = Array.from({ length: o.rooms }, (_, j) => `bench:fan-${j}`);
    ctx.httpRooms = roomsOverShards(cluster, 'bench:api-', o.httpRooms);
    const shardOf = (room) => cluster.topology.primaries.indexOf(cluster.primaryOf(roomSlot(room)));
    const kinds = ['single', 'cluster'];
    // Before each measured step every node collects its garbage (probe.cjs), so what the previous
    // step left, on either backend, is not collected inside the next window on the shared CPU.
    const gcAll = () => Promise.all(kinds.flatMap((k) => backends[k].nodes.map((n) => n.probe('gc'))));

    if (o.steps.includes('fanout')) {
      for (const k of kinds) {
        const c = await subs.connect(`fan-${k}`, { url: backends[k].b.url, secret: JWT_SECRET, rooms: ctx.fanRooms.map((room) => ({ room, count: o.roomSize })), userPrefix: `f${k[0]}-` });
        log(`fanout ${k}: ${c.connected} subscribers on node B in ${o.rooms} rooms (${(c.ms / 1000).toFixed(1)} s)`);
      }
    }
    // Warm-up, not measured: a burst per backend, a few connects and joins, a few API requests.
    for (const k of kinds) {
      const b = backends[k];
      if (o.steps.includes('fanout')) {
        await subs.reset(`fan-${k}`);
        const warm = o.pushesPerRoom;
        const w = subs.wait(`fan-${k}`, warm, 120000);
        await burst(b.pool, ctx.fanRooms, o.rooms * warm, o.concurrency);
        if (!(await w).complete) throw new Error(`${k}: fan-out warm-up incomplete`);
      }
      if (o.steps.includes('ops')) {
        await opClient.connect('warm', { url: b.b.url, secret: JWT_SECRET, rooms: [{ room: null, count: Math.min(o.ops, 300) }], userPrefix: 'warm-' });
        await opClient.join('warm', ['bench:warm']);
        await opClient.close('warm');
      }
      await burst(b.pool, ctx.httpRooms, 200, 8);
      await b.quiet();
      await b.measureBackground(3000);
      log(`${k}: idle Redis traffic ${fmt(sum(Object.values(b.background).map((x) => x.commands)), 1)} commands/s, ${fmt(sum(Object.values(b.background).map((x) => x.netIn + x.netOut)))} B/s (subtracted from every window)`);
    }

    for (let rep = 0; rep < o.reps; rep++) {
      const order = rep % 2 === 0 ? kinds : [...kinds].reverse();
      for (const k of order) {
        log(`rep ${rep + 1}/${o.reps}: ${backends[k].label}`);
        const r = { rep };
        if (o.steps.includes('ops')) r.ops = await gcAll().then(() => opsStep(ctx, backends[k], rep));
        if (o.steps.includes('fanout')) r.fanout = await gcAll().then(() => fanoutStep(ctx, backends[k]));
        if (o.steps.includes('http')) r.http = await gcAll().then(() => httpStep(ctx, backends[k]));
        res.reps[k].push(r);
      }
    }

    res.shards = {
      primaries: await Promise.all(backends.cluster.primaries().map(async (r, i) => ({
        name: r.name,
        port: r.server.port,
        slots: sum(r.server.slots.map(([a, z = a]) => z - a + 1)),
        fanRooms: ctx.fanRooms.filter((room) => shardOf(room) === i).length,
        httpRooms: ctx.httpRooms.filter((room) => shardOf(room) === i),
        keys: Number((await cli(r.server.port, 'dbsize')).trim()),
        pushUser: cluster.primaryOf(slotOf('{u:bench-http-nobody}')) === r.server,
      }))),
      singleKeys: Number((await cli(backends.single.store.port, 'dbsize')).trim()),
    };

    if (o.steps.includes('fanout')) for (const k of kinds) await subs.close(`fan-${k}`);
    if (o.steps.includes('capacity')) {
      // The cluster stays; the comparison's nodes and the single Redis go, and the keys with them.
      await backends.single.stop();
      delete backends.single;
      await Promise.allSettled(backends.cluster.nodes.map((n) => n.stop()));
      await Promise.all(backends.cluster.primaries().map((r) => cli(r.server.port, 'flushall')));
      await sleep(500);
      log(`capacity check: 3 nodes on the cluster behind nginx, ${o.capClients} clients`);
      res.capacity = await capacity(ctx, cluster, entry);
    }
  } finally {
    clearInterval(loadTimer);
    await Promise.allSettled(Object.values(backends).map((b) => b.stop()));
    subs?.end();
    opClient?.end();
  }

  const report = {
    date: started.toISOString(),
    durationS: Math.round((Date.now() - started.getTime()) / 1000),
    command: `npm run bench:cluster --${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: machine(),
    placement: { pinned: place.pinned, reason: place.reason, serverCpus: place.serverCpus, clientCpus: place.clientCpus },
    source,
    versions: { redis: /v=(\S+)/.exec(spawnSync('redis-server', ['--version']).stdout.toString())?.[1] ?? null },
    loadAverage: { min: Math.min(...loads), median: median(loads), max: Math.max(...loads) },
    options: o,
    results: res,
  };
  const text = tables(res, o);
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${text}\n\n`);
  process.stdout.write(`machine: ${report.machine.nproc} cores, ${report.machine.cpuModel}, Node ${report.machine.node}, Redis ${report.versions.redis}; placement: ${place.pinned ? `servers on CPU ${place.serverCpus}, clients on CPU ${place.clientCpus}` : `not pinned (${place.reason})`}\n`);
  process.stdout.write(`load average (1 min): min ${report.loadAverage.min.toFixed(2)}, median ${report.loadAverage.median.toFixed(2)}, max ${report.loadAverage.max.toFixed(2)}; duration ${report.durationS} s; commit ${source.commit?.slice(0, 7)}${source.serverSrcDirty ? ' (server/src modified)' : ''}\n`);
  process.stdout.write(`results: ${relative(process.cwd(), o.out)}\n`);
  clearTimeout(deadline);
}

runMain(main, log);
