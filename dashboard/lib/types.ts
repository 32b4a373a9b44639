import type { LogLine, MetricsSample, NodeStatus, StatusResponse } from '@contracts/api';

export type { LogLine };

/** `GET /admin/overview`: status, each node's samples, and their sum. */
export interface Overview extends StatusResponse {
  series: { nodeId: string; samples: MetricsSample[] }[];
  cluster: MetricsSample[];
}

/** The registry also says whether a node is still heart-beating. */
export type ClusterNode = NodeStatus & { alive?: boolean };

