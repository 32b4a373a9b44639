import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BackendRequest {
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  /** Client port of the TCP connection: equal ports mean a reused keep-alive connection. */
  remotePort: number | undefined;
  body: Record<string, unknown>;
}

type Handler = (req: BackendRequest, res: ServerResponse) => void | Promise<void>;

/**
 * The one fake the tests may use: a real HTTP server standing in for the customer's backend.
 * `handler` decides each answer; every request is recorded.
 */
export class FakeBackend {
  readonly requests: BackendRequest[] = [];
  handler: Handler = (_req, res) => json(res, 200, { ok: true });
  private server: Server | null = null;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString();
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          /* recorded raw */
        }
        const rec = { path: req.url ?? '', headers: req.headers, raw, remotePort: req.socket.remotePort, body };
        this.requests.push(rec);
        void this.handler(rec, res);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
    this.server = null;
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
