import { Writable } from 'node:stream';
import jwt from 'jsonwebtoken';
import { io as ioClient, type Socket as ClientSocket, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import winston from 'winston';
import { loadConfig } from '../../server/src/config/config';
import type { WelcomePayload } from '../../server/src/contracts/socket-events';
import { createLogger } from '../../server/src/lib/logger';
import { PushgateNode, type NodeOptions } from '../../server/src/node';

export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789';
export const ADMIN_KEY = 'k_admin_0123456789abcdef01234567';
export const PUSH_KEY = 'k_push_0123456789abcdef012345678';
export const READ_KEY = 'k_read_0123456789abcdef012345678';
export const SIGNED_KEY = 'k_signed_0123456789abcdef0123456';
/** API_KEYS with every test key: admin, push, read, and a key that must sign. */
export const API_KEYS_FOR_TESTS = `admin:${ADMIN_KEY}:admin,pusher:${PUSH_KEY}:push,reader:${READ_KEY}:read,signer:${SIGNED_KEY}:push+read+signed`;

export interface TestNode extends PushgateNode {
  /** Every log line this node wrote, as parsed JSON. */
  logs: Record<string, unknown>[];
  /** The raw JSON text of every log line (to look for leaked secrets). */
  rawLogs: string[];
}

/**
 * A real node on 127.0.0.1, port 0, with test keys. `env` overrides any variable;
 * `REDIS_URL: undefined` keeps it single-node.
 */
export async function startNode(env: Record<string, string | undefined> = {}, opts: NodeOptions = {}): Promise<TestNode> {
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: TEST_JWT_SECRET,
    API_KEYS: API_KEYS_FOR_TESTS,
    RATE_LIMIT_CONNECTIONS: '0',
    RATE_LIMIT_HTTP: '0',
    RATE_LIMIT_EVENTS: '0',
    LOG_LEVEL: 'debug',
    ...env,
  });
  const rawLogs: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const line = chunk.toString().trim();
      rawLogs.push(line);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        /* not JSON */
      }
      cb();
    },
  });
  const logger = opts.logger ?? createLogger({ nodeId: config.nodeId, level: 'debug', transports: [new winston.transports.Stream({ stream: sink })] });
  const node = new PushgateNode(config, { heartbeatMs: 1000, ...opts, logger }) as TestNode;
  node.logs = logs;
  node.rawLogs = rawLogs;
  await node.start();
  return node;
}

export function makeToken(claims: Record<string, unknown> & { sub?: string }, opts: jwt.SignOptions = {}, secret: string = TEST_JWT_SECRET): string {
  return jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: 600, ...opts });
}

const openClients = new Set<ClientSocket>();

/** A socket.io-client socket that does not reconnect unless asked (a reconnecting client outliving its server hangs jest). */
export function connectClient(url: string, auth: Record<string, unknown> | undefined, opts: Partial<ManagerOptions & SocketOptions> = {}): ClientSocket {
  const socket = ioClient(url, { auth, reconnection: false, forceNew: true, transports: ['websocket'], ...opts });
  openClients.add(socket);
  return socket;
}

/** Connects and resolves with the welcome payload (rejects with the connect_error). */
export async function connectUser(url: string, sub: string, extra: Record<string, unknown> = {}, opts: Partial<ManagerOptions & SocketOptions> = {}) {
  const socket = connectClient(url, { token: makeToken({ sub, ...extra }) }, opts);
  const welcome = await new Promise<WelcomePayload>((resolve, reject) => {
    socket.once('welcome', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, welcome };
}

export function closeAllClients(): void {
  for (const s of openClients) s.disconnect();
  openClients.clear();
}

/** Resolves with the next `event` on the socket (its arguments as an array), or rejects after `ms`. */
export function nextEvent<T extends unknown[] = unknown[]>(socket: ClientSocket, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`no "${event}" within ${ms} ms`));
    }, ms);
    const handler = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    };
    socket.once(event, handler);
  });
}

/** Emits with an acknowledgement and resolves with the ack payload. */
export function emitAck<T = { ok: boolean; data?: unknown; error?: { code: string; message: string } }>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<T> {
  return socket.timeout(10000).emitWithAck(event, ...args) as Promise<T>;
}

/** Polls until `check` returns a truthy value (for state that has no event to await). */
export async function eventually<T>(check: () => Promise<T> | T, ms = 10000, every = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
