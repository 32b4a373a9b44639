import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type ConnectionResult = 'accepted' | 'unauthorized' | 'expired' | 'rate_limited' | 'error';
export type BackendOutcome = 'ok' | 'error' | 'timeout' | 'unavailable' | 'circuit_open';

/**
 * Every number pushgate exports, behind domain verbs. One Registry per node instance: several
 * nodes can live in one process (tests) without "already registered" errors.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly connectedSockets: Gauge;
  private readonly connectedUsers: Gauge;
  private readonly rooms: Gauge;
  private readonly connections: Counter<'result'>;
  private readonly pushed: Counter;
  private readonly delivered: Counter;
  private readonly pushDuration: Histogram;
  private readonly clientEvents: Counter<'event'>;
  private readonly backendRequests: Counter<'outcome'>;
  private readonly backendDuration: Histogram;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly redisUp: Gauge;
  private readonly rateLimited: Counter<'kind'>;
  private readonly recoveries: Counter<'result'>;
  private readonly replayed: Counter;
  private readonly presenceEvents: Counter<'event'>;
  private readonly slowConsumers: Counter;
  private readonly caughtUp: Counter;
  private readonly floodDisconnects: Counter;
  /** Webhook families, only when some app has webhooks. */
  private readonly webhooks: { sent: Counter<'app'>; failed: Counter<'app'>; dropped: Counter<'app'>; cancelled: Counter<'app'>; depth: Gauge<'app'>; latency: Histogram<'app'> } | null = null;
  /** Per-app families, only with APPS listed (null otherwise: /metrics stays as it was). */
  private readonly perApp: { connections: Counter<'app'>; pushed: Counter<'app'>; delivered: Counter<'app'>; clientEvents: Counter<'app'> } | null = null;

  constructor(
    nodeId: string,
    sample: {
      sockets: () => number;
      users: () => number;
      rooms: () => number;
      redisUp: () => number;
      /** Deliveries to this node's sockets by path, and the coalesced writes they left in (delivery/local-delivery.ts). */
      deliveries?: () => { direct: number; engine: number; flushes: number };
      /** Stream channels this node listens to in Redis (cluster/push-bus.ts). */
      streams?: () => number;
      /** The apps that send webhooks. */
      webhookApps?: readonly string[];
      /** With APPS listed: the app ids, and this node's sockets and users per app. */
      apps?: { ids: readonly string[]; counts: () => ReadonlyMap<string, { sockets: number; users: number }> };
    },
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'pushgate_' });

    this.connectedSockets = new Gauge({ name: 'pushgate_connected_sockets', help: 'Sockets connected to this node', registers, collect() { this.set(sample.sockets()); } });
    this.connectedUsers = new Gauge({ name: 'pushgate_connected_users', help: 'Distinct users with a socket on this node', registers, collect() { this.set(sample.users()); } });
    this.rooms = new Gauge({ name: 'pushgate_rooms', help: 'Rooms with at least one socket on this node', registers, collect() { this.set(sample.rooms()); } });
    new Gauge({ name: 'pushgate_stream_subscriptions', help: 'Streams (rooms, personal streams) whose Redis channel this node listens to: one per stream it has sockets in; 0 on a single node without Redis', registers, collect() { this.set(sample.streams?.() ?? 0); } });
    this.redisUp = new Gauge({ name: 'pushgate_redis_up', help: '1 when Redis is configured and reachable, 0 when unreachable, -1 when not configured', registers, collect() { this.set(sample.redisUp()); } });
    this.connections = new Counter({ name: 'pushgate_connections_total', help: 'Socket.IO handshakes by result', labelNames: ['result'], registers });
    this.pushed = new Counter({ name: 'pushgate_messages_pushed_total', help: 'Messages accepted by the push API on this node (duplicates excluded)', registers });
    this.delivered = new Counter({ name: 'pushgate_messages_delivered_total', help: 'Sockets, cluster-wide, that messages accepted on this node were handed to', registers });
    this.pushDuration = new Histogram({ name: 'pushgate_push_duration_seconds', help: 'Time to validate, admit and hand a push to the cluster', registers, buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
    this.clientEvents = new Counter({ name: 'pushgate_client_events_total', help: 'Events received from clients, by kind (room, auth, forward)', labelNames: ['event'], registers });
    this.backendRequests = new Counter({ name: 'pushgate_backend_requests_total', help: 'Requests to the backend by outcome', labelNames: ['outcome'], registers });
    this.backendDuration = new Histogram({ name: 'pushgate_backend_duration_seconds', help: 'Backend request duration', registers, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
    this.httpRequests = new Counter({ name: 'pushgate_http_requests_total', help: 'HTTP requests by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers });
    this.rateLimited = new Counter({ name: 'pushgate_rate_limited_total', help: 'Requests refused by a rate limit, by kind (http, connection, event, handshake: RATE_LIMIT_NODE_HANDSHAKES)', labelNames: ['kind'], registers });
    this.recoveries = new Counter({ name: 'pushgate_stream_recoveries_total', help: 'Streams a client asked to recover, by result (recovered, gap, refused, interrupted)', labelNames: ['result'], registers });
    this.replayed = new Counter({ name: 'pushgate_messages_replayed_total', help: 'Messages re-sent from history to recovering clients', registers });
    this.presenceEvents = new Counter({ name: 'pushgate_presence_events_total', help: 'presence:join / presence:leave events sent from this node', labelNames: ['event'], registers });
    this.slowConsumers = new Counter({ name: 'pushgate_slow_consumer_disconnects_total', help: 'Sockets disconnected because their unsent data exceeded MAX_SOCKET_BUFFER_BYTES', registers });
    this.floodDisconnects = new Counter({ name: 'pushgate_flood_disconnects_total', help: 'Sockets disconnected for sending more than 10 times RATE_LIMIT_EVENTS within one second', registers });
    // Counted by the delivery loop in plain numbers (a prom-client call per socket and push would
    // cost a noticeable share of a delivery) and read out when scraped.
    const deliveries = sample.deliveries;
    new Counter({
      name: 'pushgate_socket_deliveries_total',
      help: "Pushes handed to this node's sockets, by path: direct (one pre-built frame written to every WebSocket recipient) or engine (Socket.IO's per-socket path: long-polling, upgrading, recovering, compressing, receipts)",
      labelNames: ['path'],
      registers,
      collect() {
        const c = deliveries?.() ?? { direct: 0, engine: 0 };
        this.reset();
        this.labels('direct').inc(c.direct);
        this.labels('engine').inc(c.engine);
      },
    });
    new Counter({
      name: 'pushgate_socket_writes_total',
      help: "Writes that carried the direct deliveries to this node's sockets: a lone push written at once, or all of a socket's pushes of one event-loop turn in one writev",
      registers,
      collect() {
        this.reset();
        this.inc(deliveries?.().flushes ?? 0);
      },
    });
    this.caughtUp = new Counter({ name: 'pushgate_messages_caught_up_total', help: 'Pushes this node missed on the cluster bus and delivered from history instead', registers });
    if (sample.apps) {
      const { ids, counts } = sample.apps;
      const perApp = (name: string, help: string) => new Counter({ name, help, labelNames: ['app'], registers });
      const gauge = (name: string, help: string, pick: (c: { sockets: number; users: number }) => number) =>
        new Gauge({
          name,
          help,
          labelNames: ['app'],
          registers,
          collect() {
            const now = counts();
            for (const id of ids) this.labels(id).set(pick(now.get(id) ?? { sockets: 0, users: 0 }));
          },
        });
      gauge('pushgate_app_connected_sockets', "Sockets of each app connected to this node", (c) => c.sockets);
      gauge('pushgate_app_connected_users', "Distinct users of each app with a socket on this node", (c) => c.users);
      this.perApp = {
        connections: perApp('pushgate_app_connections_total', 'Socket.IO handshakes accepted, by app'),
        pushed: perApp('pushgate_app_messages_pushed_total', 'Messages accepted on this node, by app (duplicates excluded)'),
        delivered: perApp('pushgate_app_messages_delivered_total', 'Sockets, cluster-wide, that messages accepted on this node were handed to, by app'),
        clientEvents: perApp('pushgate_app_client_events_total', 'Events received from clients, by app'),
      };
      for (const id of ids) for (const c of Object.values(this.perApp)) c.labels(id).inc(0);
    }
    if (sample.webhookApps && sample.webhookApps.length > 0) {
      const labelNames = ['app'] as const;
      this.webhooks = {
        sent: new Counter({ name: 'pushgate_webhook_events_sent_total', help: 'Webhook events delivered (every URL answered 2xx), by app', labelNames, registers }),
        failed: new Counter({ name: 'pushgate_webhook_attempts_failed_total', help: 'Webhook requests that failed (an error, a timeout or a non-2xx answer); their events are retried', labelNames, registers }),
        dropped: new Counter({ name: 'pushgate_webhook_events_dropped_total', help: 'Pending webhook events dropped because a room or user had WEBHOOK_QUEUE_MAX of them', labelNames, registers }),
        cancelled: new Counter({ name: 'pushgate_webhook_events_cancelled_total', help: 'Leaving events and the coming events that undid them within WEBHOOK_LEAVE_GRACE_MS, not sent', labelNames, registers }),
        depth: new Gauge({ name: 'pushgate_webhook_queue_depth', help: 'Pending webhook events the sending node saw in its last pass (0 on the other nodes)', labelNames, registers }),
        latency: new Histogram({ name: 'pushgate_webhook_delivery_seconds', help: 'From a transition to its webhook being delivered', labelNames, registers, buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] }),
      };
      for (const app of sample.webhookApps) for (const c of [this.webhooks.sent, this.webhooks.failed, this.webhooks.dropped, this.webhooks.cancelled]) c.labels(app).inc(0);
    }
    for (const r of ['recovered', 'gap', 'refused', 'interrupted'] as const) this.recoveries.labels(r).inc(0);
    for (const r of ['accepted', 'unauthorized', 'expired', 'rate_limited', 'error'] as const) this.connections.labels(r).inc(0);
    for (const o of ['ok', 'error', 'timeout', 'unavailable', 'circuit_open'] as const) this.backendRequests.labels(o).inc(0);
  }

  markConnection(result: ConnectionResult, app?: string): void {
    this.connections.labels(result).inc();
    if (app !== undefined && result === 'accepted') this.perApp?.connections.labels(app).inc();
  }

  markPush(recipients: number, seconds: number, app?: string): void {
    this.pushed.inc();
    this.delivered.inc(recipients);
    this.pushDuration.observe(seconds);
    if (app !== undefined && this.perApp) {
      this.perApp.pushed.labels(app).inc();
      this.perApp.delivered.labels(app).inc(recipients);
    }
  }

  markWebhooksSent(app: string, latenciesSeconds: number[]): void {
    if (!this.webhooks) return;
    this.webhooks.sent.labels(app).inc(latenciesSeconds.length);
    for (const s of latenciesSeconds) this.webhooks.latency.labels(app).observe(s);
  }

  markWebhookFailure(app: string): void {
    this.webhooks?.failed.labels(app).inc();
  }

  markWebhookDropped(app: string, n: number): void {
    this.webhooks?.dropped.labels(app).inc(n);
  }

  markWebhookCancelled(app: string, n: number): void {
    this.webhooks?.cancelled.labels(app).inc(n);
  }

  setWebhookDepth(app: string, depth: number): void {
    this.webhooks?.depth.labels(app).set(depth);
  }

  markRecovery(result: 'recovered' | 'gap' | 'refused' | 'interrupted', replayed: number): void {
    this.recoveries.labels(result).inc();
    if (replayed > 0) this.replayed.inc(replayed);
  }

  markFloodDisconnect(): void {
    this.floodDisconnects.inc();
  }

  markCaughtUp(messages: number): void {
    this.caughtUp.inc(messages);
  }

  markSlowConsumer(): void {
    this.slowConsumers.inc();
  }

  markPresenceEvent(event: 'join' | 'leave'): void {
    this.presenceEvents.labels(event).inc();
  }

  markClientEvent(kind: 'room' | 'auth' | 'forward', app?: string): void {
    this.clientEvents.labels(kind).inc();
    if (app !== undefined) this.perApp?.clientEvents.labels(app).inc();
  }

  markBackend(outcome: BackendOutcome, seconds?: number): void {
    this.backendRequests.labels(outcome).inc();
    if (seconds !== undefined) this.backendDuration.observe(seconds);
  }

  markHttp(method: string, route: string, status: number): void {
    this.httpRequests.labels(method, route, String(status)).inc();
  }

  markRateLimited(kind: 'http' | 'connection' | 'event' | 'handshake'): void {
    this.rateLimited.labels(kind).inc();
  }

  /** Current values of the numbers the dashboard charts, read from the exported metric objects. */
  async read() {
    const value = async (name: string, filter?: (labels: Record<string, string | number>) => boolean) => {
      const metric = this.registry.getSingleMetric(name);
      if (!metric) return 0;
      const data = await metric.get();
      return data.values.filter((v) => !filter || filter(v.labels as Record<string, string | number>)).reduce((sum, v) => sum + v.value, 0);
    };
    const hist = await this.pushDuration.get();
    const pushBuckets = hist.values
      .filter((v) => (v as { metricName?: string }).metricName === 'pushgate_push_duration_seconds_bucket')
      .map((v) => ({ le: v.labels.le === '+Inf' ? Infinity : Number(v.labels.le), count: v.value }));
    return {
      t: Date.now(),
      sockets: await value('pushgate_connected_sockets'),
      users: await value('pushgate_connected_users'),
      rooms: await value('pushgate_rooms'),
      pushed: await value('pushgate_messages_pushed_total'),
      delivered: await value('pushgate_messages_delivered_total'),
      clientEvents: await value('pushgate_client_events_total'),
      backendErrors: await value('pushgate_backend_requests_total', (l) => l.outcome !== 'ok'),
      pushBuckets,
      caughtUp: await value('pushgate_messages_caught_up_total'),
      floodDisconnects: await value('pushgate_flood_disconnects_total'),
      slowConsumerDisconnects: await value('pushgate_slow_consumer_disconnects_total'),
      interruptedRecoveries: await value('pushgate_stream_recoveries_total', (l) => l.result === 'interrupted'),
      // Refused before the token was looked at: the node's handshake budget, and the per-address and per-app rates.
      handshakeRefusals: (await value('pushgate_rate_limited_total', (l) => l.kind === 'handshake')) + (await value('pushgate_connections_total', (l) => l.result === 'rate_limited')),
      rssBytes: await value('pushgate_process_resident_memory_bytes'),
      heapUsedBytes: await value('pushgate_nodejs_heap_size_used_bytes'),
      eventLoopLagMs: (await value('pushgate_nodejs_eventloop_lag_p99_seconds')) * 1000,
    };
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
