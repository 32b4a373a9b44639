import type { NodeStatus } from '../contracts/api';
import type { NodeId } from '../contracts/socket-events';
import type { NodeRegistry, RegisteredNode } from './node-registry';
import type { PresenceStore } from './presence-store';
import type { RedisClient } from './redis';
import { FIND_DEAD_NODES, HEARTBEAT, LIST_NODES } from './redis-scripts';

/** A dead node stays listed (as down) this long, so operators see what happened. @default 1 hour */
export const FORGET_DEAD_NODES_MS = 3_600_000;

/**
 * Heartbeats in Redis, timed by Redis' own clock. Any node may reap a dead one; reaping is
 * idempotent, so several nodes doing it at once only repeat no-ops.
 */
export class RedisNodeRegistry implements NodeRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly presence: PresenceStore,
  ) {}

  async heartbeat(status: NodeStatus, ttlMs: number): Promise<boolean> {
    return (await HEARTBEAT.run<number>(this.redis, [], [this.prefix, status.id, JSON.stringify(status), ttlMs])) === 1;
  }

  async list(): Promise<RegisteredNode[]> {
    const [now, ...rest] = await LIST_NODES.run<string[]>(this.redis, [], [this.prefix]);
    const nodes: RegisteredNode[] = [];
    for (let i = 0; i + 2 < rest.length; i += 3) {
      const json = rest[i + 2];
      if (!json) continue;
      nodes.push({ ...(JSON.parse(json) as NodeStatus), alive: Number(rest[i + 1]) > Number(now) });
    }
    return nodes;
  }

  async remove(nodeId: NodeId): Promise<void> {
    await Promise.all([this.redis.hDel(`${this.prefix}:nodes`, nodeId), this.redis.zRem(`${this.prefix}:nodes:exp`, nodeId)]);
  }

  async reap(): Promise<NodeId[]> {
    const dead = await FIND_DEAD_NODES.run<string[]>(this.redis, [], [this.prefix, FORGET_DEAD_NODES_MS]);
    for (const id of dead) await this.presence.removeNode(id, { onlyIfDead: true });
    return dead;
  }
}
