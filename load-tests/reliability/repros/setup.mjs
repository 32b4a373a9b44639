/*
 * What every repro starts with: run secrets, a private redis-server, and pushgate nodes on it (the
 * runner's compiled build; `npm run reliability` makes it) with rate limits off.
 */
import { runSecrets } from '../lib/common.mjs';
import { buildServer, PushgateProc, RedisProc } from '../lib/processes.mjs';

/** @returns { s, redis, nodes } with one started node per name, in order. */
export async function reproNodes(names, extraEnv = {}) {
  const s = runSecrets();
  const launch = { entry: buildServer({ build: false }) };
  const redis = await RedisProc.start();
  const env = { NODE_ENV: 'production', JWT_SECRET: s.jwtSecret, API_KEYS: `admin:${s.adminKey}:admin`, REDIS_URL: redis.url, RATE_LIMIT_CONNECTIONS: '0', RATE_LIMIT_HTTP: '0', RATE_LIMIT_EVENTS: '0', ...extraEnv };
  const nodes = [];
  for (const name of names) nodes.push(await PushgateProc.start({ name, env, launch }));
  return { s, redis, nodes };
}
