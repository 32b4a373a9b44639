import { createPublicKey, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { projectRoot } from '../lib/version';
import type { RedisTopology } from '../cluster/redis';
import { APP_ID, AppScope, type AppId } from '../contracts/app-scope';

export type Scope = 'push' | 'read' | 'manage' | 'admin';
export const SCOPES: readonly Scope[] = ['push', 'read', 'manage', 'admin'];

export interface ApiKey {
  name: string;
  key: string;
  scopes: ReadonlySet<Scope>;
  /** Every request made with this key must carry a valid X-Signature. */
  mustSign: boolean;
  /** The one app this key may act on (`app=<id>` among its scopes); null: any app. */
  app: AppId | null;
}

/**
 * Per-app limits (APPS as a JSON file). 0 turns a limit off; null falls back to the node-wide
 * variable named beside it.
 */
export interface AppLimits {
  /** Messages admitted per minute, cluster-wide, whatever the API (over it: 429 on /api/v1, 403 on Pusher's). @default 0 */
  messagesPerMinute: number;
  /** New Socket.IO connections per minute, cluster-wide, all addresses together (over it: RATE_LIMITED). @default 0 */
  connectionsPerMinute: number;
  /** Client events per second per socket. @default null (RATE_LIMIT_EVENTS) */
  eventsPerSecond: number | null;
  /** Largest `data` of one event on Pusher's API. @default null (PUSHER_MAX_DATA_BYTES) */
  maxDataBytes: number | null;
  /** Most events in one Pusher `batch_events`. @default null (PUSHER_MAX_BATCH) */
  maxBatch: number | null;
}

export const WEBHOOK_EVENTS = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'user_online', 'user_offline', 'client_event'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** Where an app's webhooks go and which ones it wants (WEBHOOK_*, or the app's `webhooks` in APPS). */
export interface WebhookConfig {
  urls: string[];
  events: ReadonlySet<WebhookEvent>;
  /** Rooms whose occupancy and members are reported (`prefix*` patterns). @default ['*'] */
  rooms: string[];
  /** Client event names reported as client_event (`prefix*` patterns). @default [] */
  clientEvents: string[];
}

/**
 * One application (APPS). Its users, rooms, presence, history, message ids, rate-limit budgets and
 * metrics are its own (contracts/app-scope.ts). The first listed is the default app: tokens without
 * an `app` claim and /api/v1 requests that name no app belong to it.
 */
export interface AppConfig {
  id: AppId;
  /** Pusher's `auth_key`; null for the implicit app of a node without APPS. */
  key: string | null;
  /** Signs the app's Pusher requests and may sign its client tokens (HS256); null for the implicit app. */
  secret: string | null;
  /** The secret as a KeyObject, for verifying client tokens. */
  tokenKey: KeyObject | null;
  /** false: connections, pushes and Pusher requests for the app are refused (403 / UNAUTHORIZED). @default true */
  enabled: boolean;
  limits: AppLimits;
  scope: AppScope;
  /** null: no webhooks for this app. */
  webhooks: WebhookConfig | null;
  /**
   * The app's own backend (its client events, room authorization, the native signature of its
   * webhooks), instead of BACKEND_URL / BACKEND_SECRET. null: those.
   */
  backend: { url: string; secret: string | null } | null;
}

