import type { NodeId, Room, SocketId, Stream, UserId } from '../contracts/socket-events';
import type { PresenceStore } from '../cluster/presence-store';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import { userRoom, type PgSocket } from './types';

/** setTimeout's ceiling (~24.8 days); longer expiries are re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Tracked {
  socket: PgSocket;
  /** Resolves once the socket is in the presence store: room writes wait for it. */
  registered: Promise<void>;
  expiryTimer: NodeJS.Timeout | null;
}

/**
 * This node's sockets, and only this node's (the Hub of Centrifuge's design). Keeps the presence
 * store in step with them, enforces token expiry, and can re-publish everything after Redis lost it.
 */
export class ConnectionManager {
  private readonly sockets = new Map<SocketId, Tracked>();
  /** Keyed by the qualified user id: the same id in two apps is two users. */
  private readonly users = new Map<UserId, Set<SocketId>>();
  /** Removals whose presence writes are still running. */
  private readonly removing = new Map<SocketId, Promise<void>>();
  /** This node's sockets and users per app, kept as they change (status and metrics read them often). */
  private readonly perApp = new Map<string, { sockets: number; users: number }>();

  constructor(
    private readonly deps: {
      nodeId: NodeId;
      presence: PresenceStore;
      clock: Clock;
      logger: Logger;
      /** Resolves once this node hears the stream's pushes (cluster/push-bus.ts); absent on a single node. */
      listen?: (stream: Stream) => Promise<void>;
    },
  ) {}

  get socketCount(): number {
    return this.sockets.size;
  }

  get userCount(): number {
    return this.users.size;
  }

  /** Sockets and users of each app on this node (apps without any are absent). */
  appCounts(): ReadonlyMap<string, { sockets: number; users: number }> {
    return this.perApp;
  }

  private count(app: string, sockets: number, users: number): void {
    const c = this.perApp.get(app) ?? { sockets: 0, users: 0 };
    c.sockets += sockets;
    c.users += users;
    if (c.sockets === 0) this.perApp.delete(app);
    else this.perApp.set(app, c);
  }

  /** @returns once the socket is registered (or registering failed and was logged: resync() retries). */
  add(socket: PgSocket): Promise<void> {
    const { userId, connectedAt } = socket.data;
    const personal = userRoom(userId);
    void socket.join(personal);
    // Listening first: a push that counts the socket must not be published before its node hears it.
    const registered = (this.deps.listen?.(personal) ?? Promise.resolve())
      .then(() => this.deps.presence.addSocket({ socketId: presenceId(socket), userId, nodeId: this.deps.nodeId, connectedAt }))
      .catch((err: Error) => {
        // Redis is down: the socket still works locally; resync() publishes it once Redis is back.
        this.deps.logger.warn('presence: could not register socket', { socketId: socket.id, error: err.message });
      });
    this.sockets.set(socket.id, { socket, registered, expiryTimer: null });
    let set = this.users.get(userId);
    if (!set) this.users.set(userId, (set = new Set()));
    set.add(socket.id);
    this.count(socket.data.app.id, 1, set.size === 1 ? 1 : 0);
    this.armExpiry(socket.id);
    return registered;
  }

  /**
   * Takes the socket out of this node and of presence. A second call while the first is still
   * writing (Socket.IO's `disconnect` and a draining node both remove) waits for the same writes:
   * a drain must not close Redis under them.
   */
  remove(socket: PgSocket): Promise<void> {
    const going = this.removing.get(socket.id);
    if (going) return going;
    if (!this.sockets.has(socket.id)) return Promise.resolve();
    const done = this.removeTracked(socket).finally(() => this.removing.delete(socket.id));
    this.removing.set(socket.id, done);
    return done;
  }

  private async removeTracked(socket: PgSocket): Promise<void> {
    const tracked = this.sockets.get(socket.id)!;
    if (tracked.expiryTimer) clearTimeout(tracked.expiryTimer);
    this.sockets.delete(socket.id);
    const set = this.users.get(socket.data.userId);
    set?.delete(socket.id);
    if (set?.size === 0) this.users.delete(socket.data.userId);
    this.count(socket.data.app.id, -1, set?.size === 0 ? -1 : 0);
    await tracked.registered;
    await this.deps.presence.removeSocket(presenceId(socket)).catch((err: Error) => {
      this.deps.logger.warn('presence: could not remove socket', { socketId: socket.id, error: err.message });
    });
  }

  get(socketId: SocketId): PgSocket | undefined {
    return this.sockets.get(socketId)?.socket;
  }

