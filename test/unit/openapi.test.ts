import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import request from 'supertest';
import winston from 'winston';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../server/src/config/config';
import { AppDirectory } from '../../server/src/config/app-directory';
import { MAX_BATCH, messageId, roomName, userId } from '../../server/src/contracts/api';
import { ERROR_STATUS } from '../../server/src/contracts/error-codes';
import { MemoryPresenceStore } from '../../server/src/cluster/memory-presence-store';
import { MemoryPushStore } from '../../server/src/cluster/memory-push-store';
import { MemoryRateLimitStore } from '../../server/src/cluster/memory-rate-limit-store';
import { createHttpApp } from '../../server/src/http/app';
import { systemClock } from '../../server/src/lib/clock';
import { createLogger } from '../../server/src/lib/logger';
import { Metrics } from '../../server/src/metrics/metrics';
import { Receipts } from '../../server/src/routing/receipts';
import { PushService } from '../../server/src/routing/push-service';

/*
 * docs/openapi.yaml against the Express app itself: the app is built by createHttpApp (the same
 * function a node uses) over memory stores, its routes are read from Express 5's router stack, and
 * every documented operation is called to prove it is routed and answers a documented status.
 */

const ADMIN_KEY = 'k_openapi_admin_0123456789abcdef';

type Json = Record<string, unknown>;
interface Operation {
  security?: Json[];
  parameters?: Json[];
  requestBody?: Json;
  responses: Record<string, Json>;
}
interface Spec {
  openapi: string;
  security: Json[];
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, Json>; schemas: Record<string, Json>; parameters: Record<string, Json>; securitySchemes: Record<string, Json> };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

const spec = parseYaml(readFileSync(join(__dirname, '../../docs/openapi.yaml'), 'utf8')) as Spec;

