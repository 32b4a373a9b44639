import type { RecoveringClient } from './delivery-count';
import { closeAllClients, startNode, type TestNode } from './node';

/** A Redis set-up a test file starts for itself, to break it (a Redis Cluster, a Sentinel set). */
export interface OwnRedis {
  destroy(): Promise<void>;
}

/**
 * Two in-process nodes (`<name>-a`, `<name>-b`) on a Redis set-up the enclosing describe starts and
 * ends itself; `clients` are closed before the nodes stop. Fields are filled in beforeAll.
 */
export function useNodesOn<R extends OwnRedis>(name: string, start: () => Promise<R>, env: (redis: R) => Record<string, string>): { redis: R; a: TestNode; b: TestNode; clients: RecoveringClient[] } {
  const pair = { clients: [] as RecoveringClient[] } as { redis: R; a: TestNode; b: TestNode; clients: RecoveringClient[] };
  beforeAll(async () => {
    pair.redis = await start();
    const common = env(pair.redis);
    pair.a = await startNode({ ...common, NODE_ID: `${name}-a` });
    pair.b = await startNode({ ...common, NODE_ID: `${name}-b` });
  }, 60_000);
  afterAll(async () => {
    for (const c of pair.clients) c.close();
    closeAllClients();
    await pair.a?.stop();
    await pair.b?.stop();
    await pair.redis?.destroy();
  });
  return pair;
}