  /** Waits until the socket's presence entry is written (a room write before it would be lost). */
  registered(socketId: SocketId): Promise<void> {
    return this.sockets.get(socketId)?.registered ?? Promise.resolve();
  }

  socketsOf(userId: UserId): PgSocket[] {
    const ids = this.users.get(userId);
    if (!ids) return [];
    return [...ids].map((id) => this.sockets.get(id)!.socket);
  }

  all(): PgSocket[] {
    return [...this.sockets.values()].map((t) => t.socket);
  }

  /** A refreshed token moves the expiry. */
  refreshExpiry(socket: PgSocket, tokenExp: number | null): void {
    socket.data.tokenExp = tokenExp;
    this.armExpiry(socket.id);
  }

  /**
   * Writes every local socket and its rooms to the presence store again: after Redis restarted
   * empty, or after writes failed during an outage. All writes are idempotent. `announce` says
   * whether the re-joins are news to the room: yes after this node was reaped (its users' leaves
   * were announced then), no after Redis lost its data (nobody was told they had left).
   */
  async resync(opts: { announce: boolean }): Promise<number> {
    let n = 0;
    for (const { socket } of this.sockets.values()) {
      if (!socket.connected) continue;
      const { userId, connectedAt } = socket.data;
      await this.deps.presence.addSocket({ socketId: presenceId(socket), userId, nodeId: this.deps.nodeId, connectedAt }, { quiet: !opts.announce });
      for (const room of socket.rooms) if (isSharedRoom(room, socket)) await this.deps.presence.joinRoom(presenceId(socket), room, { quiet: !opts.announce });
      n += 1;
    }
    return n;
  }

  /**
   * After an outage in which Redis kept its data: makes presence match this node's live sockets,
   * announcing what changed meanwhile, as it would have been announced had Redis been up. Sockets
   * that went while writes failed are removed (their leaves and offlines are news), sockets that
   * came are added, rooms joined or left meanwhile follow. Nothing unchanged is announced, so
   * nothing is invented; nothing that changed is lost.
   * @returns sockets added and removed.
   */
  async reconcile(): Promise<{ added: number; removed: number }> {
    const stored = new Map((await this.deps.presence.socketsOfNode(this.deps.nodeId)).map((s) => [s.socketId, s.rooms]));
    const live = new Map([...this.sockets.values()].filter((t) => t.socket.connected).map((t) => [presenceId(t.socket), t.socket]));
    let removed = 0;
    for (const id of stored.keys()) {
      if (live.has(id)) continue;
      await this.deps.presence.removeSocket(id);
      removed += 1;
    }
    let added = 0;
    for (const [id, socket] of live) {
      const rooms = stored.get(id);
      if (!rooms) added += 1;
      const { userId, connectedAt } = socket.data;
      await this.deps.presence.addSocket({ socketId: id, userId, nodeId: this.deps.nodeId, connectedAt });
      for (const room of socket.rooms) if (isSharedRoom(room, socket)) await this.deps.presence.joinRoom(id, room);
      for (const room of rooms ?? []) if (!socket.rooms.has(room)) await this.deps.presence.leaveRoom(id, room);
    }
    return { added, removed };
  }

  private armExpiry(socketId: SocketId): void {
    const tracked = this.sockets.get(socketId);
    if (!tracked) return;
    if (tracked.expiryTimer) clearTimeout(tracked.expiryTimer);
    tracked.expiryTimer = null;
    const exp = tracked.socket.data.tokenExp;
    if (exp === null) return;
    const delay = exp - this.deps.clock.now();
    if (delay <= 0) {
      tracked.socket.disconnect(true);
      return;
    }
    tracked.expiryTimer = setTimeout(() => {
      if (this.deps.clock.now() >= (tracked.socket.data.tokenExp ?? Infinity)) {
        this.deps.logger.info('token expired: disconnecting socket', { socketId, userId: tracked.socket.data.userId });
        tracked.socket.disconnect(true);
      } else {
        this.armExpiry(socketId);
      }
    }, Math.min(delay, MAX_TIMER_MS));
    tracked.expiryTimer.unref();
  }
}

/** Rooms the presence store tracks: not the socket's own id room, not the personal user room. */
export function isSharedRoom(room: Room, socket: PgSocket): boolean {
  return room !== socket.id && room !== userRoom(socket.data.userId);
}

/**
 * The socket's id as presence and pushes name it: qualified with its app, so a push of one app
 * naming another app's socket id finds no such socket (contracts/app-scope.ts).
 */
export function presenceId(socket: PgSocket): SocketId {
  return socket.data.app.name(socket.id);
}
