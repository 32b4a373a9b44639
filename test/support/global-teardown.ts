import type { RedisCluster } from './redis-cluster';
import type { RedisServer } from './redis-server';

export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __PUSHGATE_REDIS__?: RedisServer; __PUSHGATE_REDIS_CLUSTER__?: RedisCluster };
  await Promise.all([g.__PUSHGATE_REDIS__?.destroy(), g.__PUSHGATE_REDIS_CLUSTER__?.destroy()]);
}
