import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { Server as NetServer, type AddressInfo, type Socket as NetSocket } from 'node:net';
import { routedSessionId } from './router/sticky-router';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AppDirectory } from './config/app-directory';
import type { AppConfig, Config } from './config/config';
import { externalName } from './contracts/app-scope';
import type { NodeStatus, StatusResponse } from './contracts/api';
import { redisBus } from './cluster/adapter';
import type { HistoryStore } from './cluster/history-store';
import { MemoryHistoryStore } from './cluster/memory-history-store';
import { MemoryNodeRegistry } from './cluster/memory-node-registry';
import { MemoryPresenceStore } from './cluster/memory-presence-store';
import { MemoryPushStore } from './cluster/memory-push-store';
import { MemoryRateLimitStore } from './cluster/memory-rate-limit-store';
import type { NodeRegistry } from './cluster/node-registry';
import type { PresenceChange, PresenceStore } from './cluster/presence-store';
import type { PushStore } from './cluster/push-store';
import { RedisPushBus } from './cluster/push-bus';
import type { RateLimitStore } from './cluster/rate-limit-store';
import { createRedisConnections, writerCheck, type RedisConnections } from './cluster/redis';
import { RedisHistoryStore } from './cluster/redis-history-store';
import { RedisKeys } from './cluster/redis-keys';
import { RedisNodeRegistry } from './cluster/redis-node-registry';
import { RedisPresenceStore } from './cluster/redis-presence-store';
import { RedisPushStore } from './cluster/redis-push-store';
import { RedisRateLimitStore } from './cluster/redis-rate-limit-store';
import { createHttpApp } from './http/app';
import { answerClientError } from './http/client-error';
import { systemClock, type Clock } from './lib/clock';
import { createLogger, type Logger } from './lib/logger';
import { LogBuffer, type LogLine } from './lib/log-buffer';
import { readVersion } from './lib/version';
import { Metrics } from './metrics/metrics';
import { MetricsHistory } from './metrics/metrics-history';
import { ClusterCommands } from './realtime/cluster-commands';
import { ConnectionManager } from './realtime/connection-manager';
import { attachGateway, createIoServer } from './realtime/io';
import { PresenceEvents } from './realtime/presence-events';
import { PushFanout } from './delivery/push-fanout';
import { Recovery } from './realtime/recovery';
import { RoomManager } from './realtime/room-manager';
import { HandshakeBudget } from './realtime/handshake-budget';
import { SlowConsumerGuard } from './delivery/slow-consumer-guard';
import { TokenVerifier } from './realtime/token-verifier';
import { clientAddress, compileTrust, type TrustFn } from './realtime/handshake-auth';
import type { PgServer, PgSocket } from './realtime/types';
import type { MetricsSample } from './contracts/api';
import type { LiveSocket } from './contracts/socket-events';
import { HttpBackendClient, type BackendClient } from './routing/backend-client';
import type { CircuitBreakerOptions } from './routing/circuit-breaker';
import { MessageRouter } from './routing/message-router';
import { PushService } from './routing/push-service';
import { WebhookSender, wantsClientEvent, webhookPolicy, type WebhookStatus } from './routing/webhooks';
import { MemoryWebhookStore } from './cluster/memory-webhook-store';
import { RedisWebhookStore } from './cluster/redis-webhook-store';
import type { WebhookStore } from './cluster/webhook-store';
import { Receipts } from './routing/receipts';

const LOOP_RESOLUTION_MS = 20;
const netServerClose = NetServer.prototype.close;

/**
 * After a Redis outage a node stays not-ready (pushes answered 503) this much longer than its own
 * connections take to come back: the other nodes' subscribers reconnect on their own backoff (at
 * most 1 s, see cluster/redis.ts) and resubscribe after that, and a push published before they
 * have would be answered 2xx yet never reach their sockets.
 */
const REDIS_SETTLE_MS = 2000;

/**
 * How long a draining node still accepts connections (capped at a quarter of SHUTDOWN_TIMEOUT_MS).
 * Readiness says 503 from the first moment, but requests already on their way (in the listen
 * backlog, or read and not parsed yet) would be reset if the listener closed at once; accepted,
 * they are answered, with `Connection: close` so keep-alive clients move on.
 */