/** How client tokens are verified. Keys are prepared once: a KeyObject per secret, never a string per handshake. */
export type JwtKeys =
  | { kind: 'hmac'; keys: { kid: string | null; key: KeyObject }[] }
  | { kind: 'public'; key: KeyObject; algorithms: ('RS256' | 'ES256')[] };

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  nodeId: string;
  redisUrl: string | null;
  /** Prefix of every Redis key and pub/sub channel, so several clusters (or tests) can share a Redis. @default 'pushgate' */
  redisPrefix: string;
  /** Use Socket.IO's sharded adapter (SSUBSCRIBE) on a single Redis too. @default false */
  redisSharded: boolean;
  /** One Redis; a Redis Cluster (REDIS_CLUSTER: REDIS_URL lists seed nodes); or Sentinel (REDIS_SENTINEL: REDIS_URL lists the sentinels). */
  redisTopology: RedisTopology;
  jwt: JwtKeys & { issuer: string | null; audience: string | null };
  /** Set when the secret was generated at start-up (development only): printed so tools can sign tokens. */
  generatedJwtSecret: string | null;
  apiKeys: ApiKey[];
  generatedApiKey: string | null;
  backend: { url: string | null; secret: string | null; timeoutMs: number };
  corsOrigins: '*' | string[];
  maxPayloadBytes: number;
  /**
   * APPS (or PUSHER_APP, one app): the applications this cluster hosts, the default one first. Without
   * either, one implicit app (`default`, no credentials) that behaves exactly as pushgate without apps.
   */
  apps: AppConfig[];
  /** APPS or PUSHER_APP was given: apps show in status, metrics and the dashboard. */
  appsListed: boolean;
  /** Pusher's HTTP API (/apps/:id/…), served for every app with credentials: PUSHER_MAX_DATA_BYTES, PUSHER_MAX_BATCH. */
  pusher: { maxDataBytes: number; maxBatch: number };
  metricsToken: string | null;
  shutdownTimeoutMs: number;
  /** Node heartbeat period; a node missing 3 beats is presumed dead and its presence removed. @default 5000 */
  heartbeatMs: number;
  /** nodeHandshakesPerSecond: RATE_LIMIT_NODE_HANDSHAKES, this node's Socket.IO handshakes per second, all addresses together (0: off). */
  rateLimits: { httpPerMinute: number; connectionsPerMinute: number; eventsPerSecond: number; nodeHandshakesPerSecond: number };
  logLevel: string;
  /** Express `trust proxy` (set it behind a load balancer so rate limits see client addresses). @default false */
  trustProxy: boolean | number | string;
  /** The dashboard's static export. @default <project>/dashboard/out */
  dashboardDir: string | null;
  /**
   * Set when this process is a worker of pushgate's router (router/sticky-router.ts, ROUTER_GENERATION
   * and ROUTER_WORKER): connections come over IPC, and session ids name the worker.
   */
  router: { generation: string; worker: number } | null;
  /**
   * Per-stream history (HISTORY_TTL_SECONDS, HISTORY_SIZE): how long a stream's messages are kept
   * after its last message, and how many at most. null when either is 0 (history off).
   * @default { ttlMs: 300000, size: 1000 }
   */
  history: { ttlMs: number; size: number } | null;
  /**
   * MAX_SOCKET_BUFFER_BYTES: a socket whose unsent data grows past this (its client stopped reading)
   * is disconnected. 0 turns the guard off. @default 8388608 (8 MiB)
   */
  maxSocketBufferBytes: number;
  /**
   * DELIVERY_FAST_PATH: pushes to sockets on WebSocket are encoded once and written as the same
   * pre-built frame to every recipient, coalesced per socket and event-loop turn (delivery/). false
   * sends every push through Socket.IO's per-socket path instead (an escape hatch, and the A/B
   * baseline of the benchmark). @default true
   */
  deliveryFastPath: boolean;
  /**
   * WS_PER_MESSAGE_DEFLATE: offer the WebSocket permessage-deflate extension (messages of 1 KiB and
   * more are compressed, per socket). Sockets that negotiate it take Socket.IO's per-socket path.
   * @default false
   */
  perMessageDeflate: boolean;
  /** PRESENCE_ROOMS: room patterns (`chat:*` matches by prefix) whose members get presence:join/leave. @default [] */
  presenceRooms: string[];
  /**
   * How webhooks are sent, for every app that has some: WEBHOOK_BATCH_MS (how long the first
   * pending event waits for others to share its request), WEBHOOK_LEAVE_GRACE_MS (how long a
   * leaving event waits for its user or room to come back, which cancels both), WEBHOOK_QUEUE_MAX
   * (pending events per room or user; past it the oldest are dropped), WEBHOOK_TIMEOUT_MS.
   */
  webhookDelivery: { batchMs: number; leaveGraceMs: number; queueMax: number; timeoutMs: number };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const PLACEHOLDER = /^(change[-_ ]?me|changeit|secret|password|placeholder|example|test|dev|default|your[-_].*|xxx+|todo|replace[-_ ]?me.*|\.\.\.)$/i;
