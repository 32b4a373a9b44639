import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A failover TCP balancer on a free loopback port, the stand-in for the load balancer in front of a
 * cluster: each new connection goes to the first backend that accepts it, in list order. A client
 * whose node dies reconnects through the same address and lands on the next live node.
 */
export class TcpBalancer {
  private readonly open = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly ports: number[],
  ) {}

  static async start(ports: number[]): Promise<TcpBalancer> {
    let self: TcpBalancer | null = null;
    const server = createServer((client) => self!.route(client, 0));
    self = new TcpBalancer(server, ports);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private route(client: Socket, i: number): void {
    const port = this.ports[i];
    if (port === undefined) return void client.destroy();
    client.pause();
    const upstream = connect(port, '127.0.0.1');
    upstream.once('error', () => {
      upstream.destroy();
      if (!client.destroyed) this.route(client, i + 1);
    });
    upstream.once('connect', () => {
      upstream.removeAllListeners('error');
      for (const s of [client, upstream]) {
        this.open.add(s);
        s.on('error', () => undefined);
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

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
