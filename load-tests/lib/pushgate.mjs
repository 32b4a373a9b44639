/*
 * pushgate nodes for the load tools: a private build of server/src, and nodes started from it as
 * OS processes on 127.0.0.1 (bench's probe.cjs preloaded: memory readings over IPC, and the node
 * ends when the orchestrator's IPC channel closes), each registered for killAll().
 */
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../free-port.mjs';
import { answersWithin, track, watchChild, withTimeout } from './procs.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROBE = join(ROOT, 'load-tests', 'bench', 'probe.cjs');

/** Compiles server/src with tsc into `outDir` (as the bench does); returns the entry (main.js). */
export function buildPushgate(outDir) {
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('tsc failed');
  return join(outDir, 'server', 'src', 'main.js');
}

/** Which code a run measured: the commit, and whether server/src differed from it. */
export function sourceState() {
  const git = (...a) => spawnSync('git', a, { cwd: ROOT }).stdout?.toString().trim() ?? '';
  return { commit: git('rev-parse', 'HEAD') || null, serverSrcDirty: git('status', '--porcelain', '--', 'server/src') !== '' };
}

/**
 * A node's environment for a benchmark: production, one admin key, no rate limits, warnings only.
 * `redis`: { url, prefix, cluster } or null (no Redis).
 */
export function benchEnv({ nodeId, jwtSecret, apiKey, redis = null, extra = {} }) {
  return {
    NODE_ENV: 'production',
    NODE_ID: nodeId,
    JWT_SECRET: jwtSecret,
    API_KEYS: `bench:${apiKey}:admin`,
    RATE_LIMIT_HTTP: '0',
    RATE_LIMIT_CONNECTIONS: '0',
    RATE_LIMIT_EVENTS: '0',
    LOG_LEVEL: 'warn',
    ...(redis ? { REDIS_URL: redis.url, REDIS_PREFIX: redis.prefix, ...(redis.cluster ? { REDIS_CLUSTER: 'true' } : {}) } : {}),
    ...extra,
  };
}

export class PushgateNode {
  /** Starts `node <entry>` behind `prefix` (e.g. taskset) and waits until /health/ready answers 200. */
  static async start({ name, entry, env, prefix = [] }) {
    const port = await freePort();
    const argv = [...prefix, process.execPath, '--expose-gc', '--require', PROBE, entry];
    const child = track(spawn(argv[0], argv.slice(1), {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, HOST: '127.0.0.1', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }));
    const node = Object.assign(new PushgateNode(), { name, child, port, url: `http://127.0.0.1:${port}`, probes: new Map(), seq: 0 });
    watchChild(child, node);
    child.on('message', (m) => node.probes.get(m?.probe)?.(m));
    if (await answersWithin(`${node.url}/health/ready`, node.exited, 30000)) return node;
    child.kill('SIGKILL');
    throw new Error(`${name} did not become ready: ${node.tail}`);
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  pids() {
    return this.running ? [this.child.pid] : [];
  }

  /** probe.cjs: { rss, heapUsed, … } after a full GC ('gc') or as is ('read'). */
  probe(cmd = 'read') {
    const id = ++this.seq;
    const answer = new Promise((r) => this.probes.set(id, r)).finally(() => this.probes.delete(id));
    this.child.send({ probe: id, cmd });
    return withTimeout(answer, 15000, `${this.name} probe`);
  }

  /** The value of a metric of this node's /metrics with no labels but the node's default ones, or null. */
  async metric(name) {
    const text = await fetch(`${this.url}/metrics`).then((r) => r.text(), () => '');
    const m = new RegExp(`^${name}(?:\\{node="[^"]*"\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  }

  async stop() {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 12000);
    await this.exited;
    clearTimeout(t);
  }
}
