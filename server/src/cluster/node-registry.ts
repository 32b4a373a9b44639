import type { NodeStatus } from '../contracts/api';
import type { NodeId } from '../contracts/socket-events';

export interface RegisteredNode extends NodeStatus {
  /** false once the node stopped heart-beating (it stays listed for a while, shown as down). */
  alive: boolean;
}

/**
 * Which nodes exist and how they are doing. Each node heart-beats its own status; any node can list
 * them, and `reap` cleans up after nodes whose heartbeat expired (their presence entries go).
 */
export interface NodeRegistry {
  /**
   * Publishes this node's status for `ttlMs`. @returns 'dead' when the node had been presumed dead
   * (a long pause): its presence may have been reaped, so it should publish its sockets again;
   * 'unknown' when the registry had no entry for it (its first beat, or Redis lost its data);
   * 'known' otherwise.
   */
  heartbeat(status: NodeStatus, ttlMs: number): Promise<'known' | 'dead' | 'unknown'>;
  list(): Promise<RegisteredNode[]>;
  /** Graceful exit: forget the node at once. */
  remove(nodeId: NodeId): Promise<void>;
  /** Finds nodes whose heartbeat expired, removes their presence, returns their ids. Idempotent. */
  reap(): Promise<NodeId[]>;
}
