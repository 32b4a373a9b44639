import { randomBytes } from 'node:crypto';

/** URL of the run's shared redis-server (started by globalSetup). */
export function testRedisUrl(): string {
  const url = process.env.PUSHGATE_TEST_REDIS_URL;
  if (!url) throw new Error('PUSHGATE_TEST_REDIS_URL is not set: run the tests through jest (globalSetup starts Redis)');
  return url;
}

/** A key prefix no other test uses, so tests can share one Redis and run in parallel. */
export function uniquePrefix(label = 't'): string {
  return `pgtest:${label}:${randomBytes(4).toString('hex')}`;
}
