import { RedisCluster } from './redis-cluster';
import { RedisServer } from './redis-server';

/**
 * One redis-server and one Redis Cluster (3 primaries, 3 replicas) for the whole run; each test
 * isolates itself with its own key prefix. Tests that kill Redis start their own.
 */
export default async function globalSetup(): Promise<void> {
  const [redis, cluster] = await Promise.all([RedisServer.start(), RedisCluster.start({ primaries: 3, replicas: 1 })]);
  Object.assign(globalThis, { __PUSHGATE_REDIS__: redis, __PUSHGATE_REDIS_CLUSTER__: cluster });
  process.env.PUSHGATE_TEST_REDIS_URL = redis.url;
  process.env.PUSHGATE_TEST_REDIS_CLUSTER = cluster.urls.join(',');
}