const DRAIN_ACCEPT_MS = 1000;

export interface NodeOptions {
  logger?: Logger;
  clock?: Clock;
  /** Overrides HEARTBEAT_MS (tests). */
  heartbeatMs?: number;
  breaker?: CircuitBreakerOptions;
  /** How long start() waits for Redis before serving not-ready. @default 5000 */
  redisWaitMs?: number;
}

/** One pushgate node: everything wired once, here (the composition root), and nowhere else. */
export class PushgateNode {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly http: HttpServer;
  readonly io: PgServer;
  readonly connections: ConnectionManager;
  readonly presence: PresenceStore;
  readonly router: MessageRouter;
  readonly version = readVersion();
  readonly startedAt: number;
  /** This node's recent log lines and metric samples, for the dashboard. */
  readonly logBuffer: LogBuffer;
  readonly history: MetricsHistory;
  readonly apps: AppDirectory;

  private readonly clock: Clock;
  private readonly redis: RedisConnections | null;
  private readonly registry: NodeRegistry;
  private readonly counters: RateLimitStore;
  private readonly backend: BackendClient | null;
  private readonly appBackends: BackendClient[];
  private readonly heartbeatMs: number;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private readonly trust: TrustFn;
  private readonly slowConsumers: SlowConsumerGuard;
  private readonly fanout: PushFanout;
  private readonly pushBus: RedisPushBus | null;
  private readonly webhookStore: WebhookStore;
  private readonly senders: WebhookSender[];
  private timers: NodeJS.Timeout[] = [];
  private draining = false;
  private inflight = 0;
  private redisWasDown = false;
  /** Until then Redis counts as down although connected (REDIS_SETTLE_MS after an outage). */
  private redisSettledAt = 0;
  /** Until Redis was up once, "not all connections ready" is start-up, not an outage. */
  private redisUpSeen = false;
  private stopping: Promise<void> | null = null;
  /** Connections the router handed over (config.router). */
  private readonly routed = new WeakSet<object>();

