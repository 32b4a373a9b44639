#!/usr/bin/env node
/*
 * `npm run reliability`: pushgate on its worst day, measured. Each scenario (scenarios/*.mjs) starts
 * its own real processes on 127.0.0.1 (pushgate nodes, a private redis-server, a client worker, a
 * switchable backend, a balancer), breaks something under traffic, and reports which promises held
 * with figures. Results go to results/<date>.json; docs/reliability.md is regenerated from them.
 * Every scenario has a time budget, every child is killed on exit, on a signal and at the deadline.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installGuards, log, now, runSecrets, withTimeout } from './lib/common.mjs';
import { SwitchableBackend } from './lib/backend.mjs';
import { FailoverBalancer } from './lib/balancer.mjs';
import { TrackedClient } from './lib/clients.mjs';
import { Fleet } from './lib/fleet.mjs';
import { buildServer, PushgateProc, RedisProc, ROOT } from './lib/processes.mjs';
import { machine, render } from './lib/report.mjs';
import { Probe } from './lib/traffic.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, 'results');
const DOCS = join(ROOT, 'docs', 'reliability.md');
const SCENARIOS = ['redis-restart', 'redis-cluster-failover', 'node-sigkill', 'backend-faults', 'webhooks', 'sigterm-drain', 'floods', 'slow-consumer'];

const HELP = `npm run reliability -- [options]

Scenarios (all by default, in this order): ${SCENARIOS.join(', ')}
  --only a,b        run only these scenarios
  --skip a,b        skip these
  --quick           shorter phases and fewer clients (~3 min instead of ~9)
  --deadline-s N    hard limit for the whole run (default 720; quick 300): everything is killed then
  --source          run pushgate from server/src through tsx instead of a compiled build
  --no-build        reuse the previous build in load-tests/reliability/dist
  --docs            rewrite docs/reliability.md even for a partial (--only/--skip) run
  --no-docs         never rewrite docs/reliability.md
  --render FILE     only regenerate docs/reliability.md from an existing results file
  --out FILE        results file (default load-tests/reliability/results/<date>[-quick].json)
  --help            this text

A full run (no --only/--skip) rewrites docs/reliability.md; every run writes its results JSON and
prints the table. load-tests/reliability/results/soak.json, when present, is shown as one more row.
Exit status: 0 every promise held, 4 some did not (findings, in the report), 3 deadline, 1 error.`;

function parseArgs(argv) {
  const o = { quick: false, build: true, source: false, docs: null };
  const val = (i) => {
    if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--help': case '-h': o.help = true; break;
      case '--quick': o.quick = true; break;
      case '--source': o.source = true; break;
      case '--no-build': o.build = false; break;
      case '--docs': o.docs = true; break;
      case '--no-docs': o.docs = false; break;
      case '--only': o.only = val(i).split(','); i++; break;
      case '--skip': o.skip = val(i).split(','); i++; break;
      case '--render': o.render = resolve(val(i)); i++; break;
      case '--out': o.out = resolve(val(i)); i++; break;
      case '--deadline-s': {
        o.deadlineS = Number(val(i));
        if (!Number.isFinite(o.deadlineS) || o.deadlineS <= 0) throw new Error('--deadline-s needs a positive number');
        i++;
        break;
      }
      default: throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  for (const s of [...(o.only ?? []), ...(o.skip ?? [])]) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s} (${SCENARIOS.join(', ')})`);
  o.scenarios = SCENARIOS.filter((s) => (!o.only || o.only.includes(s)) && !(o.skip ?? []).includes(s));
  o.partial = o.scenarios.length !== SCENARIOS.length;
  o.deadlineS ??= o.quick ? 300 : 720;
  const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
  o.out ??= join(RESULTS, `${stamp}${o.quick ? '-quick' : ''}${o.partial ? '-partial' : ''}.json`);
  return o;
}

/** Which code was measured: the commit, and whether server/src differed from it when the run began. */
function sourceVersion(launch) {
  const git = (...a) => spawnSync('git', a, { cwd: ROOT }).stdout?.toString().trim() ?? '';
  return { commit: git('rev-parse', 'HEAD') || null, serverSrcDirty: git('status', '--porcelain', '--', 'server/src') !== '', launch: launch.source ? 'node --import tsx server/src/main.ts' : 'a compiled build of server/src (tsc → load-tests/reliability/dist)' };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
};

