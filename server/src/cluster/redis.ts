import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import type { Logger } from '../lib/logger';

/** node-redis with pushgate's settings; see createRedisConnections for why. */
function newClient(url: string) {
  return createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS },
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 5), 1000),
    },
  });
}

export type RedisClient = ReturnType<typeof newClient>;

export interface RedisConnections {
  /** Commands: presence, idempotency, rate limits, node registry. */
  data: RedisClient;
  /** Adapter publisher and subscriber (a subscriber cannot run other commands). */
  pub: RedisClient;
  sub: RedisClient;
  /** true while every connection is ready. */
  isUp(): boolean;
  /** Connects all three; resolves when up or after `waitMs` (the node then starts not-ready and keeps retrying). */
  connect(waitMs: number): Promise<boolean>;
  close(): Promise<void>;
}

/** Per-command bound: a stalled Redis must not hang an HTTP request or a handshake. @default 2000 */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

/**
 * node-redis retries forever and, by default, queues commands while disconnected, so a request
 * made during an outage would wait for Redis to come back. Here commands fail at once while the
 * connection is down (disableOfflineQueue), each has a timeout, and reconnection backs off to at
 * most 1 s so the node is ready again soon after Redis returns.
 */
export function createRedisConnections(url: string, logger: Logger, onChange?: (up: boolean) => void): RedisConnections {
  const make = (role: string) => {
    const client = newClient(url);
    let lastLogged = 0;
    client.on('error', (err: Error) => {
      // node-redis emits an error per failed reconnect attempt: log at most one line every 10 s.
      const now = Date.now();
      if (now - lastLogged > 10_000) {
        lastLogged = now;
        logger.warn('redis connection error', { role, error: err.message });
      }
    });
    client.on('ready', () => {
      logger.info('redis ready', { role });
      onChange?.(conns.isUp());
    });
    client.on('end', () => onChange?.(false));
    client.on('reconnecting', () => onChange?.(false));
    return client;
  };

  const data = make('data');
  const pub = make('pub');
  const sub = make('sub');
  const all = [data, pub, sub];

  const conns: RedisConnections = {
    data,
    pub,
    sub,
    isUp: () => all.every((c) => c.isReady),
    async connect(waitMs) {
      for (const c of all) {
        // connect() settles only once connected: never await it unbounded.
        c.connect().catch((err: Error) => logger.warn('redis connect failed', { error: err.message }));
      }
      const deadline = Date.now() + waitMs;
      while (!conns.isUp() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return conns.isUp();
    },
    async close() {
      // close() lets commands already sent finish (the adapter's last UNSUBSCRIBE among them:
      // destroy() would reject it where nobody catches it); a Redis that does not answer gets 1 s.
      await Promise.all(
        all.map(async (c) => {
          if (!c.isOpen) return;
          const timer = new Promise<void>((r) => setTimeout(r, 1000).unref());
          await Promise.race([c.close().catch(() => undefined), timer]);
          if (c.isOpen) {
            try {
              c.destroy();
            } catch {
              /* closed meanwhile */
            }
          }
        }),
      );
    },
  };
  return conns;
}

/**
 * A Lua script run with EVALSHA, falling back to EVAL when Redis does not know it yet (first use,
 * or after a restart emptied the script cache). Multi-key updates go through scripts so each is
 * atomic and costs one round trip.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run<T>(client: RedisClient, keys: string[], args: (string | number)[]): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await client.sendCommand<T>(['EVALSHA', this.sha, ...tail]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.sendCommand<T>(['EVAL', this.source, ...tail]);
    }
  }
}
