/*
 * The load balancer in front of a cluster, on a free loopback port: each new TCP connection goes to
 * the next node in turn; a node that refuses the connection (killed, or draining and no longer
 * listening) is skipped, so a client whose node died reconnects through the same address and lands
 * on a live one. Plain TCP: WebSocket and HTTP pass through untouched.
 */
import { connect, createServer } from 'node:net';

export class FailoverBalancer {
  constructor(ports) {
    this.ports = ports;
    this.next = 0;
    this.open = new Set();
    this.routed = {};
    this.server = createServer((client) => {
      client.on('error', () => undefined);
      this.route(client, 0);
    });
  }

  static async start(ports) {
    const b = new FailoverBalancer(ports);
    await new Promise((r) => b.server.listen(0, '127.0.0.1', r));
    return b;
  }

  get url() {
    return `http://127.0.0.1:${this.server.address().port}`;
  }

  route(client, tried) {
    if (tried >= this.ports.length) return void client.destroy();
    const port = this.ports[this.next++ % this.ports.length];
    client.pause();
    const upstream = connect(port, '127.0.0.1');
    upstream.once('error', () => {
      upstream.destroy();
      if (!client.destroyed) this.route(client, tried + 1);
    });
    upstream.once('connect', () => {
      upstream.removeAllListeners('error');
      this.routed[port] = (this.routed[port] ?? 0) + 1;
      for (const s of [client, upstream]) {
        this.open.add(s);
        if (s === upstream) s.on('error', () => undefined);
        s.once('close', () => {
          this.open.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }

  async close() {
    for (const s of this.open) s.destroy();
    await new Promise((r) => this.server.close(() => r()));
  }
}
