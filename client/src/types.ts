import type { ManagerOptions, Socket, SocketOptions } from 'socket.io-client';

/** A stream's history is keyed by `user:<userId>` or by the room name. */
export type Stream = string;
/** An opaque position in a stream. Never compare two offsets: keep the last one received. */
export type Offset = string;
export type Room = string;

/** The error body of every `{ ok: false }` acknowledgement. */
export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

/** What the server answers to every client → server event. */
export type AckResponse<T = unknown> = { ok: true; data?: T } | { ok: false; error: ErrorBody };

/**
 * Second argument of every pushed event. `room` is set when the push addressed exactly one room;
 * `stream` and `offset` when the message is kept in a stream's history (server history on).
 */
export interface PushMeta {
  id: string;
  ts: number;
  room?: Room;
  stream?: Stream;
  offset?: Offset;
}

export interface WelcomePayload {
  socketId: string;
  userId: string;
  nodeId: string;
  rooms: Room[];
  serverTime: number;
  /** Current position of the user's personal stream, when history is on. */
  offsets?: Record<Stream, Offset>;
}

/** One stream's outcome in a `recovered` event. */
export interface StreamRecovery {
  /** `false`: history no longer covers the gap; the app must refetch state from its backend. */
  recovered: boolean;
  /** How many messages were re-sent before this report. */
  replayed: number;
  /** The stream's position after the recovery. */
  offset?: Offset;
  /** Why the stream was not recovered when it was refused (`FORBIDDEN`: the room was not re-joined). */
  error?: ErrorBody;
}

export interface RecoveredPayload {
  streams: Record<Stream, StreamRecovery>;
}

export interface PresencePayload {
  room: Room;
  userId: string;
}

export interface DrainingPayload {
  nodeId: string;
  reconnectInMs: number;
}

export interface JoinResult {
  room: Room;
  /** The stream position after the join, when history is on. */
  offset?: Offset;
}

/**
 * Events the server sends without a `meta` argument. Handlers for them get the payload only.
 */
export interface ServerEvents {
  welcome: WelcomePayload;
  'server:draining': DrainingPayload;
  'presence:join': PresencePayload;
  'presence:leave': PresencePayload;
}

/** Maps pushed event names to the type of their `data`. */
export type PushEvents = Record<string, unknown>;

export type Unsubscribe = () => void;

/**
 * Handler of a pushed event. When it returns a promise, the receipt (for pushes sent with
 * `ack: true`) is sent once the promise settles.
 */
export type PushHandler<D = unknown> = (data: D, meta: PushMeta) => unknown;

export interface PushgateClientOptions {
  /** The pushgate URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /**
   * The JWT, or a function that returns one. A function is called for the first connection and
   * whenever the helper has no usable token (and for refreshes when `refreshToken` is not given).
   */
  token: string | (() => string | Promise<string>);
  /**
   * Returns a fresh token. Called `refreshBeforeMs` before the current token's `exp` (read from
   * the JWT payload, not verified), and when a handshake is refused with `TOKEN_EXPIRED`.
   * @default `token` when it is a function, else no refresh
   */
  refreshToken?: () => string | Promise<string>;
  /**
   * How long before `exp` the token is refreshed. Tokens that live shorter than this are
   * refreshed at half their remaining lifetime.
   * @default 30000
   */
  refreshBeforeMs?: number;
  /**
   * How many recent message ids are remembered to drop duplicates. `0` turns de-duplication off.
   * @default 2000
   */
  dedupWindow?: number;
  /** Initial stream positions (e.g. restored from storage); recovered on the first connection. */
  offsets?: Record<Stream, Offset>;
  /**
   * Passed to `io()`. `auth` may be an object: its fields are sent along with `token` and `recover`.
   * @example { transports: ['websocket'], reconnectionDelay: 500 }
   */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export interface EmitOptions {
  /** Reject with `TIMEOUT` when the server has not answered within this many ms. @default no timeout */
  timeoutMs?: number;
}

export interface PushgateClient<E extends PushEvents = PushEvents> {
  /** The underlying socket.io-client socket. */
  readonly socket: Socket;
  /** The user id from the last `welcome` (or from the token before the first one). */
  readonly userId: string | undefined;

  /** Subscribes to an event the server sends without meta (`welcome`, `presence:join`, …). */
  on<K extends keyof ServerEvents>(event: K, handler: (payload: ServerEvents[K]) => void): Unsubscribe;
  /** Subscribes to a pushed event. Duplicates (same `meta.id`) are not passed on. */
  on<K extends keyof E & string>(event: K, handler: PushHandler<E[K]>): Unsubscribe;

  /**
   * Every event `on()` handlers can get, after de-duplication: pushed events with their meta, and
   * the meta-less ones (`welcome`, `presence:*`, …) with `meta` undefined. Async handlers delay the
   * receipt like `on()` handlers do.
   */
  onAny(handler: (event: string, data: unknown, meta: PushMeta | undefined) => unknown): Unsubscribe;

  /** Joins a room (replaying what was missed when the helper has an offset for it). */
  join(room: Room): Promise<JoinResult>;
  /** Leaves a room and forgets its offset. */
  leave(room: Room): Promise<void>;
  /**
   * Sends an event to the backend (through pushgate's MessageRouter). Resolves with the ack's
   * `data`; rejects with a {@link PushgateError} carrying `.code` on `{ ok: false }`.
   */
  emit(event: string, data?: unknown, options?: EmitOptions): Promise<unknown>;

  /** The last offset per stream, for persistence (pass it back as `offsets` later). */
  offsets(): Record<Stream, Offset>;
  /** Rooms joined through the helper (re-joined after reconnects). */
  rooms(): Room[];

  /** After every `recovered` event, once the helper has applied it. */
  onRecovered(cb: (payload: RecoveredPayload) => void): Unsubscribe;
  /** A stream could not be recovered: refetch its state from the backend. */
  onResync(cb: (stream: Stream, detail: StreamRecovery) => void): Unsubscribe;
  /** Errors that have no caller to reject: a throwing handler, a failed refresh or re-join. */
  onError(cb: (err: Error) => void): Unsubscribe;

  /** Disconnects for good and stops token refreshes. */
  close(): void;
}
