import type { LogLine, MetricsSample, NodeStatus, StatusResponse } from '@contracts/api';
import type { LiveSocket } from '@contracts/socket-events';

export type { LogLine };

/** `GET /admin/apps`: one application the cluster hosts (APPS). Never empty: without APPS it is `{ id: 'default', default: true }`. */
export interface AppInfo {
  id: string;
  /** false: the app's connections and pushes are refused. */
  enabled: boolean;
  /** The app has Pusher credentials (its /apps/:id routes answer). */
  pusher: boolean;
  /** The app of tokens without an `app` claim and of API calls that name no app. */
  default: boolean;
}

/** One app's share of a node (`apps` of a node's status). */
export interface AppCounts {
  connections: number;
  users: number;
}

/**
 * The registry also says whether a node is still heart-beating. With APPS, `apps` splits the
 * node's sockets and users by app (apps with nothing on the node are left out); with `?app=`,
 * `connections` and `users` are that app's only.
 */
export type ClusterNode = NodeStatus & { alive?: boolean; apps?: Record<string, AppCounts> };

/**
 * `GET /admin/overview`: status, each node's samples, and their sum. With `?app=`, `app` names the
 * app and `totals` (connections, users, rooms) and each node's connections and users are that
 * app's; `series` and `cluster` are always the whole cluster's (there is no per-app history).
 */
export interface Overview extends StatusResponse {
  app?: string;
  nodes: ClusterNode[];
  series: { nodeId: string; samples: MetricsSample[] }[];
  cluster: MetricsSample[];
}

/** A socket as `/admin/connections` lists it; `app` is set when the cluster hosts APPS. */
export type AppSocket = LiveSocket & { app?: string };
