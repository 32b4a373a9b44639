/*
 * Subscriber processes seen from an orchestrator: each is a child speaking the IPC protocol of
 * load-tests/bench/subscriber-groups.mjs (connect, close, reset, wait, stats; plus join for
 * op-client.mjs), and a set of them holds named groups of connections spread over the processes.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './pushgate.mjs';
import { track, withTimeout } from './procs.mjs';

export const WIRE_SUBSCRIBER = join(ROOT, 'load-tests', 'bench', 'wire-subscriber.mjs');
export const OP_CLIENT = join(ROOT, 'load-tests', 'lib', 'op-client.mjs');

const total = (parts, k) => parts.reduce((a, p) => a + p[k], 0);

/** One subscriber process; `call(cmd, args)` resolves with its reply's result. */
export class SubscriberProcess {
  static start(script, { name, prefix = [] }) {
    const argv = [...prefix, process.execPath, script];
    const child = track(spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const p = Object.assign(new SubscriberProcess(), { name, child, seq: 0, waiting: new Map() });
    child.on('message', (m) => {
      const w = p.waiting.get(m?.reply);
      if (!w) return;
      p.waiting.delete(m.reply);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(m.error));
    });
    child.once('exit', (code) => {
      for (const w of p.waiting.values()) w.reject(new Error(`subscriber ${name} exited (${code})`));
      p.waiting.clear();
    });
    const hello = new Promise((resolve, reject) => {
      child.once('message', (m) => (m?.ready ? resolve(p) : reject(new Error(`subscriber ${name}: bad hello`))));
      child.once('exit', (code) => reject(new Error(`subscriber ${name} exited (${code}) at start`)));
    });
    return withTimeout(hello, 20000, `subscriber ${name} start`);
  }

  call(cmd, args = {}, ms = 60000) {
    const id = ++this.seq;
    const reply = new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    this.child.send({ id, cmd, ...args });
    return withTimeout(reply, ms, `subscriber ${this.name} ${cmd}`);
  }

  /** Lets the process end (it exits when its IPC channel closes). */
  end() {
    if (this.child.connected) this.child.disconnect();
  }
}

export class Subscribers {
  /** `procs`: started SubscriberProcess instances. */
  constructor(procs) {
    this.list = procs;
  }

  static async start(script, n, { prefix = [], name = 'sub' } = {}) {
    return new Subscribers(await Promise.all(Array.from({ length: n }, (_, i) => SubscriberProcess.start(script, { name: `${name}:${i}`, prefix }))));
  }

  /** { '<name>': [pid] } per process, for /proc snapshots. */
  pids() {
    return Object.fromEntries(this.list.map((p) => [p.name, [p.child.pid]]));
  }

  /**
   * Connects `rooms` ([{ room, count }], room may be null) into `group`: room i is opened by process
   * i mod n; a process opens its rooms one after another, the processes at once. Each socket is a
   * user of its own (`<userPrefix><i>-<k>`) with a JWT signed with `secret`. Throws when any failed.
   */
  async connect(group, { url, secret, rooms, userPrefix, concurrency = 50, timeoutMs = 20000 }) {
    const mine = this.list.map((_, i) => rooms.map((r, j) => ({ ...r, j })).filter((r) => r.j % this.list.length === i));
    const parts = await Promise.all(this.list.map(async (p, i) => {
      const out = [];
      for (const r of mine[i]) {
        const args = { group, url, secret, room: r.room, count: r.count, userPrefix: `${userPrefix}${r.j}-`, protocol: 'socket.io', concurrency, timeoutMs };
        out.push(await p.call('connect', args, 30000 + r.count * 50));
      }
      return { connected: total(out, 'connected'), failed: total(out, 'failed'), errors: out.map((o) => o.errors), ms: out.reduce((a, o) => a + o.ms, 0) };
    }));
    const failed = total(parts, 'failed');
    if (failed) throw new Error(`${failed} connections of group ${group} to ${url} failed: ${JSON.stringify(parts.map((p) => p.errors)).slice(0, 1500)}`);
    return { connected: total(parts, 'connected'), ms: Math.max(...parts.map((p) => p.ms)) };
  }

  /** op-client.mjs only: every socket of `group` joins rooms[k mod rooms.length]. */
  async join(group, rooms, concurrency = 50) {
    const parts = await Promise.all(this.list.map((p) => p.call('join', { group, rooms, concurrency }, 120000)));
    const failed = total(parts, 'failed');
    if (failed) throw new Error(`${failed} room:join of group ${group} failed: ${JSON.stringify(parts.map((p) => p.errors)).slice(0, 1500)}`);
    return { joined: total(parts, 'joined') };
  }

  all(cmd, args, ms) {
    return Promise.all(this.list.map((p) => p.call(cmd, args, ms)));
  }

  reset(group) {
    return this.all('reset', { group });
  }

  close(group) {
    return this.all('close', { group });
  }

  /** Waits until every socket of `group` got `perSocket` bench events (or `timeoutMs`): { complete, received, expected, last }. */
  async wait(group, perSocket, timeoutMs) {
    const parts = await this.all('wait', { group, perSocket, timeoutMs }, timeoutMs + 10000);
    return { complete: parts.every((p) => p.complete), received: total(parts, 'received'), expected: total(parts, 'expected'), last: Math.max(...parts.map((p) => p.last)) };
  }

  end() {
    for (const p of this.list) p.end();
  }
}
