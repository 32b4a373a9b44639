import express, { Router, type Request } from 'express';
import { z } from 'zod';
import type { ApiKey, AppConfig } from '../../config/config';
import type { MetricsSample, StatusResponse } from '../../contracts/api';
import type { LiveSocket } from '../../contracts/socket-events';
import type { RateLimitStore } from '../../cluster/rate-limit-store';
import type { Clock } from '../../lib/clock';
import { AppError } from '../../lib/errors';
import type { LogLine } from '../../lib/log-buffer';
import type { WebhookStatus } from '../../routing/webhooks';
import { sendData } from '../envelope';
import { hasScope, requireScope } from '../middleware/api-key';
import { clearSession, issueSession, sessionKey } from '../middleware/session';
import { parse } from '../validate';
import { createHash, timingSafeEqual } from 'node:crypto';

export interface AdminSources {
  /** The apps this cluster hosts (APPS), for the dashboard's app filter; never their secrets. */
  apps(): { id: string; enabled: boolean; pusher: boolean; default: boolean }[];
  /** The cluster, or one app's share of it. */
  status(app?: AppConfig): Promise<StatusResponse>;
  history(): Promise<{ nodeId: string; samples: MetricsSample[] }[]>;
  sockets(q: { userId?: string; socketId?: string }): Promise<LiveSocket[]>;
  logs(q: { limit: number; minLevel?: string }): Promise<LogLine[]>;
  /** Every node's view of each app's webhooks (the sender's has the queue). */
  webhooks(): Promise<WebhookStatus[]>;
}

/** Sign-in attempts per minute per address: enough for a person, too few to guess a key. */
export const SIGN_IN_PER_MINUTE = 10;

const signInBody = z.strictObject({ key: z.string().min(1).max(512) });
const socketsQuery = z.strictObject({ userId: z.string().min(1).max(200).optional(), socketId: z.string().min(1).max(100).optional(), reveal: z.enum(['true', 'false']).optional(), app: z.string().optional() });
const logsQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(1000).default(200), level: z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug']).optional() });

const digest = (s: string) => createHash('sha256').update(s).digest();

/** 203.0.113.45 → 203.0.x.x; IPv6 keeps its first two groups. Operators see where, not who. */
export function maskAddress(address: string): string {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.\d+\.\d+$/.exec(address);
  if (v4) return `${v4[1]}.${v4[2]}.x.x`;
  const groups = address.split(':').filter(Boolean);
  return groups.length >= 2 ? `${groups[0]}:${groups[1]}::x` : 'x';
}

const GAUGES = ['sockets', 'users', 'rooms', 'rssBytes', 'heapUsedBytes'] as const;
const RATES = ['pushedPerSec', 'deliveredPerSec', 'clientEventsPerSec', 'backendErrorsPerSec'] as const;
const COUNTS = ['caughtUp', 'floodDisconnects', 'slowConsumerDisconnects', 'interruptedRecoveries', 'handshakeRefusals'] as const;

/**
 * Two samples of one node that fell into one slot (its timer drifts across a slot edge now and
 * then): gauges as of the later one, rates averaged, counts added, bounds the larger.
 */
function sameNode(a: MetricsSample, b: MetricsSample): MetricsSample {
  const out: MetricsSample = { ...b, t: a.t };
  for (const k of RATES) out[k] = (a[k] + b[k]) / 2;
  for (const k of COUNTS) out[k] = a[k] + b[k];
  out.pushP50Ms = maxOrNull(a.pushP50Ms, b.pushP50Ms);
  out.pushP99Ms = maxOrNull(a.pushP99Ms, b.pushP99Ms);
  out.eventLoopLagMs = Math.max(a.eventLoopLagMs, b.eventLoopLagMs);
  return out;
}

/**
 * The nodes' samples as cluster samples, aligned on 2-second slots: each node counted once per
 * slot, then the nodes added up. The newest slot is left out until every node has sampled in it
 * (each samples at its own moment), so the latest point is never one node short.
 */
export function clusterSeries(series: { samples: MetricsSample[] }[]): MetricsSample[] {
  const slots = new Map<number, { acc: MetricsSample; nodes: number }>();
  for (const { samples } of series) {
    const own = new Map<number, MetricsSample>();
    for (const s of samples) {
      const slot = Math.floor(s.t / 2000) * 2000;
      const prev = own.get(slot);
      own.set(slot, prev ? sameNode(prev, s) : { ...s, t: slot });
    }
    for (const [slot, s] of own) {
      const at = slots.get(slot);
      if (!at) {
        slots.set(slot, { acc: s, nodes: 1 });
        continue;
      }
      const acc = at.acc;
      at.nodes += 1;
      for (const k of [...GAUGES, ...RATES, ...COUNTS]) acc[k] += s[k];
      // Every node read the same cluster-wide numbers: the freshest one stands, nothing is added up.
      acc.clusterUsers = maxOrNull(acc.clusterUsers, s.clusterUsers);
      acc.clusterRooms = maxOrNull(acc.clusterRooms, s.clusterRooms);
      // Percentiles do not add up: the slowest node's value is the honest cluster bound.
      acc.pushP50Ms = maxOrNull(acc.pushP50Ms, s.pushP50Ms);
      acc.pushP99Ms = maxOrNull(acc.pushP99Ms, s.pushP99Ms);
      acc.eventLoopLagMs = Math.max(acc.eventLoopLagMs, s.eventLoopLagMs);
    }
  }
  const ordered = [...slots.values()].sort((a, b) => a.acc.t - b.acc.t);
  const newest = ordered[ordered.length - 1];
  if (newest && newest.nodes < series.filter((x) => x.samples.length > 0).length) ordered.pop();
  // A user on two nodes is one user, a room with members on two nodes one room: the cluster series
  // shows the cluster-wide counts where presence gave them (the per-node sums otherwise).
  return ordered.map(({ acc }) => ({ ...acc, users: acc.clusterUsers ?? acc.users, rooms: acc.clusterRooms ?? acc.rooms }));
}