const isPlaceholder = (v: string) => PLACEHOLDER.test(v.trim()) || /change[-_]?me|placeholder|your[-_]secret/i.test(v);

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
/** A yes/no variable: `true`/`1` or `false`/`0`, anything else refused. */
const flag = (def: boolean) => z.enum(['true', 'false', '1', '0']).default(def ? 'true' : 'false').transform((v) => v === 'true' || v === '1');
const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(3000).pipe(z.number().max(65535)),
  HOST: z.string().default('0.0.0.0'),
  REDIS_URL: optional,
  // No braces: keys carry their own hash tags (cluster/redis-keys.ts), and a tag in the prefix would put them all in one slot.
  REDIS_PREFIX: z
    .string()
    .regex(/^[\w:.-]{1,64}$/, 'REDIS_PREFIX must be 1-64 of A-Z a-z 0-9 _ : . - (no braces: keys carry their own hash tags)')
    .default('pushgate'),
  REDIS_SHARDED: flag(false),
  REDIS_CLUSTER: flag(false),
  REDIS_SENTINEL: z
    .string()
    .regex(/^[\w.-]{1,64}$/, 'REDIS_SENTINEL must be the name of the primary the sentinels watch (1-64 of A-Z a-z 0-9 _ . -)')
    .optional(),
  NODE_ID: optional,
  JWT_SECRET: optional,
  JWT_SECRETS: optional,
  JWT_PUBLIC_KEY: optional,
  JWT_ISSUER: optional,
  JWT_AUDIENCE: optional,
  API_KEYS: optional,
  BACKEND_URL: optional.pipe(z.url({ protocol: /^https?$/ }).optional()),
  BACKEND_SECRET: optional,
  BACKEND_TIMEOUT_MS: int(5000, 1),
  CORS_ORIGINS: optional,
  MAX_PAYLOAD_BYTES: int(1048576, 1024),
  APPS: optional,
  PUSHER_APP: optional,
  PUSHER_MAX_DATA_BYTES: int(10240, 1),
  PUSHER_MAX_BATCH: int(10, 1),
  METRICS_TOKEN: optional,
  SHUTDOWN_TIMEOUT_MS: int(10000, 100),
  HEARTBEAT_MS: int(5000, 100),
  RATE_LIMIT_HTTP: int(1200),
  RATE_LIMIT_CONNECTIONS: int(120),
  RATE_LIMIT_EVENTS: int(50),
  RATE_LIMIT_NODE_HANDSHAKES: int(0),
  LOG_LEVEL: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']).default('info'),
  TRUST_PROXY: optional,
  DASHBOARD_DIR: optional,
  ROUTER_GENERATION: optional,
  ROUTER_WORKER: optional,
  HISTORY_TTL_SECONDS: int(300).pipe(z.number().max(30 * 24 * 3600)),
  HISTORY_SIZE: int(1000).pipe(z.number().max(100_000)),
  PRESENCE_ROOMS: optional,
  WEBHOOK_URL: optional,
  WEBHOOK_EVENTS: optional,
  WEBHOOK_ROOMS: optional,
  WEBHOOK_CLIENT_EVENTS: optional,
  WEBHOOK_BATCH_MS: int(250),
  WEBHOOK_LEAVE_GRACE_MS: int(3000),
  WEBHOOK_QUEUE_MAX: int(1000, 1),
  WEBHOOK_TIMEOUT_MS: int(5000, 1),
  MAX_SOCKET_BUFFER_BYTES: int(8 * 1024 * 1024),
  DELIVERY_FAST_PATH: flag(true),
  WS_PER_MESSAGE_DEFLATE: flag(false),
});