  constructor(config: Config, private readonly opts: NodeOptions = {}) {
    this.config = config;
    this.clock = opts.clock ?? systemClock;
    this.startedAt = this.clock.now();
    this.heartbeatMs = opts.heartbeatMs ?? config.heartbeatMs;
    this.trust = compileTrust(config.trustProxy);
    this.logger = opts.logger ?? createLogger({ nodeId: config.nodeId, level: config.logLevel, pretty: config.env === 'development' && process.stdout.isTTY });
    // The buffer keeps what the node logs, at the node's level: at `debug` it would fill with lines
    // the operator turned off and push out the ones the Logs page is for.
    this.logBuffer = new LogBuffer(1000, config.logLevel);
    this.logger.add(this.logBuffer);
    const { logger, clock } = this;

    this.redis = config.redisUrl ? createRedisConnections(config.redisUrl, config.redisTopology, logger, (up) => this.onRedisChange(up)) : null;
    const keys = new RedisKeys(config.redisPrefix);
    const apps = new AppDirectory(config.apps);
    this.apps = apps;
    // Webhooks: each transition is queued by the store write that makes it (cluster/webhook-store.ts).
    const webhookApps = config.apps.filter((a) => a.webhooks !== null);
    const policy = webhookPolicy(apps);
    const senders = new Map<string, WebhookSender>();
    const dropped = (app: string, n: number) => senders.get(app)?.dropped(n);
    const queueMax = config.webhookDelivery.queueMax;
    // The stores exist before Socket.IO does; presence transitions reach its events through this.
    let presenceEvents: PresenceEvents | null = null;
    const onPresence = (changes: PresenceChange[]) => presenceEvents?.announce(changes);
    // Pushes reach this node's sockets only through the fanout, which needs Socket.IO (built below).
    let fanout: PushFanout | null = null;
    // Sockets join streams before the bus exists; their subscriptions wait for it (cluster/push-bus.ts).
    let bus: RedisPushBus | null = null;
    const listen = this.redis ? (stream: string) => bus!.listen(stream) : undefined;
    let push: PushStore;
    let history: HistoryStore | null;
    if (this.redis) {
      const { data, topology } = this.redis;
      const presence = new RedisPresenceStore(
        data,
        keys,
        onPresence,
        config.apps.filter((a) => !a.scope.isDefault).map((a) => a.id),
        webhookApps.length > 0 ? { policy, queueMax, dropped } : null,
      );
      this.webhookStore = new RedisWebhookStore(data, keys, queueMax, clock);
      this.presence = presence;
      push = new RedisPushStore(data, keys, config.history, presence, topology);
      history = config.history ? new RedisHistoryStore(data, keys, config.history, writerCheck(topology)) : null;
      this.counters = new RedisRateLimitStore(data, keys);
      this.registry = new RedisNodeRegistry(data, keys, this.presence);
    } else {
      const webhookStore = new MemoryWebhookStore(policy, queueMax, clock, dropped);
      this.webhookStore = webhookStore;
      const presence = new MemoryPresenceStore(onPresence, webhookApps.length > 0 ? (t) => webhookStore.transition(t) : undefined);
      this.presence = presence;
      const memoryHistory = config.history ? new MemoryHistoryStore(config.history, clock) : null;
      history = memoryHistory;
      push = new MemoryPushStore(presence, clock, memoryHistory, (w) => fanout!.receive(w));
      this.counters = new MemoryRateLimitStore(clock);
      this.registry = new MemoryNodeRegistry(clock);
    }

    this.connections = new ConnectionManager({ nodeId: config.nodeId, presence: this.presence, clock, logger, listen });
    this.metrics = new Metrics(config.nodeId, {
      sockets: () => this.connections.socketCount,
      users: () => this.connections.userCount,
      rooms: () => this.localRoomCount(),
      redisUp: () => (this.redis ? (this.redis.isUp() ? 1 : 0) : -1),
      deliveries: () => this.fanout.counts(),
      streams: () => this.pushBus?.listening ?? 0,
      ...(config.appsListed ? { apps: { ids: config.apps.map((a) => a.id), counts: () => this.connections.appCounts() } } : {}),
      webhookApps: webhookApps.map((a) => a.id),
    });
    for (const app of webhookApps) {
      const backendSecret = app.backend ? app.backend.secret : config.backend.secret;
      senders.set(app.id, new WebhookSender(app, { store: this.webhookStore, nodeId: config.nodeId, delivery: config.webhookDelivery, backendSecret, metrics: this.metrics, logger, clock }));
    }
    this.senders = [...senders.values()];
    this.history = new MetricsHistory(this.metrics, async () => {
      const t = await this.presence.totals();
      return { users: t.users, rooms: t.rooms };
    });
    this.slowConsumers = new SlowConsumerGuard({ connections: this.connections, limitBytes: config.maxSocketBufferBytes, metrics: this.metrics, logger });

    // The request listener must exist before Socket.IO attaches: engine.io wraps the listeners it
    // finds, so /socket.io requests never reach Express. The app itself is built further down.
    let app: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
    this.http = createServer((req, res) => {
      // A connection handed over by the router was routed by its first request's session: the
      // next request must come over a new connection, to be routed by its own.
      if (this.draining || this.routed.has(req.socket)) res.shouldKeepAlive = false;
      this.inflight += 1;
      res.once('close', () => (this.inflight -= 1));
      app!(req, res);
    });
    this.http.on('clientError', answerClientError);
    const handshakes = new HandshakeBudget(config.rateLimits.nodeHandshakesPerSecond, () => performance.now());
    this.io = createIoServer(this.http, {
      corsOrigins: config.corsOrigins,
      maxPayloadBytes: config.maxPayloadBytes,
      perMessageDeflate: config.perMessageDeflate,
      adapter: this.redis ? redisBus(this.redis, config.redisPrefix, config.redisSharded || config.redisTopology.kind === 'cluster', logger) : undefined,
      accepting: () => !this.draining,
      admit: () => {
        if (handshakes.take()) return true;
        this.metrics.markRateLimited('handshake');
        return false;
      },
    });

    this.backend = config.backend.url ? new HttpBackendClient(config.backend.url, config.backend.secret, config.maxPayloadBytes) : null;
    this.router = new MessageRouter(this.backend, { nodeId: config.nodeId, timeoutMs: config.backend.timeoutMs, clock, metrics: this.metrics, logger, breaker: opts.breaker });
    // An app with its own backend has its own client and circuit breaker: one tenant's failing backend opens no other's circuit.
    const ownBackends = config.apps.filter((a) => a.backend !== null).map((a) => [a.id, new HttpBackendClient(a.backend!.url, a.backend!.secret, config.maxPayloadBytes)] as const);
    this.appBackends = ownBackends.map(([, b]) => b);
    const routers = new Map(ownBackends.map(([id, b]) => [id, new MessageRouter(b, { nodeId: config.nodeId, timeoutMs: config.backend.timeoutMs, clock, metrics: this.metrics, logger, breaker: opts.breaker })]));
    const routerOf = (socket: PgSocket) => routers.get(socket.data.app.id) ?? this.router;
    const cluster = new ClusterCommands(this.io, this.redis !== null, logger);
    const rooms = new RoomManager({ connections: this.connections, presence: this.presence, routerOf, cluster, logger, listen });
    presenceEvents = new PresenceEvents(this.io, config.presenceRooms, this.metrics);
    cluster.register({
      'members:join': ({ userId, room }) => rooms.applyLocal(userId, room, true),
      'members:leave': ({ userId, room }) => rooms.applyLocal(userId, room, false),
      'users:disconnect': async ({ userId }) => {
        const sockets = this.connections.socketsOf(userId);
        for (const s of sockets) s.disconnect(true);
        return sockets.length;
      },
      'admin:sockets': async (q) => this.liveSockets(q),
      'admin:history': async () => ({ nodeId: config.nodeId, samples: this.history.list() }),
      'admin:logs': async (q) => this.logBuffer.recent({ limit: Math.min(1000, q.limit), minLevel: q.minLevel }),
      'admin:webhooks': async () => this.senders.map((s) => s.status()),
    });
    const verifier = new TokenVerifier(config.jwt, config.appsListed ? apps : null);

    attachGateway(this.io, {
      nodeId: config.nodeId,
      apps,
      appsListed: config.appsListed,
      eventsPerSecond: config.rateLimits.eventsPerSecond,
      connectionsPerMinute: config.rateLimits.connectionsPerMinute,
      trustProxy: this.trust,
      rateLimits: this.counters,
      accepting: () => !this.draining,
      connections: this.connections,
      rooms,
      recovery: new Recovery({ history, rooms, metrics: this.metrics, logger, seen: (stream, offset) => this.fanout.seen(stream, offset) }),
      routerOf,
      verifier,
      clientEvent: (socket, event, data) => {
        const app = apps.of(socket.data.app.id);
        if (!wantsClientEvent(app, event)) return;
        this.webhookStore
          .clientEvent(app.id, socket.data.userId, { event, data, socketId: socket.id })
          .then((kept) => kept || dropped(app.id, 1))
          .catch((err: Error) => logger.warn('webhooks: could not queue a client event', { app: app.id, event, error: err.message }));
      },
      clock,
      metrics: this.metrics,
      logger,
      track: (work) => this.track(work),
    });

    const receipts = new Receipts();
    const pushBus = this.redis
      ? new RedisPushBus(this.redis, { keys, nodeId: config.nodeId, logger }, {
          push: (w) => fanout!.receive(w),
          receipt: (token, acked) => receipts.report(token, acked),
          // What was published while the subscriber was away is delivered from history.
          resubscribed: () => {
            if (!this.draining) fanout!.catchUp().catch((err: Error) => logger.warn('catch-up after re-subscribing failed', { error: err.message }));
          },
        })
      : null;
    bus = pushBus;
    this.pushBus = pushBus;
    if (pushBus) {
      // A node listens to a stream's channel while it has sockets in the stream (the socket-id rooms are no streams).
      const adapter = this.io.of('/').adapter;
      adapter.on('create-room', (room: string) => {
        if (!adapter.sids.has(room)) pushBus.listen(room).catch(() => undefined);
      });
      adapter.on('delete-room', (room: string) => pushBus.forget(room));
    }
    fanout = new PushFanout({
      io: this.io,
      // A single node cannot miss its own pushes; in a cluster a node can miss some on the bus.
      history: pushBus ? history : null,
      metrics: this.metrics,
      logger,
      fastPath: config.deliveryFastPath,
      report: (node, token, acked) => (node === config.nodeId || !pushBus ? receipts.report(token, acked) : pushBus.report(node, token, acked)),
    });
    this.fanout = fanout;
    const pushService = new PushService({
      receipts,
      nodeId: config.nodeId,
      store: push,
      keepHistory: config.history !== null,
      clusterUp: () => this.redisState() !== 'down',
      counters: this.counters,
      defaultApp: apps.default,
      metrics: this.metrics,
      clock,
      logger,
    });

    app = createHttpApp({
      config,
      clock,
      logger,
      metrics: this.metrics,
      push: pushService,
      presence: this.presence,
      rooms,
      disconnectUser: (userId) => cluster.run('users:disconnect', { userId }),
      status: (app) => this.status(app),
      apps,
      counters: this.counters,
      dashboardDir: config.dashboardDir,
      admin: {
        apps: () => config.apps.map((a) => ({ id: a.id, enabled: a.enabled, pusher: a.key !== null, default: a.scope.isDefault })),
        status: (app) => this.status(app),
        history: async () => (await cluster.collect('admin:history', {})) as { nodeId: string; samples: MetricsSample[] }[],
        sockets: async (q) => (await cluster.collect('admin:sockets', q)).flat(),
        webhooks: async () => (await cluster.collect('admin:webhooks', {})).flat() as WebhookStatus[],
        logs: async (q) => {
          const all = (await cluster.collect('admin:logs', q)).flat() as LogLine[];
          return all.sort((x, y) => (x.ts < y.ts ? 1 : x.ts > y.ts ? -1 : 0)).slice(0, q.limit);
        },
      },
      health: {
        nodeId: config.nodeId,
        version: this.version,
        startedAt: this.startedAt,
        redis: () => this.redisState(),
        draining: () => this.draining,
        connections: () => this.connections.socketCount,
      },
    });
  }

