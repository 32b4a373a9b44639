import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Pusher from 'pusher';

/** One webhook event as received (Pusher's shape plus pushgate's id and time_ms). */
export interface ReceivedEvent {
  name: string;
  channel?: string;
  user_id?: string;
  event?: string;
  data?: string;
  socket_id?: string;
  id: string;
  time_ms: number;
}

/**
 * A backend receiving pushgate's webhooks, as a real one would: every request is checked with the
 * official `pusher` library's webhook check (X-Pusher-Key, X-Pusher-Signature) and, when given a
 * BACKEND_SECRET, against X-Pushgate-Signature. It can be told to fail (down), or to hold its
 * answers until released (slow).
 */
export class WebhookReceiver {
  /** Every event of every accepted request, in arrival order. */
  readonly events: ReceivedEvent[] = [];
  /** Requests answered 2xx, refused (down) and with a bad signature. */
  accepted = 0;
  refused = 0;
  badSignatures = 0;
  /** While true, every request is answered 503 and its events are not kept. */
  down = false;
  private held: (() => void)[] = [];
  private holding = false;
  private readonly server: Server;
  private readonly pusher: Pusher | null;

  constructor(
    app: { id: string; key: string; secret: string } | null,
    private readonly backendSecret: string | null = null,
  ) {
    this.pusher = app ? new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1' }) : null;
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks`;
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** From now on requests wait, unanswered, until release(). @returns a promise of the first request held. */
  hold(): Promise<void> {
    this.holding = true;
    return new Promise((resolve) => {
      const check = setInterval(() => {
        if (this.held.length > 0) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
  }

  release(): void {
    this.holding = false;
    for (const go of this.held.splice(0)) go();
  }

  /** Events about one subject (a channel, or a user's online/offline), as [name, user_id?] in arrival order. */
  of(channel: string): string[] {
    return this.events.filter((e) => e.channel === channel).map((e) => (e.user_id ? `${e.name}:${e.user_id}` : e.name));
  }

  userEvents(userId: string): string[] {
    return this.events.filter((e) => (e.name === 'user_online' || e.name === 'user_offline') && e.user_id === userId).map((e) => e.name);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    if (this.holding) await new Promise<void>((go) => this.held.push(go));
    if (this.down) {
      this.refused += 1;
      res.writeHead(503).end();
      return;
    }
    const headers = req.headers as Record<string, string>;
    const pusherOk = this.pusher ? this.pusher.webhook({ headers, rawBody }).isValid() : true;
    const ts = headers['x-pushgate-timestamp'] ?? '';
    const nativeOk = this.backendSecret ? headers['x-pushgate-signature'] === `sha256=${createHmac('sha256', this.backendSecret).update(`${ts}.${rawBody}`).digest('hex')}` : true;
    if (!pusherOk || !nativeOk) {
      this.badSignatures += 1;
      res.writeHead(401).end();
      return;
    }
    const body = JSON.parse(rawBody) as { time_ms: number; events: ReceivedEvent[] };
    this.events.push(...body.events);
    this.accepted += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }
}
