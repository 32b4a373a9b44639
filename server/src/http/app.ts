import cors from 'cors';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import helmet from 'helmet';
import morgan from 'morgan';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { AppDirectory } from '../config/app-directory';
import type { AppConfig, Config } from '../config/config';
import { MAX_NESTING, type StatusResponse } from '../contracts/api';
import type { PresenceStore } from '../cluster/presence-store';
import type { RateLimitStore } from '../cluster/rate-limit-store';
import type { Clock } from '../lib/clock';
import { AppError } from '../lib/errors';
import { redactText, type Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import type { RoomManager } from '../realtime/room-manager';
import type { PushService } from '../routing/push-service';
import { dashboardRoutes } from './dashboard';
import { healthRoutes, type HealthSource } from './health';
import { identifyApiKey, requireApiKey } from './middleware/api-key';
import { pickApp, requireApp } from './middleware/app';
import { errorHandler, notFound } from './middleware/errors';
import { httpRateLimit } from './middleware/rate-limit';
import { requestId } from './middleware/request-id';
import { refuseDeepBodies } from './middleware/nesting';
import { verifySignature } from './middleware/signature';
import { sessionAsApiKey } from './middleware/session';
import { adminRoutes, adminSessionRoutes, type AdminSources } from './routes/admin';
import { pusherRoutes } from './routes/pusher';
import { pushRoutes } from './routes/v1/push';
import { roomRoutes } from './routes/v1/rooms';
import { statusRoutes } from './routes/v1/status';
import { userRoutes } from './routes/v1/users';

export interface HttpDeps {
  config: Config;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  push: PushService;
  presence: PresenceStore;
  rooms: Pick<RoomManager, 'addUser' | 'removeUser'>;
  disconnectUser: (userId: string) => Promise<number>;
  /** The whole cluster, or one app's share of it. */
  status: (app?: AppConfig) => Promise<StatusResponse>;
  apps: AppDirectory;
  counters: RateLimitStore;
  health: HealthSource;
  admin: AdminSources;
  /** The dashboard's static export; null or missing → a page that says how to build it. */
  dashboardDir: string | null;
}

/** Route pattern for metrics labels: never the raw path (room names would explode the label set). */
function routeLabel(req: Request, res: Response): string {
  // The mount path is recorded on the way in: an error leaving a router restores req.baseUrl, so by
  // `finish` a refused `/api/v1/rooms/:room` would otherwise be labelled `/rooms/:room`.
  if (req.route?.path) return `${(res.locals.routeBase as string | undefined) ?? req.baseUrl}${String(req.route.path)}`;
  return 'unmatched';
}

/** Remembers where a router is mounted, for routeLabel. */
const markMount: RequestHandler = (req, res, next) => {
  res.locals.routeBase = req.baseUrl;
  next();
};

export function createHttpApp(deps: HttpDeps): Express {
  const { config, logger, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('etag', false);

  app.use(requestId);
  app.use((req, res, next) => {
    res.on('finish', () => metrics.markHttp(req.method, routeLabel(req, res), res.statusCode));
    next();
  });
  // Access log at level `http` (LOG_LEVEL=http shows it); the URL is redacted (?token=…) before
  // winston sees it. Mounted only when that level is on: its per-request hooks and formatting cost
  // about half of the push API's throughput, and the level is fixed at start-up.
  if (logger.isLevelEnabled('http')) {
    morgan.token('request-id', (req) => (req as Request).requestId ?? '-');
    app.use(
      morgan(':request-id :method :url :status :res[content-length] :response-time ms', {
        stream: { write: (line: string) => logger.http(redactText(line.trim()), { source: 'access' }) },
        skip: (req) => req.url === '/health/live' || req.url === '/health/ready',
      }),
    );
  }
  app.use('/dashboard', dashboardRoutes(deps.dashboardDir));
  app.use(helmet());
  app.use(
    cors({
      origin: config.corsOrigins === '*' ? '*' : config.corsOrigins,
      allowedHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'X-Request-Id', 'X-Timestamp', 'X-Signature', 'X-Pushgate-App'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'RateLimit', 'RateLimit-Policy'],
      maxAge: 600,
    }),
  );

  app.use(healthRoutes(deps.health));
  app.get('/metrics', async (req, res) => {
    if (config.metricsToken && !sameSecret(req.get('authorization') ?? '', `Bearer ${config.metricsToken}`)) {
      throw new AppError('UNAUTHORIZED', 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>');
    }
    const { contentType, body } = await metrics.render();
    res.setHeader('Content-Type', contentType);
    res.send(body);
  });

  // Dashboard sign-in needs no API key (it is how one gets a session); it has its own brute-force limit.
  app.use('/api/v1/admin/session', markMount, adminSessionRoutes({ apiKeys: config.apiKeys, clock: deps.clock, counters: deps.counters, secureCookies: config.env === 'production' }));

  const api = express.Router();
  api.use(markMount);
  api.use(identifyApiKey(config.apiKeys));
  api.use(sessionAsApiKey(config.apiKeys, deps.clock));
  api.use(pickApp(deps.apps));
  api.use(httpRateLimit({ perMinute: config.rateLimits.httpPerMinute, counters: deps.counters, logger, onLimited: () => metrics.markRateLimited('http') }));
  api.use(requireApiKey);
  api.use(requireApp);
  api.use(
    express.json({
      limit: config.maxPayloadBytes,
      strict: false,
      verify: (req, _res, buf) => {
        (req as Request).rawBody = buf;
      },
    }),
  );
  api.use(refuseDeepBodies(MAX_NESTING));
  api.use(verifySignature(deps.clock, deps.counters));
  api.use(pushRoutes(deps.push));
  api.use(roomRoutes(deps.presence, deps.rooms));
  api.use(userRoutes(deps.presence, deps.disconnectUser));
  api.use(statusRoutes(deps.status));
  api.use(adminRoutes(deps.admin));
  app.use('/api/v1', api);
  if (deps.apps.all.some((a) => a.key !== null)) {
    app.use(
      '/apps',
      markMount,
      pusherRoutes({ apps: deps.apps, limits: config.pusher, clock: deps.clock, push: deps.push, presence: deps.presence, counters: deps.counters, httpPerMinute: config.rateLimits.httpPerMinute, logger, disconnectUser: deps.disconnectUser }),
    );
  }

  app.use(notFound);
  app.use(errorHandler(logger));
  return app;
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