function parseApiKeys(raw: string): ApiKey[] {
  return raw.split(',').map((entry, i) => {
    const parts = entry.trim().split(':');
    if (parts.length < 3) throw new ConfigError(`API_KEYS entry ${i + 1} must be name:key:scope+scope`);
    const name = parts[0]!;
    const words = parts[parts.length - 1]!.split('+').map((s) => s.trim());
    const key = parts.slice(1, -1).join(':');
    if (!name || !key) throw new ConfigError(`API_KEYS entry ${i + 1} has an empty name or key`);
    const scopes = new Set<Scope>();
    let mustSign = false;
    let app: AppId | null = null;
    for (const w of words) {
      if (w === 'signed') mustSign = true;
      else if (w.startsWith('app=') && APP_ID.test(w.slice(4))) app = w.slice(4);
      else if ((SCOPES as string[]).includes(w)) scopes.add(w as Scope);
      else throw new ConfigError(`API_KEYS entry "${name}" has an unknown scope "${w}" (push, read, manage, admin, signed, app=<id>)`);
    }
    if (scopes.size === 0) throw new ConfigError(`API_KEYS entry "${name}" has no scope`);
    return { name, key, scopes, mustSign, app };
  });
}

function readPem(value: string): string {
  if (!value.startsWith('@')) return value.replace(/\\n/g, '\n');
  try {
    return readFileSync(value.slice(1), 'utf8');
  } catch (e) {
    throw new ConfigError(`JWT_PUBLIC_KEY file ${value.slice(1)} cannot be read: ${(e as Error).message}`);
  }
}

function parseTrustProxy(v: string | undefined): boolean | number | string {
  if (v === undefined || v === 'false') return false;
  if (v === 'true') return true;
  return /^\d+$/.test(v) ? Number(v) : v;
}

function parsePatterns(v: string | undefined): string[] {
  if (!v) return [];
  const patterns = v.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of patterns) if (/[\s\p{Cc}]/u.test(p) || p.length > 200) throw new ConfigError(`PRESENCE_ROOMS: "${p}" is not a room pattern (1-200 characters, no whitespace)`);
  return patterns;
}

const appLimits = z
  .object({
    messagesPerMinute: z.number().int().min(0).default(0),
    connectionsPerMinute: z.number().int().min(0).default(0),
    eventsPerSecond: z.number().int().min(0).nullable().default(null),
    maxDataBytes: z.number().int().min(1).nullable().default(null),
    maxBatch: z.number().int().min(1).nullable().default(null),
  })
  .strict();

