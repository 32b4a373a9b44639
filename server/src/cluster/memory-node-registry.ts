import type { NodeStatus } from '../contracts/api';
import type { NodeId } from '../contracts/socket-events';
import type { Clock } from '../lib/clock';
import type { NodeRegistry, RegisteredNode } from './node-registry';

/** A single node knows only itself. */
export class MemoryNodeRegistry implements NodeRegistry {
  private readonly nodes = new Map<NodeId, { status: NodeStatus; expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  async heartbeat(status: NodeStatus, ttlMs: number): Promise<'known' | 'dead' | 'unknown'> {
    const known = this.nodes.has(status.id);
    this.nodes.set(status.id, { status, expiresAt: this.clock.now() + ttlMs });
    return known ? 'known' : 'unknown';
  }

  async list(): Promise<RegisteredNode[]> {
    const now = this.clock.now();
    return [...this.nodes.values()].map((n) => ({ ...n.status, alive: n.expiresAt > now }));
  }

  async remove(nodeId: NodeId): Promise<void> {
    this.nodes.delete(nodeId);
  }

  async reap(): Promise<NodeId[]> {
    return [];
  }
}