  /** Connects Redis (bounded wait), starts heart-beating and listens. */
  async start(): Promise<void> {
    this.loopDelay.enable();
    if (this.redis) {
      const up = await this.redis.connect(this.opts.redisWaitMs ?? 5000);
      if (!up) {
        this.redisWasDown = true;
        this.logger.warn('redis is not reachable yet: serving, not ready, retrying in the background');
      }
    }
    this.pushBus?.subscribe();
    await this.beat();
    for (const s of this.senders) s.start();
    this.history.start();
    this.slowConsumers.start();
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const t = setInterval(() => void fn().catch((err: Error) => this.logger.warn('periodic task failed', { error: err.message })), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.heartbeatMs, () => this.beat());
    every(this.heartbeatMs * 2, async () => {
      // Right after a Redis outage the other nodes may not have heart-beaten yet: reaping them then
      // would announce leaves that never happened. The settle window (REDIS_SETTLE_MS) covers it.
      if (this.redisState() === 'down') return;
      const reaped = await this.registry.reap();
      if (reaped.length) this.logger.warn('removed the presence of nodes that stopped heart-beating', { nodes: reaped });
    });
    if (this.config.router) this.acceptRouted(this.config.router);
    if (this.config.router) {
      // A router's worker serves the connections handed to it over IPC; its own port is for
      // scrapes and health checks. During `pm2 reload` the old generation's worker still holds it
      // until it has drained, so the new one takes it over once it is free, and serves meanwhile.
      this.listenWhenFree();
      process.send?.({ type: 'pushgate:ready' });
      return;
    }
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.config.port, this.config.host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
  }

