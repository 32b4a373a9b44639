/* The runner's handle on one client worker process (fleet-worker.mjs): start it, call its commands. */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track, withTimeout } from './common.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * A child process the runner calls commands on over IPC: it sends `{ ready: true }` once started,
 * takes `{ id, cmd, ...args }` and answers `{ reply: id, ok, result | error }`. `name` names it in errors.
 */
export class Fleet {
  constructor(child, name = 'client worker') {
    this.child = child;
    this.name = name;
    this.seq = 0;
    this.pending = new Map();
    child.on('message', (m) => {
      const p = this.pending.get(m?.reply);
      if (!p) return;
      this.pending.delete(m.reply);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`${name}: ${m.error}`));
    });
    child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`${name} exited (${code})`));
      this.pending.clear();
    });
  }

  /** The client worker (fleet-worker.mjs). */
  static start(secret) {
    return Fleet.launch([join(HERE, 'fleet-worker.mjs')], secret, 'client worker');
  }

  /** Starts `node <argv>` with the JWT secret in its environment and waits for its hello. */
  static launch(argv, secret, name) {
    const child = track(
      spawn(process.execPath, argv, {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, RELIABILITY_JWT_SECRET: secret },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    return withTimeout(
      new Promise((resolve, reject) => {
        child.once('message', (m) => (m?.ready ? resolve(new Fleet(child, name)) : reject(new Error(`bad ${name} hello`))));
        child.once('exit', (c) => reject(new Error(`${name} exited ${c}`)));
      }),
      20000,
      `${name} start`,
    );
  }

  call(cmd, args = {}, ms = 60000) {
    const id = ++this.seq;
    return withTimeout(
      new Promise((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        this.child.send({ id, cmd, ...args });
      }),
      ms,
      `${this.name} ${cmd}`,
    );
  }

  stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    return gone.finally(() => clearTimeout(t));
  }
}
