import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Logger } from '../lib/logger';
import type { RedisConnections } from './redis';

/** The Socket.IO Redis adapter, and a way to know that what an emit published reached Redis. */
export interface ClusterBus {
  adapter: ReturnType<typeof createAdapter> | ReturnType<typeof createShardedAdapter>;
  /**
   * Runs `emit` (a broadcast) and resolves once every publish it issued was accepted by Redis;
   * rejects when one was not, so a push is answered 2xx only once it was handed to the cluster.
   */
  published(emit: () => void): Promise<void>;
}

/**
 * The Socket.IO Redis adapter on pushgate's pub/sub connections. Channels carry the deployment's
 * prefix so several clusters (or test runs) can share one Redis. The sharded variant uses
 * SSUBSCRIBE (Redis ≥ 7) and suits Redis Cluster.
 */
export function redisBus(conns: RedisConnections, prefix: string, sharded: boolean, logger: Logger): ClusterBus {
  const published = watchPublishes(conns, logger);
  // requestsTimeout bounds serverSideEmitWithAck (cluster-wide join/leave/disconnect) and fetchSockets.
  const adapter = sharded ? createShardedAdapter(conns.pub, conns.sub, { channelPrefix: `${prefix}#io` }) : createAdapter(conns.pub, conns.sub, { key: `${prefix}#io`, requestsTimeout: 3000 });
  return { adapter, published };
}

/**
 * The adapter publishes fire-and-forget and drops the promise. Wrapping the publisher's publish
 * commands gives two things: a publish that fails while Redis is away (a presence event during an
 * outage, a disconnect during shutdown) is logged here, off the caller's path, instead of becoming
 * an unhandled rejection; and `published()` can collect the publishes one emit made and wait for them.
 */
function watchPublishes(conns: RedisConnections, logger: Logger): ClusterBus['published'] {
  const pub = conns.pub as unknown as Record<'publish' | 'sPublish', (...args: unknown[]) => Promise<unknown>>;
  let collecting: Promise<unknown>[] | null = null;
  let lost = 0;
  let lastLogged = 0;
  for (const name of ['publish', 'sPublish'] as const) {
    const send = pub[name].bind(pub);
    pub[name] = (...args: unknown[]) => {
      const sent = send(...args);
      collecting?.push(sent);
      return sent.catch((err: Error) => {
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
  return (emit) => {
    const mine: Promise<unknown>[] = [];
    collecting = mine;
    try {
      emit();
    } finally {
      collecting = null;
    }
    return mine.length === 0 ? Promise.resolve() : Promise.all(mine).then(() => undefined);
  };
}