  private listenWhenFree(): void {
    const attempt = () => {
      if (this.draining) return;
      const onError = (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE') return void this.logger.error('cannot listen on the instance port', { port: this.config.port, error: err.message });
        setTimeout(attempt, 250).unref();
      };
      this.http.once('error', onError);
      this.http.listen(this.config.port, this.config.host, () => this.http.off('error', onError));
    };
    attempt();
  }

  /** Takes the connections pushgate's router hands over, and names sessions so it can route them (router/sticky-router.ts). */
  private acceptRouted(router: { generation: string; worker: number }): void {
    (this.io.engine as unknown as { generateId: () => string }).generateId = () => routedSessionId(router.generation, router.worker);
    process.on('message', (m: { type?: string; data?: string }, handle: unknown) => {
      if (m?.type !== 'pushgate:connection' || !handle) return;
      const socket = handle as NetSocket;
      this.routed.add(socket);
      socket.once('close', () => process.connected && process.send?.({ type: 'pushgate:closed' }));
      this.http.emit('connection', socket);
      socket.emit('data', Buffer.from(m.data ?? '', 'base64'));
      socket.resume();
    });
  }

  get port(): number {
    return (this.http.address() as AddressInfo | null)?.port ?? this.config.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Graceful drain, bounded by SHUTDOWN_TIMEOUT_MS: refuse new work, tell clients, let in-flight
   * requests and handlers finish, disconnect sockets (their presence goes with them), leave the
   * registry, close Redis. Past the deadline everything is closed regardless.
   */
  stop(): Promise<void> {
    this.stopping ??= this.drain();
    return this.stopping;
  }

  private async drain(): Promise<void> {
    const deadline = this.clock.now() + this.config.shutdownTimeoutMs;
    this.draining = true;
    this.logger.info('draining', { connections: this.connections.socketCount, inflight: this.inflight });
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.slowConsumers.stop();
    this.io.local.emit('server:draining', { nodeId: this.config.nodeId, reconnectInMs: 0 });
    await new Promise((r) => setTimeout(r, Math.min(DRAIN_ACCEPT_MS, this.config.shutdownTimeoutMs / 4)));
    // Stops accepting only: http.close() would also reset idle keep-alive connections, a request
    // just arriving on one among them. They are closed once in-flight work is done, below.
    netServerClose.call(this.http);
    while (this.inflight > 0 && this.clock.now() < deadline - 500) await new Promise((r) => setTimeout(r, 20));
    const sockets = this.connections.all();
    // Closing the transport (not socket.disconnect()) is what makes socket.io-client reconnect on
    // its own, to another node: a server-side disconnect() tells it to stay away.
    for (const s of sockets) s.conn.close();
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(sockets.map((s) => this.connections.remove(s))),
      new Promise((r) => (giveUp = setTimeout(r, Math.max(0, deadline - this.clock.now() - 200)))),
    ]);
    clearTimeout(giveUp);
    // The sockets' leaving events are queued: in a cluster another node sends them (the lease is
    // given up here); a single node sends what it can before its deadline.
    await Promise.all(this.senders.map((s) => (this.redis ? s.stop() : s.flush(deadline - 200))));
    await this.registry.remove(this.config.nodeId).catch(() => undefined);
    // In-flight requests are done (or out of time): idle keep-alive connections would otherwise
    // hold io.close() (which waits for the HTTP server) until their own timeout.
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.io.close(() => resolve()));
    await this.backend?.close().catch(() => undefined);
    await Promise.all(this.appBackends.map((b) => b.close().catch(() => undefined)));
    await this.redis?.close();
    this.loopDelay.disable();
    this.history.stop();
    this.logger.info('drained');
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inflight += 1;
    return work.finally(() => (this.inflight -= 1));
  }

  private redisState(): 'up' | 'down' | 'none' {
    if (!this.redis) return 'none';
    return this.redis.isUp() && this.pushBus?.ready === true && this.clock.now() >= this.redisSettledAt ? 'up' : 'down';
  }

  /** After an outage Redis may have lost everything (no persistence): publish this node's state again. */
  private onRedisChange(up: boolean): void {
    if (!up) {
      if (this.redisUpSeen) this.redisWasDown = true;
      return;
    }
    this.redisUpSeen = true;
    this.pushBus?.subscribe();
    if (!this.redisWasDown || this.draining) return;
    this.redisWasDown = false;
    this.redisSettledAt = this.clock.now() + REDIS_SETTLE_MS;
    // Redis kept its data (this node is still registered): what changed meanwhile is news, and the
    // rest is not. Redis lost it: everything is published again without announcing any of it.
    void this.beat()
      .then(async (registry) => {
        if (registry === 'failed') throw new Error('heartbeat failed');
        if (registry !== 'unknown') {
          const { added, removed } = await this.connections.reconcile();
          this.logger.info('redis back with its data: presence reconciled', { added, removed });
        } else {
          this.logger.info('redis back without its data: presence re-published', { sockets: await this.connections.resync({ announce: false }) });
        }
      })
      .catch((err: Error) => {
        this.redisWasDown = true;
        this.logger.warn('presence resync failed', { error: err.message });
      });
  }

  /** `userId` is qualified with its app; the answer is in the socket's app's names. */
  private liveSockets(q: { userId?: string; socketId?: string }): LiveSocket[] {
    const picked = q.socketId ? [this.connections.get(q.socketId)].filter((s) => s !== undefined) : q.userId ? this.connections.socketsOf(q.userId) : [];
    return picked.map((s) => {
      const live: LiveSocket = {
        id: s.id,
        userId: externalName(s.data.userId),
        nodeId: this.config.nodeId,
        connectedAt: s.data.connectedAt,
        rooms: [...s.rooms].filter((r) => r !== s.id).map(externalName),
        transport: s.conn.transport.name,
        address: clientAddress(s, this.trust),
      };
      if (this.config.appsListed) live.app = s.data.app.id;
      return live;
    });
  }

  private localRoomCount(): number {
    // The adapter's room map also holds each socket's own id room and each user's personal room.
    return Math.max(0, this.io.of('/').adapter.rooms.size - this.connections.socketCount - this.connections.userCount);
  }

  private nodeStatus(): NodeStatus {
    return {
      id: this.config.nodeId,
      version: this.version,
      connections: this.connections.socketCount,
      users: this.connections.userCount,
      rooms: this.localRoomCount(),
      startedAt: this.startedAt,
      lastSeen: this.clock.now(),
      memoryRss: process.memoryUsage.rss(),
      // The histogram counts the sampling interval itself (LOOP_RESOLUTION_MS): lag is what exceeds it.
      eventLoopLagMs: Math.round(Math.max(0, this.loopDelay.mean / 1e6 - LOOP_RESOLUTION_MS) * 100) / 100 || 0,
      redis: this.redisState(),
      ready: !this.draining && this.redisState() !== 'down',
      ...(this.config.appsListed ? { apps: Object.fromEntries([...this.connections.appCounts()].map(([id, c]) => [id, { connections: c.sockets, users: c.users }])) } : {}),
    };
  }

  /** @returns what the registry knew of this node, or 'failed'. */
  private async beat(): Promise<'known' | 'dead' | 'unknown' | 'failed'> {
    let registry: 'known' | 'dead' | 'unknown' | 'failed' = 'failed';
    try {
      registry = await this.registry.heartbeat(this.nodeStatus(), this.heartbeatMs * 3);
      if (registry === 'dead' && !this.draining) {
        // Another node reaped us during a pause longer than three heartbeats: our sockets are still
        // here, so publish them again.
        const n = await this.connections.resync({ announce: true });
        this.logger.warn('this node had been presumed dead: presence re-published', { sockets: n });
      }
    } catch (err) {
      this.logger.debug('heartbeat failed', { error: (err as Error).message });
    }
    this.loopDelay.reset();
    return registry;
  }

  /**
   * The cluster, or one app's share of it: each node's connections and users of that app (as its
   * last heartbeat reported them), the app's users and rooms counted cluster-wide.
   */
  async status(app?: AppConfig): Promise<StatusResponse> {
    if (app) {
      const [nodes, totals] = await Promise.all([this.registry.list(), this.presence.appTotals(app.scope.isDefault ? null : app.id)]);
      const alive = nodes.filter((n) => n.alive);
      // This node's own share is read live; the others' as of their last heartbeat.
      const own = this.connections.appCounts().get(app.id);
      const share = (n: NodeStatus) => (n.id === this.config.nodeId ? (own ? { connections: own.sockets, users: own.users } : undefined) : n.apps?.[app.id]) ?? { connections: 0, users: 0 };
      return {
        version: this.version,
        app: app.id,
        nodes: nodes.map((n) => ({ ...n, ...share(n) })).sort((a, b) => (a.id < b.id ? -1 : 1)),
        totals: { nodes: alive.length, connections: alive.reduce((sum, n) => sum + share(n).connections, 0), users: totals.users, rooms: totals.rooms },
      };
    }
    const [nodes, totals] = await Promise.all([this.registry.list(), this.presence.totals()]);
    const alive = nodes.filter((n) => n.alive);
    return {
      version: this.version,
      nodes: nodes.sort((a, b) => (a.id < b.id ? -1 : 1)),
      totals: { nodes: alive.length, connections: totals.sockets, users: totals.users, rooms: totals.rooms },
    };
  }
}
