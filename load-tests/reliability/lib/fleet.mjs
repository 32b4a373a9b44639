/* The runner's handle on one client worker process (fleet-worker.mjs): start it, call its commands. */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { track, withTimeout } from './common.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

export class Fleet {
  constructor(child) {
    this.child = child;
    this.seq = 0;
    this.pending = new Map();
    child.on('message', (m) => {
      const p = this.pending.get(m?.reply);
      if (!p) return;
      this.pending.delete(m.reply);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`client worker: ${m.error}`));
    });
    child.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`client worker exited (${code})`));
      this.pending.clear();
    });
  }

  static start(secret) {
    const child = track(
      spawn(process.execPath, [join(HERE, 'fleet-worker.mjs')], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, RELIABILITY_JWT_SECRET: secret },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    return withTimeout(
      new Promise((resolve, reject) => {
        child.once('message', (m) => (m?.ready ? resolve(new Fleet(child)) : reject(new Error('bad worker hello'))));
        child.once('exit', (c) => reject(new Error(`client worker exited ${c}`)));
      }),
      20000,
      'client worker start',
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
      `worker ${cmd}`,
    );
  }

  stop() {
    if (this.child.exitCode !== null) return Promise.resolve();
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    return gone.finally(() => clearTimeout(t));
  }
}
