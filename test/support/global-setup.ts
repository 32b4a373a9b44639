import { RedisServer } from './redis-server';

/** One redis-server for the whole run; each test isolates itself with its own key prefix. */
export default async function globalSetup(): Promise<void> {
  const redis = await RedisServer.start();
  (globalThis as { __PUSHGATE_REDIS__?: RedisServer }).__PUSHGATE_REDIS__ = redis;
  process.env.PUSHGATE_TEST_REDIS_URL = redis.url;
}