/**
 * What a scenario gets: the run's options and secrets, and factories for processes that are all
 * cleaned up (in reverse order) when the scenario ends, however it ends.
 */
function makeContext(o, secrets, launch, scenarioId) {
  const owned = [];
  const own = (thing, cleanup) => {
    owned.push(cleanup);
    return thing;
  };
  const prefix = `rel${process.pid}${scenarioId.replace(/\W/g, '')}`;
  return {
    quick: o.quick,
    secrets,
    log: (...a) => log(`${scenarioId}:`, ...a),
    /** A node's environment: production mode, this run's secrets, rate limits off unless set, Redis when given. */
    env({ redis, ...extra } = {}) {
      return {
        NODE_ENV: 'production',
        JWT_SECRET: secrets.jwtSecret,
        API_KEYS: `admin:${secrets.adminKey}:admin,flood:${secrets.floodKey}:push`,
        BACKEND_SECRET: secrets.backendSecret,
        RATE_LIMIT_HTTP: '0',
        RATE_LIMIT_CONNECTIONS: '0',
        RATE_LIMIT_EVENTS: '0',
        LOG_LEVEL: 'info',
        HEARTBEAT_MS: '500',
        ...(redis ? { REDIS_URL: redis.url, REDIS_PREFIX: prefix } : {}),
        ...extra,
      };
    },
    async redis() {
      const r = await RedisProc.start();
      return own(r, () => r.destroy());
    },
    /** A Redis Cluster on loopback (load-tests/lib/redis-cluster.mjs); `env({ redis })` takes it too (REDIS_URL = every node). */
    async redisCluster(opts) {
      // Loaded when a scenario asks: the other scenarios run without the cluster tooling.
      const { startCluster } = await import('../lib/redis-cluster.mjs');
      const c = await startCluster(opts);
      return own(c, () => c.stop());
    },
    async node(name, env) {
      const n = await PushgateProc.start({ name, env, launch });
      return own(n, () => n.kill('SIGKILL'));
    },
    async fleet() {
      const f = await Fleet.start(secrets.jwtSecret);
      return own(f, () => f.stop());
    },
    async backend() {
      const b = await SwitchableBackend.start();
      return own(b, () => b.close());
    },
    async balancer(ports) {
      const b = await FailoverBalancer.start(ports);
      return own(b, () => b.close());
    },
    /** A counting client in the runner itself (clients.mjs), for the few a scenario drives one by one. */
    client(url, opts) {
      const c = new TrackedClient(url, { secret: secrets.jwtSecret, ...opts });
      return own(c, () => c.close());
    },
    /** The unaffected client: connected and pushing every 100 ms once this resolves. */
    async probe(opts) {
      const p = new Probe({ secret: secrets.jwtSecret, key: secrets.adminKey, ...opts });
      own(p, () => p.close());
      await p.start();
      return p;
    },
    /** Runs `fn` when the scenario ends, however it ends (with the processes, in reverse order). */
    defer(fn) {
      owned.push(fn);
    },
    async cleanup() {
      for (const fn of owned.splice(0).reverse()) await withTimeout(Promise.resolve().then(fn), 15000, 'cleanup').catch(() => undefined);
    },
  };
}