const appEntry = z
  .object({
    id: z.string().regex(APP_ID, 'id must be 1-64 of A-Z a-z 0-9 _ -'),
    key: z.string().regex(/^[\w.-]{1,128}$/, 'key must be 1-128 of A-Z a-z 0-9 _ . -'),
    secret: z.string().min(1).max(512),
    enabled: z.boolean().default(true),
    backend: z
      .object({ url: z.url({ protocol: /^https?$/ }), secret: z.string().min(1).optional() })
      .strict()
      .optional(),
    webhooks: z
      .object({
        url: z.union([z.string(), z.array(z.string()).min(1)]),
        events: z.array(z.enum(WEBHOOK_EVENTS)).optional(),
        rooms: z.array(z.string()).optional(),
        clientEvents: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
    limits: appLimits.default({ messagesPerMinute: 0, connectionsPerMinute: 0, eventsPerSecond: null, maxDataBytes: null, maxBatch: null }),
  })
  .strict();

/**
 * APPS: `id:key:secret` entries separated by commas (as Pusher's dashboard shows an app's
 * credentials), or `@/path/apps.json` naming a JSON array of `{ id, key, secret, enabled?, limits? }`.
 */
function parseApps(name: string, v: string): z.infer<typeof appEntry>[] {
  let raw: unknown;
  if (v.startsWith('@')) {
    try {
      raw = JSON.parse(readFileSync(v.slice(1), 'utf8'));
    } catch (e) {
      throw new ConfigError(`${name} file ${v.slice(1)} cannot be read as JSON: ${(e as Error).message}`);
    }
  } else {
    raw = v.split(',').map((entry) => {
      const [id, key, ...rest] = entry.trim().split(':');
      return { id, key, secret: rest.join(':') };
    });
  }
  const parsed = z.array(appEntry).min(1).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${name}: ${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message} (entries are id:key:secret, or @/path/apps.json)`);
  }
  const seen = new Set<string>();
  for (const a of parsed.data) {
    if (seen.has(`id:${a.id}`)) throw new ConfigError(`${name}: app id "${a.id}" is listed twice`);
    if (seen.has(`key:${a.key}`)) throw new ConfigError(`${name}: app key "${a.key}" is listed twice`);
    seen.add(`id:${a.id}`).add(`key:${a.key}`);
  }
  return parsed.data;
}

/** The one app of a node without APPS: plain names, no credentials, no limits of its own. */
export function implicitApp(webhooks: WebhookConfig | null = null): AppConfig {
  const limits: AppLimits = { messagesPerMinute: 0, connectionsPerMinute: 0, eventsPerSecond: null, maxDataBytes: null, maxBatch: null };
  return { id: 'default', key: null, secret: null, tokenKey: null, enabled: true, limits, scope: new AppScope('default', true, true), webhooks, backend: null };
}

function buildApps(listed: z.infer<typeof appEntry>[] | null, webhooks: WebhookConfig | null): AppConfig[] {
  if (!listed) return [implicitApp(webhooks)];
  return listed.map(({ webhooks: own, backend, ...a }, i) => ({
    ...a,
    backend: backend ? { url: backend.url, secret: backend.secret ?? null } : null,
    tokenKey: createSecretKey(Buffer.from(a.secret)),
    scope: new AppScope(a.id, i === 0),
    // An app's own `webhooks` replace the WEBHOOK_* variables for it.
    webhooks: own ? webhookConfig(`APPS (app "${a.id}") webhooks`, Array.isArray(own.url) ? own.url : [own.url], own.events, own.rooms, own.clientEvents) : webhooks,
  }));
}

/** Checks webhook URLs and patterns; `events` defaults to every transition, client_event only with client event names. */
function webhookConfig(name: string, urls: string[], events: readonly string[] | undefined, rooms: string[] | undefined, clientEvents: string[] | undefined): WebhookConfig {
  for (const u of urls) {
    if (!URL.canParse(u) || !/^https?:$/.test(new URL(u).protocol)) throw new ConfigError(`${name}: "${u}" is not an http(s) URL`);
  }
  for (const e of events ?? []) if (!(WEBHOOK_EVENTS as readonly string[]).includes(e)) throw new ConfigError(`${name}: unknown event "${e}" (${WEBHOOK_EVENTS.join(', ')})`);
  const names = clientEvents ?? [];
  const wanted = new Set<WebhookEvent>((events as WebhookEvent[] | undefined) ?? WEBHOOK_EVENTS.filter((e) => e !== 'client_event' || names.length > 0));
  return { urls, events: wanted, rooms: rooms ?? ['*'], clientEvents: names };
}

/**
 * Validates the environment once into a frozen Config. Throws ConfigError with a message naming the
 * variable; production refuses missing or placeholder secrets.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new ConfigError(`${String(first.path[0])}: ${first.message}`);
  }
  const e = parsed.data;
  const prod = e.NODE_ENV === 'production';
  const need = (name: string, ok: boolean, why: string) => {
    if (!ok) throw new ConfigError(`${name} ${why}`);
  };

  let jwt: JwtKeys;
  let generatedJwtSecret: string | null = null;
  if (e.JWT_PUBLIC_KEY) {
    let key: KeyObject;
    try {
      key = createPublicKey(readPem(e.JWT_PUBLIC_KEY));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError('JWT_PUBLIC_KEY is not a valid PEM public key');
    }
    jwt = { kind: 'public', key, algorithms: key.asymmetricKeyType === 'ec' ? ['ES256'] : ['RS256'] };
  } else if (e.JWT_SECRETS) {
    const keys = e.JWT_SECRETS.split(',').map((pair) => {
      const at = pair.indexOf(':');
      const kid = pair.slice(0, at).trim();
      const secret = pair.slice(at + 1).trim();
      need('JWT_SECRETS', at > 0 && secret.length > 0, 'must be kid1:secret1,kid2:secret2');
      if (prod) need('JWT_SECRETS', secret.length >= 32 && !isPlaceholder(secret), `secret for kid "${kid}" must be at least 32 characters and not a placeholder in production`);
      return { kid, key: createSecretKey(Buffer.from(secret)) };
    });
    jwt = { kind: 'hmac', keys };
  } else if (e.JWT_SECRET) {
    if (prod) need('JWT_SECRET', e.JWT_SECRET.length >= 32 && !isPlaceholder(e.JWT_SECRET), 'must be at least 32 characters and not a placeholder in production');
    jwt = { kind: 'hmac', keys: [{ kid: null, key: createSecretKey(Buffer.from(e.JWT_SECRET)) }] };
  } else {
    need('JWT_SECRET', !prod, 'is required in production (or JWT_SECRETS, or JWT_PUBLIC_KEY)');
    generatedJwtSecret = randomBytes(32).toString('base64url');
    jwt = { kind: 'hmac', keys: [{ kid: null, key: createSecretKey(Buffer.from(generatedJwtSecret)) }] };
  }

  let apiKeys: ApiKey[];
  let generatedApiKey: string | null = null;
  if (e.API_KEYS) {
    apiKeys = parseApiKeys(e.API_KEYS);
    if (prod) {
      for (const k of apiKeys) need('API_KEYS', k.key.length >= 24 && !isPlaceholder(k.key), `key "${k.name}" must be at least 24 characters and not a placeholder in production`);
    }
  } else {
    need('API_KEYS', !prod, 'is required in production (name:key:scope+scope,...)');
    generatedApiKey = `pk_dev_${randomBytes(18).toString('base64url')}`;
    apiKeys = [{ name: 'dev-admin', key: generatedApiKey, scopes: new Set<Scope>(['admin']), mustSign: false, app: null }];
  }

  need('APPS', !(e.APPS && e.PUSHER_APP), 'and PUSHER_APP exclude each other (PUSHER_APP is one app of APPS)');
  const appsVar = e.APPS ? 'APPS' : 'PUSHER_APP';
  const listed = e.APPS || e.PUSHER_APP ? parseApps(appsVar, (e.APPS ?? e.PUSHER_APP)!) : null;
  if (listed && prod) for (const a of listed) need(appsVar, a.secret.length >= 24 && !isPlaceholder(a.secret), `secret of app "${a.id}" must be at least 24 characters and not a placeholder in production`);
  if (listed && prod) for (const a of listed) if (a.backend) need(appsVar, !!a.backend.secret && a.backend.secret.length >= 32 && !isPlaceholder(a.backend.secret), `backend.secret of app "${a.id}" must be at least 32 characters in production`);
  const list = (v: string | undefined) => (v ? v.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
  const webhooks = e.WEBHOOK_URL ? webhookConfig('WEBHOOK_URL', list(e.WEBHOOK_URL)!, list(e.WEBHOOK_EVENTS), list(e.WEBHOOK_ROOMS), list(e.WEBHOOK_CLIENT_EVENTS)) : null;
  const apps = buildApps(listed, webhooks);
  // The implicit app has no secret: its webhooks are signed with BACKEND_SECRET alone.
  if (prod && apps.some((a) => a.webhooks && !a.secret)) need('BACKEND_SECRET', !!e.BACKEND_SECRET && e.BACKEND_SECRET.length >= 32, 'must be set (32+ characters) to sign webhooks of an app without a secret in production');
  for (const k of apiKeys) need('API_KEYS', k.app === null || apps.some((a) => a.id === k.app), `key "${k.name}" is limited to app "${k.app}", which APPS does not list`);
  need('REDIS_SENTINEL', !(e.REDIS_SENTINEL && e.REDIS_CLUSTER), 'and REDIS_CLUSTER exclude each other (Sentinel watches one primary; a Redis Cluster fails over by itself)');
  need('REDIS_URL', !(e.REDIS_URL?.includes(',') && !e.REDIS_CLUSTER && !e.REDIS_SENTINEL), 'lists several servers: set REDIS_CLUSTER (they are seeds of a Redis Cluster) or REDIS_SENTINEL (they are sentinels)');

  if (e.BACKEND_URL && prod) need('BACKEND_SECRET', !!e.BACKEND_SECRET && e.BACKEND_SECRET.length >= 32 && !isPlaceholder(e.BACKEND_SECRET), 'must be at least 32 characters when BACKEND_URL is set in production');
  if (e.METRICS_TOKEN && prod) need('METRICS_TOKEN', !isPlaceholder(e.METRICS_TOKEN) && e.METRICS_TOKEN.length >= 16, 'must be at least 16 characters and not a placeholder in production');

  const corsOrigins: Config['corsOrigins'] = e.CORS_ORIGINS
    ? e.CORS_ORIGINS === '*'
      ? '*'
      : e.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean)
    : prod
      ? []
      : '*';

  const port = e.PORT;
  const config: Config = {
    env: e.NODE_ENV,
    port,
    host: e.HOST,
    nodeId: e.NODE_ID ?? `${hostname()}-${process.pid}`,
    redisUrl: e.REDIS_URL ?? null,
    redisPrefix: e.REDIS_PREFIX,
    redisSharded: e.REDIS_SHARDED,
    redisTopology: e.REDIS_SENTINEL ? { kind: 'sentinel', name: e.REDIS_SENTINEL } : e.REDIS_CLUSTER ? { kind: 'cluster' } : { kind: 'single' },
    jwt: { ...jwt, issuer: e.JWT_ISSUER ?? null, audience: e.JWT_AUDIENCE ?? null },
    generatedJwtSecret,
    apiKeys,
    generatedApiKey,
    backend: { url: e.BACKEND_URL ?? null, secret: e.BACKEND_SECRET ?? null, timeoutMs: e.BACKEND_TIMEOUT_MS },
    corsOrigins,
    maxPayloadBytes: e.MAX_PAYLOAD_BYTES,
    apps,
    appsListed: listed !== null,
    pusher: { maxDataBytes: e.PUSHER_MAX_DATA_BYTES, maxBatch: e.PUSHER_MAX_BATCH },
    metricsToken: e.METRICS_TOKEN ?? null,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    heartbeatMs: e.HEARTBEAT_MS,
    rateLimits: {
      httpPerMinute: e.RATE_LIMIT_HTTP,
      connectionsPerMinute: e.RATE_LIMIT_CONNECTIONS,
      eventsPerSecond: e.RATE_LIMIT_EVENTS,
      nodeHandshakesPerSecond: e.RATE_LIMIT_NODE_HANDSHAKES,
    },
    logLevel: e.LOG_LEVEL,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    dashboardDir: e.DASHBOARD_DIR ?? (projectRoot() ? join(projectRoot()!, 'dashboard', 'out') : null),
    router: e.ROUTER_GENERATION && e.ROUTER_WORKER !== undefined ? { generation: e.ROUTER_GENERATION, worker: Number(e.ROUTER_WORKER) } : null,
    history: e.HISTORY_TTL_SECONDS > 0 && e.HISTORY_SIZE > 0 ? { ttlMs: e.HISTORY_TTL_SECONDS * 1000, size: e.HISTORY_SIZE } : null,
    presenceRooms: parsePatterns(e.PRESENCE_ROOMS),
    webhookDelivery: { batchMs: e.WEBHOOK_BATCH_MS, leaveGraceMs: e.WEBHOOK_LEAVE_GRACE_MS, queueMax: e.WEBHOOK_QUEUE_MAX, timeoutMs: e.WEBHOOK_TIMEOUT_MS },
    maxSocketBufferBytes: e.MAX_SOCKET_BUFFER_BYTES,
    deliveryFastPath: e.DELIVERY_FAST_PATH,
    perMessageDeflate: e.WS_PER_MESSAGE_DEFLATE,
  };
  return Object.freeze(config);
}
