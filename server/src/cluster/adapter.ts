import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Logger } from '../lib/logger';
import type { RedisClient, RedisConnections } from './redis';

/**
 * The Socket.IO Redis adapter on pushgate's pub/sub connections, for everything but pushes (which
 * the admission script publishes itself, see cluster/push-wire.ts): presence events, cluster
 * commands, remote joins and disconnects. Channels carry the deployment's prefix so several
 * clusters (or test runs) can share one Redis. The sharded variant uses SSUBSCRIBE (Redis ≥ 7) and
 * suits Redis Cluster; its per-room channels ("dynamic" mode) would only carry broadcasts, which
 * pushgate sends on its own stream channels (push-bus.ts), so it runs with its static channels only.
 */
export function redisBus(conns: RedisConnections, prefix: string, sharded: boolean, logger: Logger) {
  logFailedPublishes(conns, logger);
  // requestsTimeout bounds serverSideEmitWithAck (cluster-wide join/leave/disconnect) and fetchSockets.
  const pub = countWithSendCommand(conns);
  const sub = subscribeOnceConnected(conns);
  return sharded ? createShardedAdapter(pub, sub, { channelPrefix: `${prefix}#io`, subscriptionMode: 'static' }) : createAdapter(pub, sub, { key: `${prefix}#io`, requestsTimeout: 3000 });
}

type Method = (...args: unknown[]) => unknown;

/**
 * The client with some of its methods replaced (`replace` answers undefined for the others).
 * Everything is read from the client itself and bound to it, not to the view: its methods use
 * private fields.
 */
function viewOf(client: RedisClient, replace: (name: string, fn: Method) => Method | undefined): RedisClient {
  return new Proxy(client, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      const fn = (value as Method).bind(target);
      return (typeof prop === 'string' && replace(prop, fn)) || fn;
    },
  });
}

/**
 * The adapter counts the nodes listening on its channels with `sendCommand(['PUBSUB', …])`, the
 * call shape of a single Redis' client; node-redis' Sentinel client takes `(isReadonly, args)`.
 */
function countWithSendCommand(conns: RedisConnections): RedisClient {
  if (conns.topology.kind !== 'sentinel') return conns.pub;
  return viewOf(conns.pub, (name, fn) => (name === 'sendCommand' ? (args: unknown) => fn(false, args) : undefined));
}

/** What the adapters subscribe with. */
const SUBSCRIBING = new Set(['subscribe', 'unsubscribe', 'pSubscribe', 'pUnsubscribe', 'sSubscribe', 'sUnsubscribe']);

/**
 * The adapters subscribe in their constructor, before the node has connected. A single Redis'
 * client keeps the subscription and sends it once connected; node-redis' cluster and Sentinel
 * clients throw instead, having no server to send it to yet. For those, the adapter gets the
 * subscriber behind a view whose subscription calls wait until the client is first ready.
 */
function subscribeOnceConnected(conns: RedisConnections): RedisClient {
  const sub = conns.sub;
  if (conns.topology.kind === 'single') return sub;
  const waiting: (() => void)[] = [];
  (sub as unknown as NodeJS.EventEmitter).on(conns.topology.kind === 'cluster' ? 'connect' : 'ready', () => {
    for (const run of waiting.splice(0)) run();
  });
  const whenReady = (call: () => unknown) => (sub.isReady ? Promise.resolve().then(call) : new Promise((resolve, reject) => waiting.push(() => Promise.resolve().then(call).then(resolve, reject))));
  return viewOf(sub, (name, fn) => {
    if (!SUBSCRIBING.has(name)) return undefined;
    return (...args: unknown[]) => {
      const done = whenReady(() => fn(...args));
      // The adapter drops these promises; one failing as the client closes must not go unhandled.
      done.catch(() => undefined);
      return done;
    };
  });
}

/**
 * The adapter publishes fire-and-forget and drops the promise: a publish that fails while Redis is
 * away (a presence event during an outage, a disconnect during shutdown) is logged here, off the
 * caller's path, instead of becoming an unhandled rejection.
 */
function logFailedPublishes(conns: RedisConnections, logger: Logger): void {
  const pub = conns.pub as unknown as Record<'publish' | 'sPublish', (...args: unknown[]) => Promise<unknown>>;
  let lost = 0;
  let lastLogged = 0;
  for (const name of ['publish', 'sPublish'] as const) {
    const send = pub[name].bind(pub);
    pub[name] = (...args: unknown[]) => {
      return send(...args).catch((err: Error) => {
        lost += 1;
        // One line per 10 s at most: an outage fails every publish.
        if (Date.now() - lastLogged > 10_000) {
          lastLogged = Date.now();
          logger.warn('redis: cluster broadcasts were not published', { error: err.message, since: lost });
          lost = 0;
        }
        return 0;
      });
    };
  }
}
