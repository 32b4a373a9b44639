import type { MetricsSample, NodeStatus, StatusResponse } from '@contracts/api';

/** `GET /admin/overview`: status, each node's samples, and their sum. */
export interface Overview extends StatusResponse {
  series: { nodeId: string; samples: MetricsSample[] }[];
  cluster: MetricsSample[];
}

/** The registry also says whether a node is still heart-beating. */
export type ClusterNode = NodeStatus & { alive?: boolean };

export interface LogLine {
  ts: string;
  level: string;
  message: string;
  nodeId: string;
  meta: Record<string, unknown>;
}
