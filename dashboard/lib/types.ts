import type { LogLine, MetricsSample, NodeStatus, StatusResponse } from '@contracts/api';
import type { LiveSocket } from '@contracts/socket-events';

export type { LogLine, MetricsSample };

/**
 * The protections and repairs a sample counts (`MetricsSample`, from the server's contract): each
 * is a count in the sample's 2 s interval, not a rate, so a window's total is the sum of its samples.
 * In the `cluster` series each is summed over the nodes.
 * - `caughtUp`: pushes a node missed on the cluster bus and delivered from history instead.
 * - `floodDisconnects`: sockets cut for flooding client events (far over RATE_LIMIT_EVENTS).
 * - `slowConsumerDisconnects`: sockets cut because their unsent data exceeded MAX_SOCKET_BUFFER_BYTES.
 * - `interruptedRecoveries`: replays of missed messages cut off (the socket went or stopped reading).
 * - `handshakeRefusals`: handshakes refused by a rate limit (per address, per app, the node's
 *   handshake budget), and those a draining node turns away.
 */
export type ProtectionCounter = keyof Pick<MetricsSample, 'caughtUp' | 'floodDisconnects' | 'slowConsumerDisconnects' | 'interruptedRecoveries' | 'handshakeRefusals'>;

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
 * `GET /admin/overview`: status, each node's samples, and the cluster's. With `?app=`, `app` names the
 * app and `totals` (connections, users, rooms) and each node's connections and users are that
 * app's; `series` and `cluster` are always the whole cluster's (there is no per-app history).
 */
export interface Overview extends StatusResponse {
  app?: string;
  nodes: ClusterNode[];
  /** Each node's own samples: `users` and `rooms` are that node's (a user on two nodes is in both). */
  series: { nodeId: string; samples: MetricsSample[] }[];
  /**
   * One sample per 2 s slot. Sockets, rates and the protection counters are summed over the nodes;
   * `users` and `rooms` are the cluster-wide distinct counts from presence (`clusterUsers`,
   * `clusterRooms`: a user on two nodes is one), the per-node sums only where presence was not read.
   * Never add up `series`' users for a cluster figure.
   */
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
