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

/** One failed delivery of an app's webhooks, as the node that tried it recorded it. */
export interface WebhookError {
  /** ms since the epoch. */
  at: number;
  /** Every URL that failed and why (`<url>: HTTP 503`, a timeout, a refused connection). */
  message: string;
  nodeId: string;
}

/**
 * `GET /admin/webhooks`: one app's webhooks (apps without webhooks are not listed). The queue and
 * the retry are the sending node's view; the counters are summed over the nodes since they started.
 */
export interface AppWebhooks {
  app: string;
  /** The node holding the app's lease, which sends its webhooks now; null: none does. */
  sender: string | null;
  /** Pending events the sender saw in its last pass (0 without a sender). */
  depth: number;
  sent: number;
  failedAttempts: number;
  /** Events lost to an outbox overflowing (WEBHOOK_QUEUE_MAX). */
  dropped: number;
  /** Next attempt while backing off after a failure, ms since the epoch; null when not backing off. */
  retryAt: number | null;
  /** Newest first, at most 10. */
  lastErrors: WebhookError[];
}
