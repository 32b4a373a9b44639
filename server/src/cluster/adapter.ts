import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { RedisConnections } from './redis';

/**
 * The Socket.IO Redis adapter on pushgate's pub/sub connections. Channels carry the deployment's
 * prefix so several clusters (or test runs) can share one Redis. The sharded variant uses
 * SSUBSCRIBE (Redis ≥ 7) and suits Redis Cluster.
 */
export function redisAdapter(conns: RedisConnections, prefix: string, sharded: boolean) {
  if (sharded) return createShardedAdapter(conns.pub, conns.sub, { channelPrefix: `${prefix}#io` });
  // requestsTimeout bounds serverSideEmitWithAck (cluster-wide join/leave/disconnect) and fetchSockets.
  return createAdapter(conns.pub, conns.sub, { key: `${prefix}#io`, requestsTimeout: 3000 });
}
