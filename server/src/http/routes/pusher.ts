import express, { type Request, type Response, type Router } from 'express';
import { roomName } from '../../contracts/api';
import { isPersonalRoom } from '../../contracts/socket-events';
import type { PresenceStore } from '../../cluster/presence-store';
import type { AppDirectory } from '../../config/app-directory';
import type { AppConfig, Config } from '../../config/config';
import type { RateLimitStore } from '../../cluster/rate-limit-store';
import type { Logger } from '../../lib/logger';
import { AppView } from '../../routing/app-view';
import { httpRateLimit } from '../middleware/rate-limit';
import type { Clock } from '../../lib/clock';
import { isAppError } from '../../lib/errors';
import { isOverQuota, type PushService } from '../../routing/push-service';
import { verifyPusherSignature } from '../pusher-signature';
import { fromPusherSocketId } from '../../contracts/pusher-socket-id';

/** At most this many channels in one `channels` list, as Pusher allows. */
const MAX_CHANNELS = 100;
/** Channel listings read at most this many rooms. */
const MAX_LISTED = 10_000;
const CHANNEL = /^[A-Za-z0-9_\-=@,.;]{1,164}$/;
const EVENT = /^[^\s\p{Cc}]{1,200}$/u;

/** A Pusher-style refusal: the status and a plain-text body, as Pusher's API answers. */
class PusherError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface EventItem {
  name: string;
  channels: string[];
  data: string;
  socket_id?: string;
  info?: string;
}

/**
 * Pusher's HTTP API (`/apps/:app_id/…`) on pushgate's port, for backends that publish with a Pusher
 * server library. A channel is a pushgate room of the same name (`private-`/`presence-` prefixes
 * included); an event reaches the room's sockets as a Socket.IO event named like it, its `data`
 * string parsed when it is JSON, with the usual `meta`, so history, recovery and receipts work as
 * for any push. Requests are signed as Pusher signs them (pusher-signature.ts).
 */
export function pusherRoutes(deps: { apps: AppDirectory; limits: Config['pusher']; clock: Clock; push: PushService; presence: PresenceStore; counters: RateLimitStore; httpPerMinute: number; logger: Logger; disconnectUser: (userId: string) => Promise<number> }): Router {
  const { limits } = deps;
  const router = express.Router();
  const maxData = (app: AppConfig) => app.limits.maxDataBytes ?? limits.maxDataBytes;
  const maxBatch = (app: AppConfig) => app.limits.maxBatch ?? limits.maxBatch;
  // The body as sent: its MD5 is part of the signature. Bounded a little above the largest batch of events any app may send.
  const largest = Math.max(...deps.apps.all.map((a) => maxData(a) * maxBatch(a) * 2), 64 * 1024);
  router.use(express.raw({ type: () => true, limit: largest }));
  router.use('/:appId', (req, res, next) => {
    const app = deps.apps.get(req.params.appId!);
    if (!app?.key || !app.secret) return next(new PusherError(404, `Unknown app ${req.params.appId}`));
    const [path = '', rawQuery = ''] = req.originalUrl.split('?', 2);
    const body = Buffer.isBuffer(req.body) ? req.body : undefined;
    const credentials = { id: app.id, key: app.key, secret: app.secret };
    const verdict = verifyPusherSignature({ method: req.method, path, rawQuery, body }, (key) => (key === app.key ? credentials : undefined), deps.clock.now());
    if (!verdict.ok) return next(new PusherError(verdict.status, verdict.message));
    if (!app.enabled) return next(new PusherError(403, 'App disabled'));
    res.locals.app = app;
    next();
  });
  // RATE_LIMIT_HTTP per app, as /api/v1 counts it per key: each app's budget is its own.
  router.use('/:appId', httpRateLimit({ perMinute: deps.httpPerMinute, counters: deps.counters, logger: deps.logger, key: (_req, res) => `pusher:${(res.locals.app as AppConfig).id}` }));

  const send = (res: Response, body: unknown) => res.status(200).json(body);

  const appOf = (res: Response) => res.locals.app as AppConfig;
  const view = (res: Response) => new AppView(deps.presence, appOf(res).scope);

  router.post('/:appId/events', async (req, res) => {
    const app = appOf(res);
    const item = eventItem(json(req), maxData(app), true);
    await deliver(app, item);
    send(res, item.info ? { channels: await channelInfo(view(res), item.channels, item.info) } : {});
  });

  router.post('/:appId/batch_events', async (req, res) => {
    const app = appOf(res);
    const body = json(req) as { batch?: unknown };
    if (!Array.isArray(body?.batch)) throw new PusherError(400, 'batch must be an array of events');
    if (body.batch.length > maxBatch(app)) throw new PusherError(400, `Batch too large: at most ${maxBatch(app)} events`);
    const items = body.batch.map((raw) => eventItem(raw, maxData(app), false));
    for (const item of items) await deliver(app, item);
    const infos = await Promise.all(items.map(async (i) => (i.info ? (await channelInfo(view(res), i.channels, i.info))[i.channels[0]!]! : {})));
    send(res, items.some((i) => i.info) ? { batch: infos } : {});
  });

  router.get('/:appId/channels', async (req, res) => {
    const prefix = typeof req.query.filter_by_prefix === 'string' ? req.query.filter_by_prefix : '';
    const info = typeof req.query.info === 'string' ? req.query.info : '';
    if (info.split(',').includes('user_count') && !prefix.startsWith('presence-')) throw new PusherError(400, 'info=user_count needs filter_by_prefix=presence-');
    const channels: Record<string, Record<string, number>> = {};
    let cursor: string | undefined;
    for (let n = 0; n < MAX_LISTED; ) {
      const page = await view(res).listRooms({ prefix, limit: 500, cursor });
      for (const r of page.rooms) {
        if (isPersonalRoom(r.room)) continue;
        channels[r.room] = attributes(info, r.users, r.sockets);
      }
      n += page.rooms.length;
      if (!page.cursor) break;
      cursor = page.cursor;
    }
    send(res, { channels });
  });

  router.get('/:appId/channels/:channel', async (req, res) => {
    const channel = channelName(req.params.channel);
    const info = typeof req.query.info === 'string' ? req.query.info : '';
    if (info.split(',').includes('user_count') && !channel.startsWith('presence-')) throw new PusherError(400, 'info=user_count is only for presence channels');
    const room = await view(res).getRoom(channel);
    send(res, { occupied: room !== null, ...attributes(info, room?.users.length ?? 0, room?.sockets ?? 0) });
  });

  router.get('/:appId/channels/:channel/users', async (req, res) => {
    const channel = channelName(req.params.channel);
    if (!channel.startsWith('presence-')) throw new PusherError(400, 'Users are listed for presence channels only');
    const room = await view(res).getRoom(channel);
    send(res, { users: (room?.users ?? []).map((u) => ({ id: u.userId })) });
  });

  router.post('/:appId/users/:userId/terminate_connections', async (req, res) => {
    await deps.disconnectUser(appOf(res).scope.name(req.params.userId!));
    send(res, {});
  });

  router.use((_req: Request, _res: Response, next: (err: unknown) => void) => next(new PusherError(404, 'Not found')));
  router.use((err: unknown, _req: Request, res: Response, _next: unknown) => {
    if (err instanceof PusherError) return void res.status(err.status).type('text/plain').send(err.message);
    const e = err as { type?: string; status?: number };
    if (e.type === 'entity.too.large') return void res.status(413).type('text/plain').send('Request body too large');
    if (isAppError(err)) {
      // An app over its message quota is what Pusher answers 403 "over quota" for; the request rate is a 429.
      if (isOverQuota(err)) return void res.status(403).type('text/plain').send(err.message);
      const status = err.status === 503 || err.status === 413 || err.status === 429 ? err.status : 400;
      if (err.retryAfter !== undefined) res.setHeader('Retry-After', String(err.retryAfter));
      return void res.status(status).type('text/plain').send(err.message);
    }
    res.status(500).type('text/plain').send('Internal error');
  });

  async function deliver(app: AppConfig, item: EventItem): Promise<void> {
    // A Pusher-form socket id (what the libraries accept) names a Socket.IO socket (pusher-socket-id.ts).
    const except = item.socket_id ? [fromPusherSocketId(item.socket_id) ?? item.socket_id] : undefined;
    await deps.push.push({ rooms: item.channels, event: item.name, data: parseData(item.data), except }, app);
  }

  async function channelInfo(view: AppView, channels: string[], info: string): Promise<Record<string, Record<string, number>>> {
    const rooms = await Promise.all(channels.map((c) => view.getRoom(c)));
    return Object.fromEntries(channels.map((c, i) => [c, attributes(info, rooms[i]?.users.length ?? 0, rooms[i]?.sockets ?? 0)]));
  }
  return router;
}