const maxOrNull = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/** Sign-in for the dashboard: exchanges an admin key for a session cookie. Mounted before API-key auth. */
export function adminSessionRoutes(deps: { apiKeys: readonly ApiKey[]; clock: Clock; counters: RateLimitStore; secureCookies: boolean }): Router {
  const r = Router();
  const admins = deps.apiKeys.filter((k) => k.scopes.has('admin')).map((k) => ({ key: k, digest: digest(k.key) }));
  r.post('/', express.json({ limit: 4096 }), async (req, res) => {
    try {
      const { count } = await deps.counters.hit(`signin:${req.ip ?? 'unknown'}`, 60_000);
      if (count > SIGN_IN_PER_MINUTE) throw new AppError('RATE_LIMIT_EXCEEDED', 'Too many sign-in attempts; wait a minute', { retryAfter: 60 });
    } catch (err) {
      if (err instanceof AppError) throw err;
      throw new AppError('SERVICE_UNAVAILABLE', 'Sign-in is unavailable right now', { retryAfter: 1 });
    }
    const { key } = parse(signInBody, req.body);
    const d = digest(key);
    let found: ApiKey | undefined;
    for (const a of admins) if (timingSafeEqual(d, a.digest) && !found) found = a.key;
    if (!found) throw new AppError('UNAUTHORIZED', 'That is not an admin API key');
    const expiresAt = issueSession(res, found, deps.clock, deps.secureCookies);
    sendData(req, res, { keyName: found.name, expiresAt });
  });
  r.get('/', (req, res) => {
    const s = sessionKey(req, deps.apiKeys, deps.clock);
    if (!s) throw new AppError('UNAUTHORIZED', 'Not signed in');
    sendData(req, res, { keyName: s.key.name, expiresAt: s.expiresAt });
  });
  r.delete('/', (req, res) => {
    clearSession(res, deps.secureCookies);
    sendData(req, res, { signedOut: true });
  });
  return r;
}

/** What the dashboard pages read. Every route needs the admin scope (a session or an admin key). */
export function adminRoutes(src: AdminSources): Router {
  const r = Router();
  r.use('/admin', requireScope('admin'));
  // `?app=` (or the app an admin key is limited to) narrows the numbers to that app; the charts stay the cluster's.
  const filter = (req: Request) => (req.appNamed ? req.pgApp : undefined);
  r.get('/admin/apps', (req, res) => {
    const limitedTo = req.apiKey?.app ?? null;
    sendData(req, res, { apps: src.apps().filter((a) => limitedTo === null || a.id === limitedTo) });
  });
  r.get('/admin/overview', async (req, res) => {
    const [status, history] = await Promise.all([src.status(filter(req)), src.history()]);
    sendData(req, res, { ...status, series: history, cluster: clusterSeries(history) });
  });
  r.get('/admin/nodes', async (req, res) => {
    sendData(req, res, { nodes: (await src.status(filter(req))).nodes });
  });
  r.get('/admin/connections', async (req, res) => {
    const q = parse(socketsQuery, req.query, 'query string');
    if (!q.userId && !q.socketId) throw new AppError('BAD_REQUEST', 'Give userId or socketId', { details: [{ field: 'userId', message: 'userId or socketId is required' }] });
    const reveal = q.reveal === 'true' && hasScope(req.apiKey, 'admin');
    // A user id is the request's app's; a socket id is the same in every app, so the app filters its answer.
    const app = req.pgApp!;
    const sockets = await src.sockets(q.socketId ? { socketId: q.socketId } : { userId: app.scope.name(q.userId!) });
    const mine = sockets.filter((s) => !q.socketId || !req.appNamed || (s.app ?? app.id) === app.id);
    sendData(req, res, { sockets: mine.map((s) => (reveal ? s : { ...s, address: maskAddress(s.address) })) });
  });
  r.get('/admin/webhooks', async (req, res) => {
    // Per app: the sending node's view (queue, retry), counters summed over the nodes, the newest errors first.
    const limitedTo = req.appNamed ? req.pgApp!.id : null;
    const all = (await src.webhooks()).filter((s) => limitedTo === null || s.app === limitedTo);
    const apps = new Map<string, { app: string; sender: string | null; depth: number; sent: number; failedAttempts: number; dropped: number; retryAt: number | null; lastErrors: { at: number; message: string; nodeId: string }[] }>();
    for (const s of all) {
      const a = apps.get(s.app) ?? { app: s.app, sender: null, depth: 0, sent: 0, failedAttempts: 0, dropped: 0, retryAt: null, lastErrors: [] };
      if (s.sending) Object.assign(a, { sender: s.nodeId, depth: s.depth, retryAt: s.retryAt });
      a.sent += s.sent;
      a.failedAttempts += s.failedAttempts;
      a.dropped += s.dropped;
      a.lastErrors.push(...s.lastErrors.map((e) => ({ ...e, nodeId: s.nodeId })));
      apps.set(s.app, a);
    }
    for (const a of apps.values()) a.lastErrors = a.lastErrors.sort((x, y) => y.at - x.at).slice(0, 10);
    sendData(req, res, { apps: [...apps.values()] });
  });
  r.get('/admin/logs', async (req, res) => {
    if (req.apiKey?.app) throw new AppError('FORBIDDEN', 'Logs span every app: they need an admin key that is not limited to one app');
    const q = parse(logsQuery, req.query, 'query string');
    sendData(req, res, { lines: await src.logs({ limit: q.limit, minLevel: q.level }) });
  });
  return r;
}
