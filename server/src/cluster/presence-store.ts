import type { RoomDetail, RoomSummary, SocketInfo } from '../contracts/api';
import type { NodeId, Room, SocketId, UserId } from '../contracts/socket-events';
import type { AppId } from '../contracts/app-scope';

export interface SocketRecord {
  socketId: SocketId;
  userId: UserId;
  nodeId: NodeId;
  connectedAt: number;
}

/** Who a push is addressed to; the union of users' sockets, rooms' sockets and socketIds, minus except. */
export interface PushTargets {
  users: UserId[];
  rooms: Room[];
  socketIds: SocketId[];
  except: SocketId[];
}

export interface RoomPage {
  rooms: RoomSummary[];
  /** Opaque; pass back as `cursor` for the next page. null on the last page. */
  cursor: string | null;
}

/** A user's first socket joined a room (`joined`), or its last one left. */
export interface PresenceChange {
  room: Room;
  userId: UserId;
  joined: boolean;
}

/**
 * Told about every user transition a store call made, exactly once cluster-wide: the transition is
 * decided where the count changes (atomically, in Redis), so only the node whose call made it hears it.
 */
export type PresenceListener = (changes: PresenceChange[]) => void;

/** Writes that should not announce transitions: re-publishing state after Redis lost it. */
export interface QuietOption {
  quiet?: boolean;
}

/**
 * Cluster-wide presence: user → sockets (with node), socket → rooms, room → members. Every name is
 * qualified with its app (contracts/app-scope.ts); the store keeps each app's listings apart.
 * Only the node that owns a socket writes its entries; any node reads. Personal `user:<id>` rooms
 * are not stored as rooms (the user → sockets index serves them).
 *
 * Every write is idempotent (joining twice changes nothing, removing an unknown socket is a no-op),
 * because a reaper and the owner may race on the same socket. User transitions (first socket of a
 * user in a room, last one out) go to the store's PresenceListener.
 */
export interface PresenceStore {
  /** `quiet`: re-publishing after Redis lost its data; the user's coming online is no news (no webhook). */
  addSocket(rec: SocketRecord, opts?: QuietOption): Promise<void>;
  /** Removes the socket from its user and from every room it was in. */
  removeSocket(socketId: SocketId): Promise<void>;
  /** @returns true when the socket was not in the room before. */
  joinRoom(socketId: SocketId, room: Room, opts?: QuietOption): Promise<boolean>;
  /** @returns true when the socket was in the room. */
  leaveRoom(socketId: SocketId, room: Room): Promise<boolean>;
  getUser(userId: UserId): Promise<SocketInfo[]>;
  /** null when the room has no member. */
  getRoom(room: Room): Promise<RoomDetail | null>;
  /**
   * Rooms of one app (`app`: its id, null or absent for the default app) in lexicographic order,
   * optionally only those starting with `prefix` (qualified, like every name here).
   */
  listRooms(opts: { prefix?: string; limit: number; cursor?: string; app?: AppId | null }): Promise<RoomPage>;
  /** Number of distinct sockets a push to `targets` reaches, cluster-wide. */
  countRecipients(targets: PushTargets): Promise<number>;
  /**
   * Drops every socket a node owned (the node died). With `onlyIfDead`, stops as soon as the node
   * heart-beats again (a reaper racing a node that was only paused). @returns sockets removed.
   */
  removeNode(nodeId: NodeId, opts?: { onlyIfDead?: boolean }): Promise<number>;
  /** The sockets recorded as a node's, with their rooms: what a node compares with its live sockets after an outage. */
  socketsOfNode(nodeId: NodeId): Promise<{ socketId: SocketId; rooms: Room[] }[]>;
  /** Cluster-wide, every app together. */
  totals(): Promise<{ sockets: number; users: number; rooms: number }>;
  /** One app's users with a socket and rooms with a member, cluster-wide (null: the default app). */
  appTotals(app: AppId | null): Promise<{ users: number; rooms: number }>;
}

/** Code-unit order: how every implementation sorts names (rooms, users, socket ids). */
export const codeUnitOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Oldest socket first (ties by id): the order every implementation lists a user's sockets in. */
export const bySocketAge = (a: SocketInfo, b: SocketInfo): number => a.connectedAt - b.connectedAt || codeUnitOrder(a.id, b.id);