/** Resolves a local `$ref` (`#/components/...`) against the spec. */
function deref<T = Json>(node: unknown): T {
  let cur = node as Json;
  for (let hops = 0; cur && typeof cur.$ref === 'string'; hops++) {
    if (hops > 10) throw new Error(`$ref loop at ${String(cur.$ref)}`);
    const ref = cur.$ref as string;
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are expected, got ${ref}`);
    let target: unknown = spec;
    for (const part of ref.slice(2).split('/')) target = (target as Json)[part];
    if (target === undefined) throw new Error(`dangling $ref ${ref}`);
    cur = target as Json;
  }
  return cur as T;
}

function operations(): { method: string; path: string; op: Operation }[] {
  const out: { method: string; path: string; op: Operation }[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) if (item[method]) out.push({ method, path, op: item[method] });
  }
  return out;
}

const effectiveSecurity = (op: Operation): Json[] => op.security ?? spec.security;
/** The operation needs an API key (header), not only a session cookie or nothing. */
const needsApiKey = (op: Operation) => effectiveSecurity(op).some((req) => 'bearerApiKey' in req || 'headerApiKey' in req);
const isOpen = (op: Operation) => effectiveSecurity(op).length === 0;
const hasParams = (op: Operation, where: 'path' | 'query') => (op.parameters ?? []).some((p) => deref(p).in === where);

/** Express route paths (`/rooms/:room`) → OpenAPI templates (`/rooms/{room}`). */
const toTemplate = (p: string) => p.replace(/:(\w+)/g, '{$1}');

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string | RegExp | (string | RegExp)[];
}

/** Walks Express 5's router stack (mounted routers included) into `METHOD /path` strings. */
function registeredRoutes(app: Express): string[] {
  const found = new Set<string>();
  const join = (prefix: string, p: string) => (prefix + (p === '/' ? '' : p)).replace(/\/{2,}/g, '/') || '/';
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
        for (const p of paths) {
          if (typeof p !== 'string') throw new Error(`route path ${String(p)} is not a string: document it by hand and extend this test`);
          for (const [m, on] of Object.entries(layer.route.methods)) if (on) found.add(`${m.toUpperCase()} ${toTemplate(join(prefix, p))}`);
        }
      } else if (layer.handle.stack) {
        const mount = layer.rawPath;
        if (mount !== undefined && typeof mount !== 'string') throw new Error(`router mounted on a non-string path: ${String(mount)}`);
        walk(layer.handle.stack, join(prefix, mount ?? '/'));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return [...found].sort();
}

const silent = new Writable({ write: (_chunk, _enc, cb) => cb() });

function buildApp(): Express {
  const config = loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'openapi-test-secret-0123456789abcdef', API_KEYS: `ops:${ADMIN_KEY}:admin`, RATE_LIMIT_HTTP: '0', PUSHER_APP: '4242:openapi-key:openapi-secret-0123456789abcdef' });
  const clock = systemClock;
  const logger = createLogger({ nodeId: 'openapi', level: 'error', transports: [new winston.transports.Stream({ stream: silent })] });
  const metrics = new Metrics('openapi', { sockets: () => 0, users: () => 0, rooms: () => 0, redisUp: () => -1 });
  const presence = new MemoryPresenceStore();
  const status = async () => ({ version: '0.0.0', nodes: [], totals: { nodes: 1, connections: 0, users: 0, rooms: 0 } });
  return createHttpApp({
    config,
    clock,
    logger,
    metrics,
    presence,
    push: new PushService({ receipts: new Receipts(), nodeId: 'openapi', store: new MemoryPushStore(presence, clock, null, () => undefined), metrics, clock, logger, keepHistory: false, clusterUp: () => true }),
    rooms: { addUser: async () => 0, removeUser: async () => 0 },
    disconnectUser: async () => 0,
    status,
    apps: new AppDirectory(config.apps),
    counters: new MemoryRateLimitStore(clock),
    dashboardDir: null,
    health: { nodeId: 'openapi', version: '0.0.0', startedAt: Date.now(), redis: () => 'none', draining: () => false, connections: () => 0 },
    admin: { apps: () => [], status, history: async () => [], sockets: async () => [], logs: async () => [], webhooks: async () => [] },
  });
}

/** A concrete URL for a documented template: each path parameter gets its example (or a plain value). */
function concretePath(path: string, op: Operation): string {
  return path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const param = (op.parameters ?? []).map((p) => deref(p)).find((p) => p.in === 'path' && p.name === name);
    if (!param) throw new Error(`${path}: path parameter {${name}} is not declared`);
    return encodeURIComponent(String(param.example ?? 'x'));
  });
}

function call(app: Express, method: string, url: string, withKey: boolean) {
  const agent = request(app);
  let req = (agent as unknown as Record<string, (u: string) => request.Test>)[method]!(url);
  if (withKey) req = req.set('Authorization', `Bearer ${ADMIN_KEY}`);
  if (method === 'post' || method === 'put') req = req.set('Content-Type', 'application/json').send('{}');
  return req;
}

const isNoRoute = (res: request.Response) => res.status === 404 && /^No route for /.test(String(res.body?.error?.message ?? ''));

describe('docs/openapi.yaml', () => {
  let app: Express;
  beforeAll(() => {
    app = buildApp();
  });

  it('is an OpenAPI 3.1 document whose $refs all resolve', () => {
    expect(spec.openapi).toMatch(/^3\.1\./);
    const refs: string[] = [];
    const collect = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref' && typeof v === 'string') refs.push(v);
          else collect(v);
        }
      }
    };
    collect(spec);
    expect(refs.length).toBeGreaterThan(50);
    for (const ref of refs) expect(() => deref({ $ref: ref })).not.toThrow();
  });

  it('documents every route the Express app registers', () => {
    const registered = registeredRoutes(app);
    // Guard against a walk that finds nothing (e.g. Express internals moved): the test would pass vacuously.
    expect(registered).toEqual(expect.arrayContaining(['POST /api/v1/push', 'GET /health', 'GET /metrics', 'POST /api/v1/admin/session']));
    const documented = new Set(operations().map(({ method, path }) => `${method.toUpperCase()} ${path}`));
    const missing = registered.filter((r) => !documented.has(r));
    expect(missing).toEqual([]);
  });

  it('documents no route the app does not register', () => {
    const registered = new Set(registeredRoutes(app));
    const extra = operations()
      .map(({ method, path }) => `${method.toUpperCase()} ${path}`)
      .filter((r) => !registered.has(r));
    expect(extra).toEqual([]);
  });

  it.each(operations().map(({ method, path, op }) => [method.toUpperCase(), path, op] as const))(
    '%s %s is routed and answers one of its documented statuses',
    async (method, path, op) => {
      const res = await call(app, method.toLowerCase(), concretePath(path, op), true);
      expect(isNoRoute(res)).toBe(false);
      expect(Object.keys(op.responses)).toContain(String(res.status));
      expect(res.headers['x-request-id']).toEqual(expect.any(String));
    },
  );

  it.each(operations().map(({ method, path, op }) => [method.toUpperCase(), path, op] as const))(
    '%s %s declares the security it really has',
    async (method, path, op) => {
      const res = await call(app, method.toLowerCase(), concretePath(path, op), false);
      if (needsApiKey(op)) {
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe('UNAUTHORIZED');
      } else if (isOpen(op)) {
        expect(res.status).not.toBe(401);
      } else {
        // Session-only or optional-token operations: refused without a cookie, or open when no token is configured.
        expect([200, 401]).toContain(res.status);
      }
    },
  );

  it.each(operations().map(({ method, path, op }) => [method.toUpperCase(), path, op] as const))('%s %s lists its error responses', (_method, path, op) => {
    const statuses = Object.keys(op.responses);
    expect(statuses.some((s) => /^2\d\d$/.test(s))).toBe(true);
    expect(statuses.some((s) => /^[45]\d\d$/.test(s))).toBe(true);
    const required: string[] = [];
    if (needsApiKey(op)) required.push('401', '403', '429', '500', '503');
    if (op.requestBody) required.push('400', '413');
    if (hasParams(op, 'path') || hasParams(op, 'query')) required.push('400');
    if (path.startsWith('/api/v1/admin/session')) required.push('500');
    expect(statuses).toEqual(expect.arrayContaining(required));
  });

  it('gives every enveloped error response a code whose status is the one it is listed under', () => {
    let checked = 0;
    for (const { path, op } of operations()) {
      for (const [status, raw] of Object.entries(op.responses)) {
        if (!/^[45]\d\d$/.test(status)) continue;
        const response = deref(raw);
        const media = deref((response.content as Json | undefined)?.['application/json'] ?? {});
        const schemaRef = (media.schema as Json | undefined)?.$ref;
        if (path.startsWith('/health')) continue; // health answers are not enveloped
        if (path.startsWith('/apps/')) continue; // Pusher's API answers as Pusher does: plain text (checked below)
        expect(schemaRef).toBe('#/components/schemas/ErrorEnvelope');
        const example = media.example as { success: boolean; error: { code: keyof typeof ERROR_STATUS } };
        expect(example.success).toBe(false);
        expect(ERROR_STATUS[example.error.code]).toBe(Number(status));
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('documents the Pusher routes’ refusals as Pusher’s plain text', () => {
    const pusherOps = operations().filter(({ path }) => path.startsWith('/apps/'));
    expect(pusherOps.length).toBe(6);
    for (const { op } of pusherOps) {
      expect(op.security).toEqual([{ pusherSignature: [] }]);
      for (const [status, raw] of Object.entries(op.responses)) if (/^[45]/.test(status)) expect(Object.keys(deref(raw).content as Json)).toEqual(['text/plain']);
    }
  });

  it('lists exactly the error codes of contracts/error-codes.ts', () => {
    const documented = spec.components.schemas.ErrorCode!.enum as string[];
    expect([...documented].sort()).toEqual(Object.keys(ERROR_STATUS).sort());
  });

  it('states the limits of contracts/api.ts', () => {
    const s = spec.components.schemas;
    const props = (name: string) => s[name]!.properties as Record<string, Json>;
    for (const list of ['users', 'rooms', 'socketIds', 'except']) expect(props('PushBody')[list]!.maxItems).toBe(1000);
    expect(props('BroadcastBody').except!.maxItems).toBe(1000);
    expect(props('BatchBody').messages!.maxItems).toBe(MAX_BATCH);
    expect(props('PushBody').event).toEqual({ $ref: '#/components/schemas/EventName' });
    expect(s.EventName!.maxLength).toBe(100);
  });

  it('uses name patterns that accept and refuse what the server does', () => {
    const samples = ['chat:general', 'a', 'x'.repeat(200), 'x'.repeat(201), '', 'has space', 'tab\there', 'nl\n', 'del\u007f', 'ünï/cødé', 'a/b'];
    const room = new RegExp(String(spec.components.schemas.RoomName!.pattern), 'u');
    const user = new RegExp(String(spec.components.schemas.UserId!.pattern), 'u');
    for (const v of samples) {
      expect([v, room.test(v)]).toEqual([v, roomName.safeParse(v).success]);
      expect([v, user.test(v)]).toEqual([v, userId.safeParse(v).success]);
    }
    const id = new RegExp(String(spec.components.schemas.MessageId!.pattern), 'u');
    for (const v of ['order-1', 'a.b:c_d', 'x'.repeat(128), 'x'.repeat(129), '', 'sp ace', 'sl/ash']) {
      expect([v, id.test(v)]).toEqual([v, messageId.safeParse(v).success]);
    }
  });
});
