/*
 * The customer's backend behind the MessageRouter (BACKEND_URL), switchable while pushgate runs:
 *   healthy  — 200 { echo } after `delayMs` (0 by default)
 *   slow     — answers only after `slowMs` (longer than BACKEND_TIMEOUT_MS)
 *   failing  — 503 at once
 *   dead     — nothing listens on the port any more (connection refused); `healthy` listens again
 * The only fake the house rules allow; it counts what it was asked by mode.
 */
import { createServer } from 'node:http';
import { freePort } from '../../free-port.mjs';

export class SwitchableBackend {
  constructor(port) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.mode = 'healthy';
    this.delayMs = 0;
    this.slowMs = 3000;
    this.requests = {};
    this.server = null;
    this.pending = new Set();
  }

  static async start() {
    const b = new SwitchableBackend(await freePort());
    await b.listen();
    return b;
  }

  listen() {
    if (this.server) return Promise.resolve();
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const mode = this.mode;
      this.requests[mode] = (this.requests[mode] ?? 0) + 1;
      let body = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        /* answered anyway */
      }
      const answer = (status, payload) => {
        if (res.destroyed) return;
        const text = JSON.stringify(payload);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      const later = (ms, fn) => {
        if (ms <= 0) return fn();
        const t = setTimeout(() => {
          this.pending.delete(t);
          fn();
        }, ms);
        this.pending.add(t);
      };
      if (mode === 'failing') return answer(503, { error: 'failing on purpose' });
      if (mode === 'slow') return later(this.slowMs, () => answer(200, { late: true }));
      later(this.delayMs, () => answer(200, { echo: body.data ?? null }));
    });
  }

  /** Switches mode; `dead` closes the listener and every open connection. */
  async set(mode) {
    this.mode = mode;
    if (mode === 'dead') await this.close();
    else await this.listen();
  }

  async close() {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}
