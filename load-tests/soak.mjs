#!/usr/bin/env node
/*
 * The soak (issue 6): two pushgate nodes and a private redis-server on 127.0.0.1 under steady
 * numbered pushes, connection churn and room churn for --minutes; memory and Redis keys sampled
 * every few seconds; at the end every message owed to a client is accounted for. See --help.
 *
 * Modules: soak/processes.mjs (children, cleanup), soak/load.mjs (sender, clients, accounting),
 * soak/sample.mjs (/metrics, Redis key families, slopes).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { PushSender, SoakClient, churn, newClientStats } from './soak/load.mjs';
import { NodeProc, RedisProc, killAll, startedPids, stillRunning } from './soak/processes.mjs';
import { RedisSampler, readNode, slope } from './soak/sample.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const DEFAULT_OUT = join(ROOT, 'load-tests', 'reliability', 'results', 'soak.json');

/** Settings of the nodes under test that the bounds below depend on. */
const HISTORY_TTL_SECONDS = 20;
const HISTORY_SIZE = 50;
/** PushService's idempotency window (not configurable; contract §4: "within 5 minutes"). */
const IDEMPOTENCY_TTL_MS = 300_000;
/** historyMetaTtlMs(): max(HISTORY_TTL, 1 h). */
const META_TTL_MS = Math.max(HISTORY_TTL_SECONDS * 1000, 3_600_000);
const HEARTBEAT_MS = 1000;
/**
 * Memory "levels off" when the least-squares slope over the second half of the run is at most this
 * share of the second half's mean level per minute. Judged on RSS as /metrics reports it and on the
 * heap that survives a forced full GC (heapUsed between collections is a sawtooth whose slope over
 * five minutes says little).
 */
const LEVEL_OFF_SHARE_PER_MIN = 0.01;
/** Memory is judged only on runs at least this long (shorter ones are dominated by warm-up). */
const JUDGE_MEMORY_MIN_MINUTES = 5;

const HELP = `npm run soak -- [options]

Two pushgate nodes (node --import tsx server/src/main.ts, NODE_ENV=production) and a private
redis-server on 127.0.0.1, under steady numbered pushes (~90/s), connection churn and room churn.
Memory, sockets and Redis keys are sampled every few seconds; at the end every message owed to a
client is accounted for. Writes a JSON result and prints a table; exits 1 when a promise did not hold.

  --minutes N       length of the load phase (default 10; fractions allowed, e.g. 0.75)
  --trackers N      long-lived clients that never churn (default 16)
  --churners N      clients that connect, leave and come back (default 40)
  --pool-rooms N    bounded set of rooms churners join and leave (default 30)
  --sample-s N      sampling period in seconds (default 5)
  --settle-ms N     time between deciding to leave a room and sending room:leave (default 2000)
  --gc-s N          period of the forced full GC after which the retained heap is read (default 30)
  --out FILE        result JSON (default load-tests/reliability/results/soak.json)
  --deadline-s N    hard limit for the whole run (default: minutes × 60 + 300)
  --quiet           no progress line per sample
  --help            this text

Node settings: HISTORY_TTL_SECONDS=${HISTORY_TTL_SECONDS} (small, so stream expiry happens within the run),
HISTORY_SIZE=${HISTORY_SIZE}, HEARTBEAT_MS=${HEARTBEAT_MS}, rate limits off, PRESENCE_ROOMS=soak:pool:*.`;

