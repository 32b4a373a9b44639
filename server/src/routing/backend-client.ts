import { createHmac } from 'node:crypto';
import { Pool } from 'undici';

export interface BackendResponse {
  status: number;
  body: unknown;
}

/** The one thing the MessageRouter needs from the network: a signed JSON POST. Tests use a real HTTP fake. */
export interface BackendClient {
  post(path: '/events' | '/authorize', body: unknown, timeoutMs: number): Promise<BackendResponse>;
  close(): Promise<void>;
}

export class BackendTimeoutError extends Error {
  override name = 'BackendTimeoutError';
}

/** `sha256=<hex HMAC(secret, timestamp + "." + body)>`, the contract's signature for both directions. */
export function signBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * undici keeps a pool of keep-alive connections to the backend, so a busy node does not pay a TCP
 * (and TLS) handshake per forwarded event.
 */
export class HttpBackendClient implements BackendClient {
  private readonly pool: Pool;
  private readonly basePath: string;

  constructor(
    url: string,
    private readonly secret: string | null,
    private readonly maxResponseBytes: number,
    connections = 64,
  ) {
    const u = new URL(url);
    this.pool = new Pool(u.origin, { connections, keepAliveTimeout: 30_000, pipelining: 1 });
    this.basePath = u.pathname.replace(/\/+$/, '');
  }

  async post(path: '/events' | '/authorize', body: unknown, timeoutMs: number): Promise<BackendResponse> {
    const json = JSON.stringify(body);
    const ts = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-pushgate-timestamp': ts };
    if (this.secret) headers['x-pushgate-signature'] = signBody(this.secret, ts, json);
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await this.pool.request({ path: this.basePath + path, method: 'POST', headers, body: json, signal });
      const text = await readLimited(res.body, this.maxResponseBytes);
      return { status: res.statusCode, body: parseBody(text, String(res.headers['content-type'] ?? '')) };
    } catch (err) {
      if (signal.aborted) throw new BackendTimeoutError(`backend did not answer within ${timeoutMs} ms`);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

async function readLimited(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new Error(`backend response larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(text: string, contentType: string): unknown {
  if (text.length === 0) return undefined;
  if (contentType.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
