import type { AppScope } from './app-scope';
import type { ErrorBody, HandshakeErrorCode } from './error-codes';

export type UserId = string;
export type SocketId = string;
export type Room = string;
export type NodeId = string;
export type MessageId = string;

/** What every acknowledgement of a client → server event looks like. */
export type AckResponse<T = unknown> = { ok: true; data?: T } | { ok: false; error: ErrorBody };
export type Ack<T = unknown> = (response: AckResponse<T>) => void;

/** A stream's history is keyed by `user:<id>` or by the room name. */
export type Stream = string;
/** Opaque position in a stream (`<epoch>:<sequence>`): it only grows within a stream. */
export type Offset = string;

/**
 * Second argument of every pushed event. `room` is set when the push addressed exactly one room;
 * `stream` and `offset` when the delivery is kept in a stream's history (pushes to users and
 * rooms while history is on), so the client can recover what it missed from there.
 */
export interface PushMeta {
  id: MessageId;
  ts: number;
  room?: Room;
  stream?: Stream;
  offset?: Offset;
}

/** One stream's outcome of a recovery (`recovered` event). */
export interface StreamRecovery {
  /** false: history no longer covers the gap (trimmed, expired, lost): resync from the backend. */
  recovered: boolean;
  /** Messages re-sent before this report. */
  replayed: number;
  /** Where the client now is in the stream (absent when the stream could not be read). */
  offset?: Offset;
  /** Why the stream was not recovered, when it was refused rather than out of range. */
  error?: ErrorBody;
}

export interface RecoveredPayload {
  streams: Record<Stream, StreamRecovery>;
}

export interface PresencePayload {
  room: Room;
  userId: UserId;
}

export interface WelcomePayload {
  socketId: SocketId;
  userId: UserId;
  nodeId: NodeId;
  rooms: Room[];
  serverTime: number;
  /** Current position of the user's personal stream (history on): where a fresh client starts. */
  offsets?: Record<Stream, Offset>;
  /** With APPS (or PUSHER_APP): `socketId` in the form Pusher's server libraries accept as `socket_id`. */
  pusherSocketId?: string;
  /** With APPS (or PUSHER_APP): the app the token belongs to. */
  app?: string;
}

export interface RoomRequest {
  room: Room;
}

/** `since`: replay the room's messages after this offset, then emit `recovered` for it. */
export interface JoinRequest extends RoomRequest {
  since?: Offset;
}

export interface JoinResult {
  room: Room;
  /** The client's position in the room's stream after the join (history on). */
  offset?: Offset;
}

export interface RefreshRequest {
  token: string;
}

export interface ClientToServerEvents {
  'room:join': (req: JoinRequest, ack: Ack<JoinResult>) => void;
  'room:leave': (req: RoomRequest, ack: Ack<{ room: Room }>) => void;
  'auth:refresh': (req: RefreshRequest, ack: Ack<{ exp: number | null }>) => void;
}

/**
 * Pushed events are free-form (`event` chosen by the backend): they go out through the index
 * signature, the one documented escape hatch from the typing (`any` so the named events above
 * still type-check against it). Their arguments are always `(data, meta: PushMeta)`.
 */
export interface ServerToClientEvents {
  welcome: (payload: WelcomePayload) => void;
  'server:draining': (payload: { nodeId: NodeId; reconnectInMs: number }) => void;
  recovered: (payload: RecoveredPayload) => void;
  'presence:join': (payload: PresencePayload) => void;
  'presence:leave': (payload: PresencePayload) => void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [pushedEvent: string]: (...args: any[]) => void;
}

/** A live socket as its own node sees it (the dashboard's Connections page). */
export interface LiveSocket {
  id: SocketId;
  userId: UserId;
  nodeId: NodeId;
  connectedAt: number;
  rooms: Room[];
  transport: string;
  address: string;
  /** With APPS: the socket's app (userId and rooms are that app's names). */
  app?: string;
}

/** Commands nodes send each other (serverSideEmitWithAck); every node answers each one. */
export interface InterServerEvents {
  'members:join': (req: { userId: UserId; room: Room }, ack: (sockets: number) => void) => void;
  'members:leave': (req: { userId: UserId; room: Room }, ack: (sockets: number) => void) => void;
  'users:disconnect': (req: { userId: UserId }, ack: (sockets: number) => void) => void;
  'admin:sockets': (req: { userId?: UserId; socketId?: SocketId }, ack: (sockets: LiveSocket[]) => void) => void;
  'admin:history': (req: Record<string, never>, ack: (h: { nodeId: NodeId; samples: unknown[] }) => void) => void;
  'admin:logs': (req: { limit: number; minLevel?: string }, ack: (lines: unknown[]) => void) => void;
  'admin:webhooks': (req: Record<string, never>, ack: (status: unknown[]) => void) => void;
}

/** Verified token claims kept on each socket. */
export interface SocketData {
  /** The socket's app: every name it uses is qualified with it (app-scope.ts). */
  app: AppScope;
  /** The `sub` claim qualified with the app: the user as presence, rooms and pushes name it. */
  userId: UserId;
  roomPatterns: string[];
  tokenExp: number | null;
  connectedAt: number;
}

export const HANDSHAKE_ERRORS: readonly HandshakeErrorCode[] = ['UNAUTHORIZED', 'TOKEN_EXPIRED', 'RATE_LIMITED'];

/** Every socket sits in its user's personal room; clients and pushes may not name such rooms. */
export const PERSONAL_ROOM_PREFIX = 'user:';
export const userRoom = (userId: UserId): Room => `${PERSONAL_ROOM_PREFIX}${userId}`;
export const isPersonalRoom = (room: Room): boolean => room.startsWith(PERSONAL_ROOM_PREFIX);

/** Event names the server handles itself; everything else goes to the MessageRouter. */
export const RESERVED_CLIENT_EVENTS = ['room:join', 'room:leave', 'auth:refresh'] as const;
