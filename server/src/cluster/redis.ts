import { createHash } from 'node:crypto';
import { createClient, createCluster, createSentinel } from 'redis';
import type { Logger } from '../lib/logger';

/** Options every connection gets, standalone or to a cluster node; see createRedisConnections for why. */
const connectionOptions = {
  disableOfflineQueue: true,
  socket: {
    connectTimeout: 2000,
    reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 5), 1000),
  },
};

function newClient(url: string) {
  return createClient({ ...connectionOptions, url, commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS } });
}

/**
 * A Redis Cluster client from seed URLs. It finds the shards itself and re-reads the topology when
 * a node stays unreachable for a second (a primary died and its replica is taking over), moving
 * sharded subscriptions to the new owner of their slots.
 */
function newCluster(seeds: string[]) {
  return createCluster({
    rootNodes: seeds.map((url) => ({ url })),
    defaults: connectionOptions,
    commandOptions: { timeout: REDIS_COMMAND_TIMEOUT_MS },
    topologyRefreshOnReconnectionAttemptStrategy: 1000,
  });
}

/**
 * A client of the primary that Redis Sentinel names `name`. It asks the sentinels where the primary
 * is, and moves (commands and subscriptions) to the replica they promote when it fails.
 */
function newSentinel(seeds: string[], name: string) {
  return createSentinel({
    name,
    sentinelRootNodes: seeds.map((url) => {
      const u = new URL(url);
      return { host: u.hostname, port: Number(u.port || 26379) };
    }),
    nodeClientOptions: connectionOptions,
    sentinelClientOptions: connectionOptions,
    // How often the sentinels are asked whether the primary moved (besides their own notifications).
    scanInterval: 1000,
  });
}

type Standalone = ReturnType<typeof newClient>;
type Cluster = ReturnType<typeof newCluster>;
type Sentinel = ReturnType<typeof newSentinel>;
/** A connection to one Redis, a client of a whole Redis Cluster, or of the primary a Sentinel names. */
export type RedisClient = Standalone | Cluster | Sentinel;

/**
 * How the Redis behind REDIS_URL is laid out: one server, a Redis Cluster (REDIS_CLUSTER), or a
 * primary with replicas watched by Redis Sentinel (REDIS_SENTINEL).
 */
export type RedisTopology = { kind: 'single' } | { kind: 'cluster' } | { kind: 'sentinel'; name: string };

/**
 * How a stream's metadata names the primary that wrote it, so a stream written by another primary
 * (a replica promoted after a failover) starts a new epoch (redis-scripts.ts): its cluster node id
 * on a Redis Cluster, its replication id under Sentinel; nothing on a single Redis, which has no
 * replica to take over.
 */
export type WriterCheck = '' | 'c' | 'r';

export const writerCheck = (t: RedisTopology): WriterCheck => (t.kind === 'cluster' ? 'c' : t.kind === 'sentinel' ? 'r' : '');

const isCluster = (c: RedisClient): c is Cluster => 'masters' in c;
const isSentinel = (c: RedisClient): c is Sentinel => 'getSentinelNode' in c;

/**
 * One command, routed in a cluster to the shard that owns `key` (every command pushgate sends
 * names its keys, and multi-key ones keep them in one hash slot), answered or failed within
 * REDIS_COMMAND_TIMEOUT_MS. node-redis' own timeout covers only the wait before a command is
 * written; a Redis (or one shard) that stalls after reading it would hold the caller as long as it
 * stalls. Past the deadline the caller gets an error while Redis may still run the command later:
 * the callers treat that as a lost reply (a push retried with its id, an idempotent write redone).
 */
