import type { ClusterNode } from '../lib/types';

export type Health = { level: 'up' | 'degraded' | 'down'; label: string; reason: string };

/** Heartbeats older than this (server clock) count as missed even if the registry still lists the node. */
const STALE_MS = 30_000;

/** Health judged from the node's last heartbeat, as the registry holds it. */
export function nodeHealth(n: ClusterNode, serverNow: number): Health {
  if (n.alive === false || serverNow - n.lastSeen > STALE_MS) return { level: 'down', label: 'down', reason: 'stopped heart-beating' };
  if (!n.ready) return { level: 'degraded', label: 'not ready', reason: n.redis === 'down' ? 'Redis is unreachable' : 'draining' };
  if (n.redis === 'down') return { level: 'degraded', label: 'degraded', reason: 'Redis is unreachable' };
  return { level: 'up', label: 'up', reason: 'heart-beating' };
}

export function HealthBadge({ health }: { health: Health }) {
  return (
    <span className={`badge badge-${health.level}`} title={health.reason}>
      {health.label}
    </span>
  );
}
