import { randomBytes } from 'node:crypto';

/** URL of the run's shared redis-server (started by globalSetup). */
export function testRedisUrl(): string {
  const url = process.env.PUSHGATE_TEST_REDIS_URL;
  if (!url) throw new Error('PUSHGATE_TEST_REDIS_URL is not set: run the tests through jest (globalSetup starts Redis)');
  return url;
}

/** Seed URLs (comma-separated) of the run's shared Redis Cluster (started by globalSetup). */
export function testClusterUrls(): string {
  const urls = process.env.PUSHGATE_TEST_REDIS_CLUSTER;
  if (!urls) throw new Error('PUSHGATE_TEST_REDIS_CLUSTER is not set: run the tests through jest (globalSetup starts the cluster)');
  return urls;
}

/**
 * The two Redis set-ups every cluster suite runs against, as node environment: one Redis, and a
 * Redis Cluster of 3 shards (REDIS_CLUSTER, seeds in REDIS_URL).
 */
export const REDIS_BACKENDS: [string, () => Record<string, string>][] = [
  ['one Redis', () => ({ REDIS_URL: testRedisUrl() })],
  ['a Redis Cluster', () => ({ REDIS_URL: testClusterUrls(), REDIS_CLUSTER: 'true' })],
];

/** A key prefix no other test uses, so tests can share one Redis and run in parallel. */
export function uniquePrefix(label = 't'): string {
  return `pgtest:${label}:${randomBytes(4).toString('hex')}`;
}