export function send<T>(client: RedisClient, key: string, args: (string | number)[]): Promise<T> {
  const argv = args.map(String);
  const reply = isCluster(client) ? client.sendCommand<T>(key, false, argv) : isSentinel(client) ? client.sendCommand<T>(false, argv) : client.sendCommand<T>(argv);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer ${argv[0]} within ${REDIS_COMMAND_TIMEOUT_MS} ms`)), REDIS_COMMAND_TIMEOUT_MS);
    // A deadline keeps nothing alive: a command left pending on a closed connection must not hold
    // a stopping process (or a test worker) for its 2 s.
    timer.unref();
  });
  return Promise.race([reply, late]).finally(() => clearTimeout(timer));
}

export interface RedisConnections {
  /** Commands: presence, idempotency, history, rate limits, node registry. */
  data: RedisClient;
  /** Publisher and subscriber (a subscribing connection cannot run other commands). */
  pub: RedisClient;
  sub: RedisClient;
  topology: RedisTopology;
  /** true while every connection is ready. */
  isUp(): boolean;
  /** Connects all three; resolves when up or after `waitMs` (the node then starts not-ready and keeps retrying). */
  connect(waitMs: number): Promise<boolean>;
  close(): Promise<void>;
  /**
   * `lost` when one of the subscriber's connections drops (what is published meanwhile is missed),
   * `back` each time one is ready again (node-redis re-subscribes before it says so).
   */
  watchSubscriber(lost: () => void, back: () => void): void;
}

/** Per-command bound: a stalled Redis must not hang an HTTP request or a handshake. @default 2000 */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

/**
 * node-redis retries forever and, by default, queues commands while disconnected, so a request
 * made during an outage would wait for Redis to come back. Here commands fail at once while the
 * connection is down (disableOfflineQueue), each has a timeout, and reconnection backs off to at
 * most 1 s so the node is ready again soon after Redis returns.
 *
 * For a cluster `url` is a comma-separated list of seed nodes (each of the three clients then holds
 * a connection per shard); for Sentinel, the sentinels' addresses.
 */
export function createRedisConnections(url: string, topology: RedisTopology, logger: Logger, onChange?: (up: boolean) => void): RedisConnections {
  const seeds = url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let closed = false;
  const make = (role: string): RedisClient => {
    const client = topology.kind === 'cluster' ? newCluster(seeds) : topology.kind === 'sentinel' ? newSentinel(seeds, topology.name) : newClient(seeds[0]!);
    let lastLogged = 0;
    const onError = (err: Error) => {
      // node-redis emits an error per failed reconnect attempt: log at most one line every 10 s.
      const now = Date.now();
      if (now - lastLogged > 10_000) {
        lastLogged = now;
        logger.warn('redis connection error', { role, error: err.message });
      }
    };
    const events = client as unknown as NodeJS.EventEmitter;
    events.on('error', onError);
    if (topology.kind === 'cluster') {
      events.on('node-error', onError);
      events.on('connect', () => {
        logger.info('redis cluster ready', { role });
        onChange?.(conns.isUp());
      });
      events.on('disconnect', () => onChange?.(false));
    } else {
      events.on('ready', () => {
        logger.info('redis ready', { role });
        onChange?.(conns.isUp());
      });
      events.on('end', () => onChange?.(false));
      events.on('reconnecting', () => onChange?.(false));
    }
    return client;
  };

  const data = make('data');
  const pub = make('pub');
  const sub = make('sub');
  const all = [data, pub, sub];

  /** A cluster client gives up when no seed answers: try again every second until closed. */
  const open = (c: RedisClient): void => {
    // connect() settles only once connected: never await it unbounded.
    (c.connect() as Promise<unknown>).catch((err: Error) => {
      logger.warn('redis connect failed', { error: err.message });
      if (topology.kind !== 'single' && !closed && !c.isOpen) setTimeout(() => !closed && open(c), 1000).unref();
    });
  };

  const conns: RedisConnections = {
    data,
    pub,
    sub,
    topology,
    isUp: () => all.every((c) => c.isReady),
    async connect(waitMs) {
      for (const c of all) open(c);
      const deadline = Date.now() + waitMs;
      while (!conns.isUp() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return conns.isUp();
    },
    async close() {
      closed = true;
      // close() lets commands already sent finish (the adapter's last UNSUBSCRIBE among them:
      // destroy() would reject it where nobody catches it); a Redis that does not answer gets 1 s.
      await Promise.all(
        all.map(async (c) => {
          if (!c.isOpen) return;
          const timer = new Promise<void>((r) => setTimeout(r, 1000).unref());
          await Promise.race([(c.close() as Promise<unknown>).catch(() => undefined), timer]);
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
    watchSubscriber(lost, back) {
      const events = sub as unknown as NodeJS.EventEmitter;
      const cluster = topology.kind === 'cluster';
      for (const e of cluster ? ['node-reconnecting', 'node-disconnect'] : ['reconnecting', 'end']) events.on(e, lost);
      events.on(cluster ? 'node-ready' : 'ready', back);
      if (topology.kind === 'sentinel') {
        // A promoted replica may lack the last pushes its primary published: check every stream.
        events.on('topology-change', (e: { type?: string }) => {
          if (e.type !== 'MASTER_CHANGE') return;
          lost();
          back();
        });
      }
    },
  };
  return conns;
}

/**
 * A Lua script run with EVALSHA, falling back to EVAL when Redis does not know it yet (first use,
 * or after a restart emptied the script cache). Multi-key updates go through scripts so each is
 * atomic and costs one round trip. Every script names its keys, all in one hash slot, and runs on
 * the shard that owns them.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run<T>(client: RedisClient, keys: [string, ...string[]], args: (string | number)[]): Promise<T> {
    const tail = [keys.length, ...keys, ...args];
    try {
      return await send<T>(client, keys[0], ['EVALSHA', this.sha, ...tail]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return send<T>(client, keys[0], ['EVAL', this.source, ...tail]);
    }
  }
}