async function runScenario(name, o, secrets, launch) {
  const mod = await import(`./scenarios/${name}.mjs`);
  const ctx = makeContext(o, secrets, launch, mod.id);
  const loads = [];
  const loadTimer = setInterval(() => loads.push(os.loadavg()[0]), 2000);
  const started = now();
  log(`${mod.id}: starting (budget ${mod.budgetS(o.quick)} s; load average ${os.loadavg()[0].toFixed(2)})`);
  let out;
  try {
    const r = await withTimeout(mod.run(ctx), mod.budgetS(o.quick) * 1000, `${mod.id} exceeded its budget`);
    out = { ...r, pass: Object.values(r.held).every(Boolean) };
  } catch (err) {
    log(`${mod.id}: did not complete: ${err?.stack ?? err}`);
    out = { done: 'did not complete', held: {}, figures: {}, pass: false, error: String(err?.message ?? err) };
  } finally {
    clearInterval(loadTimer);
    await ctx.cleanup();
  }
  loads.push(os.loadavg()[0]);
  const result = { id: mod.id, title: mod.title, notes: mod.notes, durationS: Math.round((now() - started) / 1000), loadAverage: { min: Math.min(...loads), median: median(loads), max: Math.max(...loads) }, ...out };
  for (const [promise, ok] of Object.entries(result.held)) log(`${mod.id}: ${ok ? 'held' : 'DID NOT HOLD'}: ${promise}`);
  for (const [k, v] of Object.entries(result.figures)) log(`${mod.id}:   ${k}: ${v}`);
  return result;
}

function readSoak() {
  const p = join(RESULTS, 'soak.json');
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch (err) {
    log(`results/soak.json is not JSON (${err.message}); left out of the report`);
    return null;
  }
}

function writeDocs(results) {
  writeFileSync(DOCS, render(results, { soak: readSoak() }));
  log(`wrote ${relative(process.cwd(), DOCS)}`);
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${HELP}\n`);
    process.exit(2);
  }
  if (o.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (o.render) {
    writeDocs(JSON.parse(readFileSync(o.render, 'utf8')));
    return;
  }
  installGuards(o.deadlineS);
  const secrets = runSecrets();
  const launch = o.source ? { source: true } : { entry: buildServer({ build: o.build }) };
  const source = sourceVersion(launch);
  const startLoad = os.loadavg();
  const loads = [];
  const loadTimer = setInterval(() => loads.push(os.loadavg()[0]), 2000);
  const started = new Date();
  log(`machine: ${JSON.stringify(machine())}; load average at start ${startLoad.map((x) => x.toFixed(2)).join(' ')}`);
  log(`scenarios: ${o.scenarios.join(', ')}${o.quick ? ' (quick)' : ''}; deadline ${o.deadlineS} s`);

  const scenarios = [];
  for (const name of o.scenarios) scenarios.push(await runScenario(name, o, secrets, launch));
  clearInterval(loadTimer);
  loads.push(os.loadavg()[0]);

  const args = process.argv.slice(2);
  const results = {
    date: started.toISOString(),
    durationS: Math.round((Date.now() - started.getTime()) / 1000),
    command: `npm run reliability${args.length ? ` -- ${args.join(' ')}` : ''}`,
    machine: machine(),
    source,
    loadAverage: { start: startLoad, end: os.loadavg(), samples1m: loads, min: Math.min(...loads), median: median(loads), max: Math.max(...loads) },
    options: { quick: o.quick, scenarios: o.scenarios, deadlineS: o.deadlineS },
    resultsFile: relative(ROOT, o.out),
    scenarios,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(results, null, 2)}\n`);
  log(`results: ${relative(process.cwd(), o.out)}`);
  if (o.docs ?? !o.partial) writeDocs(results);
  const table = render(results, { soak: readSoak() }).split('\n').filter((l) => l.startsWith('|'));
  process.stdout.write(`\n${table.join('\n')}\n\n`);
  const failed = scenarios.filter((s) => !s.pass).map((s) => s.id);
  process.stdout.write(failed.length ? `promises that did not hold in: ${failed.join(', ')}\n` : 'every promise held\n');
  return failed.length ? 4 : 0;
}

main().then(
  (code) => process.exit(code ?? 0),
  (err) => {
    log(`failed: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