function parseArgs(argv) {
  const o = { minutes: 10, trackers: 16, churners: 40, poolRooms: 30, sampleS: 5, gcS: 30, settleMs: 2000, out: DEFAULT_OUT, deadlineS: null, quiet: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`);
      return v;
    };
    switch (a) {
      case '--help': case '-h': o.help = true; break;
      case '--quiet': o.quiet = true; break;
      case '--minutes': o.minutes = num(); break;
      case '--trackers': o.trackers = Math.round(num()); break;
      case '--churners': o.churners = Math.round(num()); break;
      case '--pool-rooms': o.poolRooms = Math.round(num()); break;
      case '--sample-s': o.sampleS = num(); break;
      case '--settle-ms': o.settleMs = num(); break;
      case '--gc-s': o.gcS = num(); break;
      case '--deadline-s': o.deadlineS = num(); break;
      case '--out': {
        if (argv[i + 1] === undefined) throw new Error('--out needs a file');
        o.out = resolve(argv[++i]);
        break;
      }
      default: throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  o.deadlineS ??= o.minutes * 60 + 300;
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
const MiB = 1024 * 1024;
const mib = (b) => (b === null || b === undefined ? 'n/a' : (b / MiB).toFixed(1));
const loadavg = () => os.loadavg().map((x) => Math.round(x * 100) / 100);

/** Waits for `cond` (polled), at most `ms`; answers whether it became true. */
async function until(cond, ms, everyMs = 200) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await sleep(everyMs);
  }
}

const PRESENCE_FAMILIES = ['sock', 'user', 'users', 'room', 'rooms', 'roomu', 'node'];
const KNOWN_FAMILIES = new Set([...PRESENCE_FAMILIES, 'owners', 'nodes', 'msg', 'part', 'hist', 'hmeta']);

function summarize(values) {
  const xs = values.filter((v) => Number.isFinite(v));
  if (xs.length === 0) return { first: null, last: null, max: null };
  return { first: xs[0], last: xs[xs.length - 1], max: Math.max(...xs) };
}

/** First/last/max, the second half's slope (per minute) and level, and the verdict (`judge`: true, false for a run too short, 'figure'). */
function trend(samples, get, judge) {
  const pts = samples.map((s) => [s.minute, get(s)]).filter(([, v]) => Number.isFinite(v));
  const base = summarize(pts.map(([, v]) => v));
  if (pts.length === 0) return { ...base, slopePerMin: null, level: null, shareOfLevelPerMin: null, verdict: 'no samples' };
  const tEnd = pts[pts.length - 1][0];
  const half = pts.filter(([t]) => t >= tEnd / 2);
  const s = slope(half);
  const level = half.reduce((a, [, v]) => a + v, 0) / half.length;
  const share = s === null || level === 0 ? null : s / level;
  let verdict;
  if (judge === 'figure') verdict = 'a figure, not judged';
  else if (!judge) verdict = `not judged (run under ${JUDGE_MEMORY_MIN_MINUTES} min)`;
  else if (share === null) verdict = 'not judged (too few samples)';
  else verdict = share > LEVEL_OFF_SHARE_PER_MIN ? 'grows' : share < -LEVEL_OFF_SHARE_PER_MIN ? 'levels off (falls)' : 'levels off';
  return { ...base, slopePerMin: s === null ? null : Math.round(s), level: Math.round(level), shareOfLevelPerMin: share, verdict };
}

function machine() {
  const cpus = os.cpus();
  return { cores: cpus.length, cpu: cpus[0]?.model ?? 'unknown', ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10, node: process.version };
}

function gitInfo() {
  const git = (...a) => spawnSync('git', a, { cwd: ROOT }).stdout?.toString().trim() ?? '';
  return { commit: git('rev-parse', 'HEAD') || null, serverSrcDirty: git('status', '--porcelain', '--', 'server/src') !== '' };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const startedAt = Date.now();
  const loadStart = loadavg();
  const deadline = setTimeout(() => {
    log(`hard deadline of ${o.deadlineS} s reached: killing everything`);
    killAll();
    process.exit(2);
  }, o.deadlineS * 1000);
  deadline.unref();

  const runId = randomBytes(3).toString('hex');
  const prefix = `soak-${runId}`;
  const jwtSecret = randomBytes(32).toString('base64url');
  const apiKey = `sk_${randomBytes(24).toString('base64url')}`;
  const metricsToken = randomBytes(16).toString('base64url');
  const nodeEnv = {
    NODE_ENV: 'production',
    JWT_SECRET: jwtSecret,
    API_KEYS: `soak:${apiKey}:admin`,
    METRICS_TOKEN: metricsToken,
    RATE_LIMIT_HTTP: '0',
    RATE_LIMIT_CONNECTIONS: '0',
    RATE_LIMIT_EVENTS: '0',
    HEARTBEAT_MS: String(HEARTBEAT_MS),
    HISTORY_TTL_SECONDS: String(HISTORY_TTL_SECONDS),
    HISTORY_SIZE: String(HISTORY_SIZE),
    PRESENCE_ROOMS: 'soak:pool:*',
    REDIS_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    SHUTDOWN_TIMEOUT_MS: '8000',
  };

  log(`starting redis-server and two nodes (prefix ${prefix}); load for ${o.minutes} min; load average ${loadStart.join(' ')}`);
  const redis = await RedisProc.start();
  const nodes = await Promise.all(['soak-a', 'soak-b'].map((name) => NodeProc.start({ name, root: ROOT, env: { ...nodeEnv, REDIS_URL: redis.url, NODE_ID: name } })));
  const urls = nodes.map((n) => n.url);
  const sampler = new RedisSampler(redis.url, prefix);
  await sampler.connect();

  const crashes = [];
  for (const n of nodes) {
    void n.exited.then((r) => {
      if (!n.stopping) crashes.push({ node: n.name, ...r, tail: n.tail.slice(-1500) });
    });
  }

  const history = { ttlMs: HISTORY_TTL_SECONDS * 1000, size: HISTORY_SIZE };
  const sender = new PushSender({ urls, apiKey, runId });
  const stats = newClientStats();
  const tokenFor = (sub) => jwt.sign({ sub, rooms: ['soak:*'] }, jwtSecret, { algorithm: 'HS256', expiresIn: Math.ceil(o.deadlineS + 3600) });
  const fixedRooms = Array.from({ length: 8 }, (_, i) => `soak:fixed:${i}`);
  const poolRooms = Array.from({ length: o.poolRooms }, (_, i) => `soak:pool:${i}`);
  const mk = (userId, kind) => new SoakClient({ userId, kind, urls, token: tokenFor(userId), stats, history, sender, settleMs: o.settleMs });
  const trackers = Array.from({ length: o.trackers }, (_, i) => mk(`trk-${i}`, 'tracker'));
  const churners = Array.from({ length: o.churners }, (_, i) => mk(`chn-${i}`, 'churner'));
  const clients = [...trackers, ...churners];

  // Trackers: connected once, each in its personal stream and two of the fixed rooms, for the whole run.
  await Promise.all(
    trackers.map(async (c, i) => {
      const ready = new Promise((r) => (c.onReady = r));
      c.open(i % urls.length);
      if (!(await Promise.race([ready.then(() => true), sleep(20000).then(() => false)]))) throw new Error(`tracker ${c.userId} got no welcome`);
      c.onReady = null;
      for (const room of [fixedRooms[i % 8], fixedRooms[(i + 3) % 8]]) if (!(await c.join(room))) throw new Error(`tracker ${c.userId} could not join ${room}`);
    }),
  );

  for (const r of fixedRooms) sender.add(r, { everyMs: 500 });
  for (const r of poolRooms) sender.add(r, { everyMs: 1000, startInMs: Math.random() * 1000 });
  for (const c of trackers) sender.add(c.personal, { everyMs: 1000, ackEvery: 10, startInMs: Math.random() * 1000 });
  for (const c of churners) sender.add(c.personal, { everyMs: 2000, startInMs: Math.random() * 2000 });
  sender.start();
  const loadStartedAt = Date.now();

  let stopping = false;
  let onceSeq = 0;
  const oneOff = async (c) => {
    const room = `soak:once:${runId}-${++onceSeq}`;
    if (!(await c.join(room))) return;
    stats.rooms.oneOff += 1;
    sender.add(room, { everyMs: 1000, limit: 3, startInMs: 50, onDone: () => c.leave(room) });
  };
  const liveOneOffRooms = () => {
    let n = 0;
    for (const c of churners) for (const [s, t] of c.tracks) if (s.startsWith('soak:once:') && (t.open || c.leaving.has(s) || c.pendingLeaves.has(s))) n += 1;
    return n;
  };
  const churnDone = churners.map((c, i) =>
    sleep((i / churners.length) * 3000).then(() =>
      churn(c, { pool: poolRooms, oneOff, stopped: () => stopping, longAwayMs: Math.max(HISTORY_TTL_SECONDS * 1000 * 3, 60000), longAwayShare: 0.06 }),
    ),
  );

  // ---------- sampling ----------
  const samples = [];
  const boundViolations = [];
  let prevLiveOnce = 0;
  let nextGc = Date.now() + o.gcS * 1000;
  const sampleOnce = async (phase) => {
    const lo = Date.now();
    const liveOnce = liveOneOffRooms();
    const nodeReads = await Promise.all(nodes.map((n) => (n.alive ? readNode(n, metricsToken).catch((e) => ({ error: e.message })) : { error: 'exited' })));
    // After /metrics was read: the forced collection must not shape the RSS figure of this sample.
    if (phase === 'load' && Date.now() >= nextGc) {
      nextGc += o.gcS * 1000;
      await Promise.all(
        nodes.map(async (n, i) => {
          if (!n.alive) return;
          const m = await n.probe('gc').catch(() => null);
          if (m) Object.assign(nodeReads[i], { retainedHeap: m.heapUsed, rssAfterGc: m.rss });
        }),
      );
    }
    const [{ counts, maxXlen }, info] = await Promise.all([sampler.families(), sampler.info()]);
    const hi = Date.now();
    const b = sender.bounds(lo, hi, IDEMPOTENCY_TTL_MS, HISTORY_TTL_SECONDS * 1000, 5000);
    // Every stream a client or the sender touched: personal streams, fixed and pool rooms, each one-off room name tried.
    const streamsEver = clients.length + fixedRooms.length + poolRooms.length + onceSeq;
    const roomBound = fixedRooms.length + poolRooms.length + Math.max(liveOnce, prevLiveOnce) + 5;
    prevLiveOnce = liveOnce;
    const bounds = {
      sock: 4 * clients.length,
      user: clients.length,
      users: 1,
      owners: 1,
      node: nodes.length,
      nodes: 2,
      room: roomBound,
      roomu: roomBound,
      rooms: 1,
      msg: b.ids,
      // One per stream of a push to several streams (the soak's pushes each name one).
      part: b.ids,
      hist: b.streams,
      hmeta: streamsEver,
    };
    const s = { t: lo, minute: (lo - loadStartedAt) / 60000, phase, nodes: Object.fromEntries(nodes.map((n, i) => [n.name, nodeReads[i]])), redis: info, families: counts, maxXlen, bounds, scanMs: hi - lo };
    for (const [f, v] of Object.entries(counts)) {
      const bound = KNOWN_FAMILIES.has(f) ? bounds[f] : 0;
      if (v > bound) boundViolations.push({ minute: Math.round(s.minute * 100) / 100, family: f, keys: v, bound });
    }
    if (maxXlen > HISTORY_SIZE) boundViolations.push({ minute: Math.round(s.minute * 100) / 100, family: 'hist (entries per stream)', keys: maxXlen, bound: HISTORY_SIZE });
    samples.push(s);
    if (!o.quiet) {
      const mem = nodes.map((n) => `${n.name} rss ${mib(s.nodes[n.name].rss)} heap ${mib(s.nodes[n.name].heapUsed)}${s.nodes[n.name].retainedHeap ? ` (after GC ${mib(s.nodes[n.name].retainedHeap)})` : ''} socks ${s.nodes[n.name].sockets ?? '?'}`).join(' | ');
      log(`${s.minute.toFixed(2)} min ${phase}: ${mem} | redis keys ${info.dbsize} mem ${mib(info.usedMemory)} MiB | sent ${sender.stats.sent} | ${Object.entries(counts).map(([f, v]) => `${f}=${v}`).join(' ')}`);
    }
    return s;
  };

  const loadEnd = loadStartedAt + o.minutes * 60000;
  let nextSample = Date.now();
  while (Date.now() < loadEnd && crashes.length === 0) {
    if (Date.now() >= nextSample) {
      nextSample += o.sampleS * 1000;
      await sampleOnce('load');
    }
    await sleep(Math.max(10, Math.min(nextSample, loadEnd) - Date.now()));
  }
  const loadEndedAt = Date.now();
  if (crashes.length) log(`a node exited during the run: ${JSON.stringify(crashes.map((c) => ({ node: c.node, code: c.code, signal: c.signal })))}`);

  // ---------- the end: everyone back, the senders stop, the tail arrives ----------
  log('stopping the churn; away clients come back and recover');
  stopping = true;
  await Promise.race([Promise.all(churnDone), sleep(30000)]);
  const back = await until(() => churners.every((c) => c.connected && !c.away), 30000);
  if (!back) log(`${churners.filter((c) => !(c.connected && !c.away)).length} churners did not come back within 30 s`);
  // Leaves decided during the churn go out a settle time later: let them finish before the count.
  await until(() => clients.every((c) => c.leaving.size === 0 && c.pendingLeaves.size === 0), o.settleMs + 15000);
  log('stopping the senders');
  await sender.stop();
  const sendersStoppedAt = Date.now();
  const tailArrived = await until(() => clients.every((c) => c.missingTail(sender).length === 0), 20000);
  if (!tailArrived) log('some clients still miss the last message of a stream after 20 s');
  const endAt = sendersStoppedAt;
  const trackerTally = sumTallies(trackers.map((c) => c.tally(sender, endAt)));
  const churnerTally = sumTallies(churners.map((c) => c.tally(sender, endAt)));
  await sampleOnce('drained');

  // ---------- clients close: presence must empty while both nodes are still up ----------
  for (const c of clients) c.close();
  const closedAt = Date.now();
  let lastCounts = {};
  const presenceGone = await until(async () => {
    lastCounts = (await sampler.families()).counts;
    return PRESENCE_FAMILIES.every((f) => !lastCounts[f]);
  }, 15000, 250);
  const presenceGoneMs = Date.now() - closedAt;
  const afterClose = await sampleOnce('clients closed');

  // ---------- teardown ----------
  await sampler.close();
  await sender.close();
  const exits = {};
  for (const n of nodes) {
    const alreadyGone = !n.alive;
    const r = await n.stop();
    exits[n.name] = { code: r.code, signal: r.signal, crashedBeforeStop: alreadyGone, warnings: n.warningCount, errors: n.errorCount, firstWarnings: n.warnings.slice(0, 5) };
  }
  await redis.stop();
  await sleep(200);
  const leftRunning = stillRunning();
  killAll();
  clearTimeout(deadline);

  // ---------- figures ----------
  const judge = o.minutes >= JUDGE_MEMORY_MIN_MINUTES;
  const loadSamples = samples.filter((s) => s.phase === 'load');
  const memory = Object.fromEntries(
    nodes.map((n) => [
      n.name,
      {
        rss: trend(loadSamples, (s) => s.nodes[n.name].rss, judge),
        heapUsed: trend(loadSamples, (s) => s.nodes[n.name].heapUsed, 'figure'),
        retainedHeap: trend(loadSamples, (s) => s.nodes[n.name].retainedHeap, judge),
        sockets: summarize(loadSamples.map((s) => s.nodes[n.name].sockets)),
        eventLoopLagP99Max: summarize(loadSamples.map((s) => s.nodes[n.name].eventLoopLagP99)).max,
      },
    ]),
  );
  const families = {};
  const allFamilies = new Set(samples.flatMap((s) => Object.keys(s.families)));
  for (const f of allFamilies) {
    const xs = samples.map((s) => s.families[f] ?? 0);
    const loadXs = loadSamples.map((s) => s.families[f] ?? 0);
    families[f] = { ...summarize(loadXs), afterClose: afterClose.families[f] ?? 0, maxBound: KNOWN_FAMILIES.has(f) ? Math.max(...samples.map((s) => s.bounds[f])) : 0, withinBound: !boundViolations.some((v) => v.family === f), maxAll: Math.max(...xs) };
  }
  const minutesRun = (loadEndedAt - loadStartedAt) / 60000;
  const ss = sender.stats;
  const figures = {
    settings: { ...Object.fromEntries(Object.entries(nodeEnv).filter(([k]) => !/SECRET|KEYS|TOKEN/.test(k))), idempotencyTtlSeconds: IDEMPOTENCY_TTL_MS / 1000, metaTtlSeconds: META_TTL_MS / 1000, trackers: o.trackers, churners: o.churners, fixedRooms: fixedRooms.length, poolRooms: poolRooms.length, sampleSeconds: o.sampleS, gcSeconds: o.gcS },
    loadAverageStart: loadStart,
    pushes: { sent: ss.sent, perSecond: Math.round((ss.sent / ((sendersStoppedAt - loadStartedAt) / 1000)) * 10) / 10, attempts: ss.attempts, refused: ss.refused, refusedStatus: ss.refusedStatus, errors: ss.errors, timeouts: ss.timeouts, failed: ss.failed, late: ss.late, withAck: ss.ackRequested, ackedSockets: ss.acked, byRoute: ss.byRoute },
    messages: {
      delivered: stats.delivered,
      trackers: trackerTally,
      churners: churnerTally,
      malformed: stats.malformed,
      wrongStream: stats.wrongStream,
      tailArrived,
    },
    recovery: stats.recovery,
    connections: { ...stats.connections, disconnectReasons: stats.disconnectReasons, trackerDrops: stats.trackerDrops, welcomes: stats.welcomes, allCameBack: back },
    rooms: { ...stats.rooms, oneOffStreams: onceSeq },
    memory,
    redis: {
      dbsize: summarize(loadSamples.map((s) => s.redis.dbsize)),
      usedMemory: trend(loadSamples, (s) => s.redis.usedMemory, judge),
      families,
      boundViolations: boundViolations.slice(0, 20),
      boundViolationCount: boundViolations.length,
      maxEntriesPerStream: Math.max(0, ...samples.map((s) => s.maxXlen)),
      presenceGoneMs: presenceGone ? presenceGoneMs : null,
      presenceAfterClose: Object.fromEntries(PRESENCE_FAMILIES.map((f) => [f, lastCounts[f] ?? 0])),
    },
    nodes: exits,
    crashes,
    processes: { started: startedPids, leftRunning },
    samples: samples.map((s) => ({ minute: Math.round(s.minute * 1000) / 1000, phase: s.phase, nodes: s.nodes, dbsize: s.redis.dbsize, usedMemory: s.redis.usedMemory, families: s.families })),
  };

  const held = {
    'no message lost by a tracking client': trackerTally.lost === 0 && trackerTally.expected > 0,
    'no message lost by a churning client (history covered every reconnection it said it covered)': churnerTally.lost === 0 && churnerTally.expected > 0,
    'no recovered: false for a client back within the history window': stats.recovery.falseWithinWindow === 0,
    'every message delivered once and in order': trackerTally.duplicated + churnerTally.duplicated + trackerTally.outOfOrder + churnerTally.outOfOrder === 0,
    'every push answered 2xx (retries with the same id included)': ss.failed === 0 && ss.sent > 0,
    'tracking clients stayed connected': stats.trackerDrops === 0,
    'no node crashed': crashes.length === 0 && Object.values(exits).every((e) => e.code === 0 && !e.crashedBeforeStop),
    'every process ended': leftRunning.length === 0,
    'presence keys gone once the clients closed (nodes still up)': presenceGone,
    'presence keys bounded by the clients and rooms in use': !boundViolations.some((v) => PRESENCE_FAMILIES.includes(v.family)),
    'msg keys within the idempotency TTL (pushes started in the last 5 min)': !boundViolations.some((v) => v.family === 'msg'),
    [`hist keys within HISTORY_TTL_SECONDS=${HISTORY_TTL_SECONDS}, streams within HISTORY_SIZE=${HISTORY_SIZE}`]: !boundViolations.some((v) => v.family.startsWith('hist')),
    'hmeta keys within the metadata TTL (streams touched in the last hour)': !boundViolations.some((v) => v.family === 'hmeta'),
    'no other key family': !boundViolations.some((v) => !KNOWN_FAMILIES.has(v.family) && !v.family.startsWith('hist')),
  };
  if (judge) {
    for (const n of nodes) {
      held[`${n.name} RSS levels off`] = memory[n.name].rss.verdict.startsWith('levels off');
      held[`${n.name} heap retained after a full GC levels off`] = memory[n.name].retainedHeap.verdict.startsWith('levels off');
    }
  }
  const pass = Object.values(held).every(Boolean);
  const g = gitInfo();
  const result = {
    date: new Date(startedAt).toISOString(),
    machine: machine(),
    loadAverage: loadavg(),
    command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(),
    commit: g.commit,
    serverSrcDirty: g.serverSrcDirty,
    minutes: Math.round(minutesRun * 1000) / 1000,
    figures,
    held,
    pass,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${table(result, nodes.map((n) => n.name))}\n\nresult: ${relative(process.cwd(), o.out) || o.out}\n`);
  return pass ? 0 : 1;
}

