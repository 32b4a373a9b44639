import type { NodeStatus } from '../contracts/api';
import type { NodeId } from '../contracts/socket-events';
import type { NodeRegistry, RegisteredNode } from './node-registry';
import type { PresenceStore } from './presence-store';
import { send, type RedisClient } from './redis';
import type { RedisKeys } from './redis-keys';
import { EXPIRED_NODES, FORGET_NODE, HEARTBEAT, LIST_NODES } from './redis-scripts';

/** A dead node stays listed (as down) this long, so operators see what happened. @default 1 hour */
export const FORGET_DEAD_NODES_MS = 3_600_000;

/**
 * Heartbeats in Redis, timed by Redis' own clock. Any node may reap a dead one; reaping is
 * idempotent, so several nodes doing it at once only repeat no-ops.
 */
export class RedisNodeRegistry implements NodeRegistry {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly presence: PresenceStore,
  ) {}

  async heartbeat(status: NodeStatus, ttlMs: number): Promise<'known' | 'dead' | 'unknown'> {
    const r = await HEARTBEAT.run<number>(this.redis, [this.keys.nodes, this.keys.nodeExpiries], [status.id, JSON.stringify(status), ttlMs]);
    return r === 1 ? 'dead' : r === 2 ? 'unknown' : 'known';
  }

  async list(): Promise<RegisteredNode[]> {
    const [now, ...rest] = await LIST_NODES.run<string[]>(this.redis, [this.keys.nodes, this.keys.nodeExpiries], []);
    const nodes: RegisteredNode[] = [];
    for (let i = 0; i + 2 < rest.length; i += 3) {
      const json = rest[i + 2];
      if (!json) continue;
      nodes.push({ ...(JSON.parse(json) as NodeStatus), alive: Number(rest[i + 1]) > Number(now) });
    }
    return nodes;
  }

  async remove(nodeId: NodeId): Promise<void> {
    const k = this.keys;
    await Promise.all([send(this.redis, k.nodes, ['HDEL', k.nodes, nodeId]), send(this.redis, k.nodeExpiries, ['ZREM', k.nodeExpiries, nodeId])]);
  }

  async reap(): Promise<NodeId[]> {
    const k = this.keys;
    const expired = await EXPIRED_NODES.run<(string | number)[]>(this.redis, [k.nodeExpiries], [FORGET_DEAD_NODES_MS]);
    const dead: NodeId[] = [];
    for (let i = 0; i + 1 < expired.length; i += 2) {
      const id = String(expired[i]);
      // Expired nodes that still own sockets are reaped; those long gone and owning nothing leave the listing.
      if ((await send<number>(this.redis, k.node(id), ['SCARD', k.node(id)])) > 0) dead.push(id);
      else if (Number(expired[i + 1]) === 1) {
        await FORGET_NODE.run(this.redis, [k.nodes, k.nodeExpiries], [id, FORGET_DEAD_NODES_MS]);
        await send(this.redis, k.owners, ['SREM', k.owners, id]);
      }
    }
    for (const id of dead) await this.presence.removeNode(id, { onlyIfDead: true });
    return dead;
  }
}
