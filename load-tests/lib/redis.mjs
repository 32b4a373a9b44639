/*
 * Private Redis for the load tools: one redis-server, or a Redis Cluster of redis-servers on
 * loopback (the approach of test/support/redis-cluster.ts: --cluster-enabled on free ports, then
 * `redis-cli --cluster create … --cluster-yes`, ready once every node says cluster_state:ok and every
 * replica is synced). No persistence; each server has a temp dir removed on stop() or by killAll(),
 * and runs under `setpriv --pdeathsig KILL` so it dies with the orchestrator. Also: the counters a
 * benchmark reads per server (INFO stats / commandstats / keyspace / memory) and the hash slot of a
 * key (CRC16, as Redis Cluster computes it).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { freePort } from '../free-port.mjs';
import { removeTempDir, sleep, tempDir, track } from './procs.mjs';

const run = promisify(execFile);
const SETPRIV = existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--pdeathsig', 'KILL'] : [];

/** One redis-cli command against 127.0.0.1:`port`; its stdout, or '' when it failed. */
export const cli = (port, ...args) => run('redis-cli', ['-p', String(port), ...args.map(String)], { timeout: 10000, maxBuffer: 8 << 20 }).then((r) => r.stdout, () => '');

export class RedisServer {
  /**
   * @param {{ args?: string[], prefix?: string[], name?: string }} o  args: extra redis-server
   *   options; prefix: argv put in front (e.g. taskset -c 1).
   */
  static async start({ args = [], prefix = [], name = 'redis' } = {}) {
    const port = await freePort();
    const dir = tempDir('pushgate-redis-');
    const argv = [...prefix, ...SETPRIV, 'redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning', ...args];
    const s = Object.assign(new RedisServer(), { name, port, dir, url: `redis://127.0.0.1:${port}` });
    s.child = track(spawn(argv[0], argv.slice(1), { stdio: 'ignore' }));
    s.exited = new Promise((r) => s.child.once('exit', r));
    for (const deadline = Date.now() + 10000; Date.now() < deadline; await sleep(50)) {
      if ((await cli(port, 'ping')).trim() === 'PONG') return s;
    }
    await s.stop();
    throw new Error(`redis-server on ${port} did not start`);
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  pids() {
    return this.running ? [this.child.pid] : [];
  }

  /** Counters of this server, see readCounters(). */
  counters() {
    return readCounters(this.port);
  }

  async stop() {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
    removeTempDir(this.dir);
  }
}

/**
 * `primaries` primaries with `replicas` replicas each. The node timeout is Redis' default (15 s):
 * a benchmark saturates the CPU, and a short timeout would let a starved primary be failed over.
 */
export class RedisCluster {
  static async start({ primaries = 3, replicas = 1, prefix = [], nodeTimeoutMs = 15000 } = {}) {
    const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs), '--repl-diskless-sync-delay', '0'];
    // The bus port is chosen too: by default it is port + 10000, which may be taken or above 65535.
    const one = async (i) => RedisServer.start({ args: [...args, '--cluster-port', String(await freePort())], prefix, name: `redis-${i}` });
    const servers = await Promise.all(Array.from({ length: primaries * (1 + replicas) }, (_, i) => one(i)));
    const c = Object.assign(new RedisCluster(), { servers, want: { primaries, replicas: primaries * replicas } });
    try {
      await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30000 });
      await c.settled();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** REDIS_URL for pushgate: every node as a seed, comma-separated. */
  get url() {
    return this.servers.map((s) => s.url).join(',');
  }

  /** Resolves once every node says cluster_state:ok, with the expected roles, and every replica's link is up. */
  async settled(timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(this.servers.map((s) => cli(s.port, 'cluster', 'info')));
      const ok = states.every((t) => t.includes('cluster_state:ok'));
      const roles = ok ? await this.roles() : null;
      const synced = roles && (await Promise.all(roles.replicas.map((s) => cli(s.port, 'info', 'replication')))).every((t) => t.includes('master_link_status:up'));
      if (synced && roles.primaries.length === this.want.primaries && roles.replicas.length === this.want.replicas) {
        this.topology = roles;
        return roles;
      }
      if (Date.now() > deadline) throw new Error(`Redis Cluster not ready within ${timeoutMs} ms (states: ${states.map((t) => /cluster_state:(\w+)/.exec(t)?.[1]).join(',')})`);
      await sleep(100);
    }
  }

  /** { primaries: [RedisServer with .slots], replicas: [RedisServer with .primaryPort] } from CLUSTER NODES. */
  async roles() {
    const text = await cli(this.servers[0].port, 'cluster', 'nodes');
    const rows = text.trim().split('\n').filter(Boolean).map((l) => l.split(' '));
    const portOf = new Map(rows.map((f) => [f[0], Number(/:(\d+)@/.exec(f[1])?.[1])]));
    const byPort = new Map(this.servers.map((s) => [s.port, s]));
    const out = { primaries: [], replicas: [] };
    for (const f of rows) {
      const s = byPort.get(portOf.get(f[0]));
      if (!s || f[2].includes('fail')) continue;
      if (f[2].includes('master')) {
        s.role = 'primary';
        s.slots = f.slice(8).filter((x) => /^\d/.test(x)).map((x) => x.split('-').map(Number));
        if (s.slots.length) out.primaries.push(s);
      } else {
        s.role = 'replica';
        s.primaryPort = portOf.get(f[3]);
        out.replicas.push(s);
      }
    }
    out.primaries.sort((a, b) => a.slots[0][0] - b.slots[0][0]);
    return out;
  }

  /** The primary serving hash slot `slot` (from the topology read when the cluster settled). */
  primaryOf(slot) {
    return this.topology.primaries.find((p) => p.slots.some(([a, b = a]) => slot >= a && slot <= b));
  }

  async stop() {
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

/** Commands the orchestrator itself sends, and replication's own (a replica's REPLCONF ACK each second), left out of every count. */
const OWN_COMMANDS = new Set(['info', 'ping', 'cluster', 'dbsize', 'flushall', 'config', 'replconf', 'psync', 'sync']);

/**
 * One INFO of `port`: { commands (every call, those run inside scripts included), calls
 * { command: n }, scripts (EVAL/EVALSHA/FCALL), netIn, netOut (client traffic), replIn, replOut
 * (replication stream), keys, usedMemory }. Commands in OWN_COMMANDS are not counted; the bytes
 * of the INFO itself are, see infoOverhead().
 */
export async function readCounters(port) {
  const text = await cli(port, 'info', 'stats', 'commandstats', 'keyspace', 'memory');
  const num = (k) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  const calls = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (!OWN_COMMANDS.has(m[1].split('|')[0])) calls[m[1]] = Number(m[2]);
  let keys = 0;
  for (const m of text.matchAll(/^db\d+:keys=(\d+)/gm)) keys += Number(m[1]);
  const replIn = num('total_net_repl_input_bytes');
  const replOut = num('total_net_repl_output_bytes');
  return {
    commands: Object.values(calls).reduce((a, b) => a + b, 0),
    scripts: (calls.evalsha ?? 0) + (calls.eval ?? 0) + (calls.fcall ?? 0) + (calls.evalsha_ro ?? 0) + (calls.eval_ro ?? 0),
    calls,
    netIn: num('total_net_input_bytes') - replIn,
    netOut: num('total_net_output_bytes') - replOut,
    replIn,
    replOut,
    keys,
    usedMemory: num('used_memory'),
  };
}

/** after − before of readCounters() (keys and usedMemory: the change too; calls: only those that moved). */
export function diffCounters(before, after) {
  const calls = {};
  for (const [k, v] of Object.entries(after.calls)) if (v - (before.calls[k] ?? 0) > 0) calls[k] = v - (before.calls[k] ?? 0);
  const d = { calls };
  for (const k of ['commands', 'scripts', 'netIn', 'netOut', 'replIn', 'replOut', 'keys', 'usedMemory']) d[k] = after[k] - before[k];
  return d;
}

/**
 * The bytes one readCounters() adds to the next one's netIn / netOut (its request, its reply),
 * measured on an idle server: the median of a few back-to-back reads.
 */
export async function infoOverhead(port) {
  const ins = [];
  const outs = [];
  let prev = await readCounters(port);
  for (let i = 0; i < 4; i++) {
    const cur = await readCounters(port);
    ins.push(cur.netIn - prev.netIn);
    outs.push(cur.netOut - prev.netOut);
    prev = cur;
  }
  const mid = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { netIn: mid(ins), netOut: mid(outs) };
}

/** CRC16-XMODEM, the hash Redis Cluster takes modulo 16384. */
function crc16(buf) {
  let crc = 0;
  for (const byte of buf) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The hash slot of `key`: of its hash tag (the text between the first `{` and the next `}`) when it has a non-empty one. */
export function slotOf(key) {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(hashed)) % 16384;
}
