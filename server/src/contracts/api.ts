import { z } from 'zod';
import type { ErrorBody } from './error-codes';

/** 1–200 characters, no whitespace or control characters (the contract's rule for room names). */
const NAME = /^[^\s\p{Cc}]{1,200}$/u;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A lone surrogate is not Unicode: Redis stores names as UTF-8, where every lone surrogate becomes
 * U+FFFD, so `a\uD800` and `a\uD801` would be one user, one room and one history stream.
 */
export const hasLoneSurrogate = (s: string): boolean => LONE_SURROGATE.test(s);

const name = () =>
  z
    .string()
    .regex(NAME, 'must be 1-200 characters without whitespace or control characters')
    .refine((s) => !hasLoneSurrogate(s), 'must be well-formed Unicode (no lone surrogates)');

export const roomName = name();
export const userId = name();

/**
 * Request bodies and socket payloads may nest arrays and objects this deep at most; deeper ones
 * are refused with BAD_REQUEST before anything is admitted (encoders further on recurse).
 */
export const MAX_NESTING = 64;
export const socketId = z.string().min(1).max(100);
export const messageId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 characters of [A-Za-z0-9._:-]');
export const eventName = z
  .string()
  .min(1)
  .max(100)
  .refine((e) => !hasLoneSurrogate(e), 'must be well-formed Unicode (no lone surrogates)')
  .refine((e) => !RESERVED_PUSH_EVENTS.has(e), 'is reserved by Socket.IO or pushgate');

/** Names Socket.IO itself uses, or pushgate sends on its own; a push may not impersonate them. */
const RESERVED_PUSH_EVENTS = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
  'welcome',
  'server:draining',
  'recovered',
  'presence:join',
  'presence:leave',
]);

/** How long a push with `ack: true` waits for receipts at most. */
export const MAX_ACK_TIMEOUT_MS = 30_000;
const receipts = {
  ack: z.boolean().optional(),
  ackTimeoutMs: z.number().int().min(1).max(MAX_ACK_TIMEOUT_MS).optional(),
};

const targetList = <T extends z.ZodType>(item: T) => z.array(item).max(1000);

export const pushBody = z
  .strictObject({
    users: targetList(userId).optional(),
    rooms: targetList(roomName).optional(),
    socketIds: targetList(socketId).optional(),
    except: targetList(socketId).optional(),
    event: eventName,
    data: z.unknown(),
    id: messageId.optional(),
    ...receipts,
  })
  .refine((b) => (b.users?.length ?? 0) + (b.rooms?.length ?? 0) + (b.socketIds?.length ?? 0) > 0, {
    message: 'at least one of users, rooms or socketIds must name a target',
    path: ['users'],
  });
export type PushBody = z.infer<typeof pushBody>;

export const broadcastBody = z.strictObject({
  event: eventName,
  data: z.unknown(),
  id: messageId.optional(),
  except: targetList(socketId).optional(),
  ...receipts,
});
export type BroadcastBody = z.infer<typeof broadcastBody>;

export const MAX_BATCH = 100;
export const batchBody = z.strictObject({
  messages: z.array(z.unknown()).min(1).max(MAX_BATCH),
});

export const listRoomsQuery = z.strictObject({
  prefix: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(400).optional(),
  /** The app, as X-Pushgate-App would name it (read by the app middleware). */
  app: z.string().max(64).optional(),
});
export type ListRoomsQuery = z.infer<typeof listRoomsQuery>;

export interface PushResult {
  id: string;
  recipients: number;
  /** With `ack: true`: sockets, cluster-wide, that acknowledged within `ackTimeoutMs`. */
  acked?: number;
}

export type BatchItemResult = { success: true; data: PushResult } | { success: false; error: ErrorBody };

export interface RoomSummary {
  room: string;
  sockets: number;
  users: number;
}

export interface RoomDetail {
  room: string;
  sockets: number;
  users: { userId: string; sockets: number }[];
}

export interface SocketInfo {
  id: string;
  nodeId: string;
  connectedAt: number;
  rooms: string[];
}

export interface UserDetail {
  userId: string;
  online: boolean;
  sockets: SocketInfo[];
}

export interface NodeStatus {
  id: string;
  version: string;
  connections: number;
  users: number;
  rooms: number;
  startedAt: number;
  lastSeen: number;
  memoryRss: number;
  eventLoopLagMs: number;
  redis: 'up' | 'down' | 'none';
  ready: boolean;
  /** With APPS: this node's sockets and users of each app that has any here. */
  apps?: Record<string, { connections: number; users: number }>;
}

export interface StatusResponse {
  version: string;
  /** Set when the status is one app's share: `connections` and `users` (of nodes and totals) and `rooms` (of totals) count that app only. */
  app?: string;
  nodes: NodeStatus[];
  totals: { nodes: number; connections: number; users: number; rooms: number };
}

export interface Envelope<T> {
  success: boolean;
  data?: T;
  error?: ErrorBody;
  meta: { requestId: string; timestamp: string };
}

/** One point of the dashboard's charts (per node, every 2 s). Rates are per second over the interval. */
export interface MetricsSample {
  t: number;
  sockets: number;
  users: number;
  rooms: number;
  pushedPerSec: number;
  deliveredPerSec: number;
  clientEventsPerSec: number;
  backendErrorsPerSec: number;
  /** null when no push was made in the interval. */
  pushP50Ms: number | null;
  pushP99Ms: number | null;
  rssBytes: number;
  heapUsedBytes: number;
  eventLoopLagMs: number;
  /**
   * Cluster-wide distinct users and rooms at the sample (from presence, each counted once however
   * many nodes they are on); null when presence could not be read. Every node samples the same
   * numbers: the cluster series takes them as they are instead of adding the nodes up.
   */
  clusterUsers: number | null;
  clusterRooms: number | null;
  /** Protections and repairs in the interval (counts, not rates): what the node had to do. */
  caughtUp: number;
  floodDisconnects: number;
  slowConsumerDisconnects: number;
  interruptedRecoveries: number;
  handshakeRefusals: number;
}

/** One log line as the dashboard shows it (already redacted by the logger). */
export interface LogLine {
  ts: string;
  level: string;
  message: string;
  nodeId: string;
  /** Everything else the line carried (already redacted by the logger's format). */
  meta: Record<string, unknown>;
}