/** `user_count` (distinct users) and `subscription_count` (sockets), as asked in `info`. */
function attributes(info: string, users: number, sockets: number): Record<string, number> {
  const asked = info.split(',');
  const out: Record<string, number> = {};
  if (asked.includes('user_count')) out.user_count = users;
  if (asked.includes('subscription_count')) out.subscription_count = sockets;
  return out;
}

function json(req: Request): unknown {
  const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  try {
    return JSON.parse(raw);
  } catch {
    throw new PusherError(400, 'Body must be JSON');
  }
}

function channelName(v: unknown): string {
  if (typeof v !== 'string' || !CHANNEL.test(v) || !roomName.safeParse(v).success) throw new PusherError(400, `Invalid channel name: ${String(v).slice(0, 200)}`);
  return v;
}

/** One event of /events (`channel` or `channels`) or of a batch (`channel`). */
function eventItem(raw: unknown, maxDataBytes: number, several: boolean): EventItem {
  const b = raw as Record<string, unknown> | null;
  if (!b || typeof b !== 'object') throw new PusherError(400, 'An event must be an object');
  if (typeof b.name !== 'string' || !EVENT.test(b.name)) throw new PusherError(400, 'name must be a string of 1-200 characters');
  if (typeof b.data !== 'string') throw new PusherError(400, 'data must be a string');
  if (Buffer.byteLength(b.data) > maxDataBytes) throw new PusherError(413, `data is larger than ${maxDataBytes} bytes`);
  let channels: string[];
  if (several && b.channels !== undefined) {
    if (!Array.isArray(b.channels) || b.channels.length === 0) throw new PusherError(400, 'channels must be a non-empty array');
    if (b.channels.length > MAX_CHANNELS) throw new PusherError(400, `At most ${MAX_CHANNELS} channels`);
    channels = b.channels.map(channelName);
  } else {
    channels = [channelName(b.channel)];
  }
  if (b.socket_id !== undefined && (typeof b.socket_id !== 'string' || b.socket_id.length > 100)) throw new PusherError(400, 'socket_id must be a string');
  if (b.info !== undefined && typeof b.info !== 'string') throw new PusherError(400, 'info must be a string');
  const item: EventItem = { name: b.name, channels: [...new Set(channels)], data: b.data };
  if (b.socket_id) item.socket_id = b.socket_id as string;
  if (b.info) item.info = b.info as string;
  return item;
}

/** Pusher's data is a string, usually JSON: clients get the value, or the string when it is not JSON. */
function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}
