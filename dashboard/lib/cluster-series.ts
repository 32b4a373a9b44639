import type { MetricsSample } from './types';

/**
 * The cluster series as the charts and tiles should show it. The server groups the nodes' samples
 * into 2 s slots, and each node samples at its own moment within a slot: between the first node's
 * sample and the last one's, the newest slot holds only some nodes (sockets and rates would dip,
 * then jump back). While a node that sampled in the previous slot has not yet sampled in the newest
 * one, the newest slot is left out; it shows on the next refresh, complete. A node that stopped
 * sampling (its newest sample older than the previous slot) holds nothing back.
 */
export function settledCluster(cluster: MetricsSample[], series: { samples: MetricsSample[] }[]): MetricsSample[] {
  const last = cluster[cluster.length - 1];
  const prev = cluster[cluster.length - 2];
  if (!last || !prev) return cluster;
  const waiting = series.some(({ samples }) => {
    const t = samples[samples.length - 1]?.t;
    return t !== undefined && t >= prev.t && t < last.t;
  });
  return waiting ? cluster.slice(0, -1) : cluster;
}
