import { roomName } from '../contracts/api';
import { isPersonalRoom, PERSONAL_ROOM_PREFIX, type Room, type UserId } from '../contracts/socket-events';
import type { PresenceStore } from '../cluster/presence-store';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { MessageRouter } from '../routing/message-router';
import type { ClusterCommands } from './cluster-commands';
import { presenceId, type ConnectionManager } from './connection-manager';
import { externalName } from '../contracts/app-scope';
import { roomAllowed } from './token-verifier';
import type { PgSocket } from './types';

/** Validates a room name from a client or a URL: BAD_REQUEST for a bad name, FORBIDDEN for `user:`. */
export function checkRoomName(room: unknown): Room {
  const parsed = roomName.safeParse(room);
  if (!parsed.success) throw new AppError('BAD_REQUEST', 'room must be 1-200 characters without whitespace or control characters', { details: [{ field: 'room', message: parsed.error.issues[0]!.message }] });
  if (isPersonalRoom(parsed.data)) throw new AppError('FORBIDDEN', `Rooms starting with "${PERSONAL_ROOM_PREFIX}" are reserved`);
  return parsed.data;
}

/**
 * Room membership: authorization for client joins, and server-side joins/leaves that reach the
 * user's sockets on every node. The node holding a socket is the only one that changes its rooms.
 */
export class RoomManager {
  constructor(
    private readonly deps: {
      connections: ConnectionManager;
      presence: PresenceStore;
      /** The MessageRouter of a socket's app. */
      routerOf: (socket: PgSocket) => MessageRouter;
      cluster: ClusterCommands;
      logger: Logger;
      /** Resolves once this node hears the room's pushes (cluster/push-bus.ts); absent on a single node. */
      listen?: (stream: Room) => Promise<void>;
    },
  ) {}

  /** A client's join. @returns the room qualified with the socket's app (contracts/app-scope.ts). */
  async join(socket: PgSocket, rawRoom: unknown): Promise<Room> {
    const room = checkRoomName(rawRoom);
    const internal = socket.data.app.name(room);
    if (socket.rooms.has(internal)) return internal;
    if (!(await this.mayJoin(socket, room))) throw new AppError('FORBIDDEN', `Not allowed to join ${room}`);
    await this.joinLocal(socket, internal);
    return internal;
  }

  /** @returns the room qualified with the socket's app. */
  async leave(socket: PgSocket, rawRoom: unknown): Promise<Room> {
    const internal = socket.data.app.name(checkRoomName(rawRoom));
    await this.leaveLocal(socket, internal);
    return internal;
  }

  /** Token patterns first (no network); otherwise the backend decides, when there is one. Patterns and the backend see the app's own names. */
  private async mayJoin(socket: PgSocket, room: Room): Promise<boolean> {
    if (roomAllowed(socket.data.roomPatterns, room)) return true;
    const router = this.deps.routerOf(socket);
    if (!router.hasBackend) return false;
    const app = socket.data.app;
    return router.authorize(externalName(socket.data.userId), socket.id, room, app.implicit ? undefined : app.id);
  }

  /**
   * Joins locally, and listens to the room's channel, before the presence write, so no push
   * addressed after that write can miss the socket.
   */
  async joinLocal(socket: PgSocket, room: Room): Promise<void> {
    await this.deps.connections.registered(socket.id);
    await socket.join(room);
    try {
      await this.deps.listen?.(room);
      await this.deps.presence.joinRoom(presenceId(socket), room);
    } catch (err) {
      await socket.leave(room);
      throw new AppError('SERVICE_UNAVAILABLE', 'Room state is unavailable; retry', { cause: err, retryAfter: 1 });
    }
  }

  async leaveLocal(socket: PgSocket, room: Room): Promise<void> {
    await this.deps.connections.registered(socket.id);
    await socket.leave(room);
    try {
      await this.deps.presence.leaveRoom(presenceId(socket), room);
    } catch (err) {
      // The socket has left locally; resync() after the outage rewrites its true rooms.
      this.deps.logger.warn('presence: could not record room leave', { socketId: socket.id, room, error: (err as Error).message });
    }
  }

  /** Every socket of the user (qualified), on every node, joins the room (qualified). @returns sockets that are now members. */
  addUser(userId: UserId, room: Room): Promise<number> {
    return this.deps.cluster.run('members:join', { userId, room });
  }

  removeUser(userId: UserId, room: Room): Promise<number> {
    return this.deps.cluster.run('members:leave', { userId, room });
  }

  /** This node's share of addUser / removeUser. */
  async applyLocal(userId: UserId, room: Room, join: boolean): Promise<number> {
    const sockets = this.deps.connections.socketsOf(userId);
    await Promise.all(sockets.map((s) => (join ? this.joinLocal(s, room) : this.leaveLocal(s, room))));
    return sockets.length;
  }
}