function sumTallies(ts) {
  const out = { expected: 0, received: 0, lost: 0, excused: 0, duplicated: 0, outOfOrder: 0, lostSamples: [] };
  for (const t of ts) {
    for (const k of ['expected', 'received', 'lost', 'excused', 'duplicated', 'outOfOrder']) out[k] += t[k];
    out.lostSamples.push(...t.lostSamples);
  }
  out.lostSamples = out.lostSamples.slice(0, 10);
  return out;
}

function table(r, nodeNames) {
  const f = r.figures;
  const rows = [];
  const row = (k, v) => rows.push(`| ${k} | ${v} |`);
  rows.push(`pushgate soak — ${r.date}, ${r.minutes} min, ${r.machine.cores} cores ${r.machine.cpu}, node ${r.machine.node}, load average ${f.loadAverageStart.join(' ')} → ${r.loadAverage.join(' ')}`);
  rows.push(`commit ${r.commit?.slice(0, 12)}${r.serverSrcDirty ? ' (server/src has uncommitted changes)' : ''}; HISTORY_TTL_SECONDS=${HISTORY_TTL_SECONDS} (small on purpose: expiry happens within the run), HISTORY_SIZE=${HISTORY_SIZE}, HEARTBEAT_MS=${HEARTBEAT_MS}`);
  rows.push('', '| figure | value |', '|---|---|');
  const p = f.pushes;
  row('pushes sent (2xx) / per s', `${p.sent} / ${p.perSecond}`);
  row('push attempts / refused / errors / timeouts / given up', `${p.attempts} / ${p.refused} / ${p.errors} / ${p.timeouts} / ${p.failed}`);
  row('pushes with ack: true / sockets acked', `${p.withAck} / ${p.ackedSockets}`);
  row('deliveries counted by clients', f.messages.delivered);
  for (const [who, t] of [['tracking clients', f.messages.trackers], ['churning clients', f.messages.churners]]) {
    row(`${who}: owed / received / lost`, `${t.expected} / ${t.received} / ${t.lost}`);
    row(`${who}: excused by recovered: false / duplicated / out of order`, `${t.excused} / ${t.duplicated} / ${t.outOfOrder}`);
  }
  const c = f.connections;
  row('connections opened / closed', `${c.opened} / ${c.closed}`);
  row('goodbyes / TCP cuts / engine closes / long absences', `${c.graceful} / ${c.cutTcp} / ${c.cutEngine} / ${c.longAway}`);
  row('connect errors / tracking-client drops', `${c.connectErrors} / ${c.trackerDrops}`);
  const rv = f.recovery;
  row('recovered reports / streams / replayed', `${rv.reports} / ${rv.streams} / ${rv.replayed}`);
  row('recovered: true / false / false within the window', `${rv.recoveredTrue} / ${rv.recoveredFalse} / ${rv.falseWithinWindow}`);
  row('rooms joined / left / one-off rooms', `${f.rooms.joined} / ${f.rooms.left} / ${f.rooms.oneOff}`);
  for (const n of nodeNames) {
    const m = f.memory[n];
    for (const [label, t] of [['RSS', m.rss], ['heap used', m.heapUsed], ['heap after full GC', m.retainedHeap]]) {
      row(
        `${n} ${label} first / last / max (MiB)`,
        `${mib(t.first)} / ${mib(t.last)} / ${mib(t.max)}; slope ${t.slopePerMin === null ? 'n/a' : `${(t.slopePerMin / 1024).toFixed(1)} KiB/min`} (${t.shareOfLevelPerMin === null ? 'n/a' : `${(t.shareOfLevelPerMin * 100).toFixed(3)} %`} of level/min): ${t.verdict}`,
      );
    }
    row(`${n} sockets max / event-loop lag p99 max (s)`, `${m.sockets.max} / ${m.eventLoopLagP99Max}`);
  }
  const um = f.redis.usedMemory;
  row('Redis used_memory first / last / max (MiB)', `${mib(um.first)} / ${mib(um.last)} / ${mib(um.max)}; slope ${um.slopePerMin === null ? 'n/a' : `${(um.slopePerMin / 1024).toFixed(1)} KiB/min`}: ${um.verdict}`);
  row('Redis DBSIZE first / last / max', `${f.redis.dbsize.first} / ${f.redis.dbsize.last} / ${f.redis.dbsize.max}`);
  for (const [fam, v] of Object.entries(f.redis.families).sort()) {
    row(`keys ${fam}: first / last / max (bound) / after close`, `${v.first} / ${v.last} / ${v.max} (≤ ${v.maxBound}) / ${v.afterClose}${v.withinBound ? '' : ' **over the bound**'}`);
  }
  row('longest history stream (entries)', `${f.redis.maxEntriesPerStream} (HISTORY_SIZE ${HISTORY_SIZE})`);
  row('presence keys gone after close', f.redis.presenceGoneMs === null ? `no: ${JSON.stringify(f.redis.presenceAfterClose)}` : `yes, in ${f.redis.presenceGoneMs} ms`);
  for (const [n, e] of Object.entries(f.nodes)) row(`${n} exit / warnings / errors logged`, `${e.code ?? e.signal} / ${e.warnings} / ${e.errors}`);
  rows.push('', `Memory "levels off" when the least-squares slope over the second half of the load is ≤ ${(LEVEL_OFF_SHARE_PER_MIN * 100).toFixed(1)} % of that half's mean level per minute; judged for RSS (/metrics, every ${r.figures.settings.sampleSeconds} s) and for the heap left after a forced full GC (every ${r.figures.settings.gcSeconds} s), on runs of ≥ ${JUDGE_MEMORY_MIN_MINUTES} min; heap used between collections is a figure only.`);
  rows.push('Bounds: sock ≤ 4 × clients; room/roomu ≤ fixed + pool + live one-off rooms + 5; msg ≤ pushes started within 5 min (+5 s) of the scan; hist ≤ streams pushed within HISTORY_TTL (+5 s); hmeta ≤ streams touched in the run (metadata lives max(HISTORY_TTL, 1 h), so it grows with one-off rooms for the first hour).');
  rows.push('', '| promise | held |', '|---|---|');
  for (const [k, v] of Object.entries(r.held)) rows.push(`| ${k} | ${v ? 'yes' : '**no**'} |`);
  rows.push('', r.pass ? 'PASS' : 'FAIL');
  return rows.join('\n');
}

process.on('exit', killAll);
// `npm run soak -- --help | head` closes the pipe early: not an error.
process.stdout.on('error', (err) => {
  if (err.code !== 'EPIPE') throw err;
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    log(`${sig}: killing the nodes and redis-server`);
    killAll();
    process.exit(130);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
    // Sockets and pools are closed; anything left (a stray timer) must not keep the run alive.
    setTimeout(() => process.exit(code), 1000).unref();
  },
  (err) => {
    log(`failed: ${err?.stack ?? err}`);
    killAll();
    process.exit(1);
  },
);
