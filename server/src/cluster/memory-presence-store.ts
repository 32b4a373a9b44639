import { appOfName, type AppId } from '../contracts/app-scope';
import type { RoomDetail, SocketInfo } from '../contracts/api';
import type { NodeId, Room, SocketId, UserId } from '../contracts/socket-events';
import type { Transition } from './memory-webhook-store';
import { bySocketAge, codeUnitOrder as cmp, type PresenceChange, type PresenceListener, type PresenceStore, type PushTargets, type QuietOption, type RoomPage, type SocketRecord } from './presence-store';

interface Entry extends SocketRecord {
  rooms: Set<Room>;
}

/** Single-node presence: plain maps, synchronous underneath. */
export class MemoryPresenceStore implements PresenceStore {
  private readonly sockets = new Map<SocketId, Entry>();
  private readonly users = new Map<UserId, Set<SocketId>>();
  private readonly rooms = new Map<Room, Set<SocketId>>();

  /**
   * @param transitions hears every room, member and user transition (webhooks), in the order they
   *   happen; quiet writes make none.
   */
  constructor(
    private readonly onChange: PresenceListener = () => {},
    private readonly transitions: (t: Transition) => void = () => {},
  ) {}

  async addSocket(rec: SocketRecord, opts: QuietOption = {}): Promise<void> {
    if (this.sockets.has(rec.socketId)) return;
    this.sockets.set(rec.socketId, { ...rec, rooms: new Set() });
    addTo(this.users, rec.userId, rec.socketId);
    if (this.users.get(rec.userId)!.size === 1 && !opts.quiet) this.transitions({ kind: 'user_online', userId: rec.userId, grace: true });
  }

  async removeSocket(socketId: SocketId): Promise<void> {
    await this.remove(socketId, true);
  }

  private async remove(socketId: SocketId, grace: boolean): Promise<void> {
    const entry = this.sockets.get(socketId);
    if (!entry) return;
    const left: PresenceChange[] = [];
    for (const room of entry.rooms) {
      removeFrom(this.rooms, room, socketId);
      const last = !this.userInRoom(entry.userId, room, socketId);
      if (last) left.push({ room, userId: entry.userId, joined: false });
      this.leaving(room, entry.userId, last, grace);
    }
    removeFrom(this.users, entry.userId, socketId);
    this.sockets.delete(socketId);
    if (!this.users.has(entry.userId)) this.transitions({ kind: 'user_offline', userId: entry.userId, grace });
    if (left.length > 0) this.onChange(left);
  }

  async joinRoom(socketId: SocketId, room: Room, opts: QuietOption = {}): Promise<boolean> {
    const entry = this.sockets.get(socketId);
    if (!entry || entry.rooms.has(room)) return false;
    const first = !this.userInRoom(entry.userId, room, socketId);
    entry.rooms.add(room);
    addTo(this.rooms, room, socketId);
    if (!opts.quiet) {
      if (this.rooms.get(room)!.size === 1) this.transitions({ kind: 'channel_occupied', channel: room, grace: true });
      if (first) this.transitions({ kind: 'member_added', channel: room, userId: entry.userId, grace: true });
    }
    if (first && !opts.quiet) this.onChange([{ room, userId: entry.userId, joined: true }]);
    return true;
  }

  async leaveRoom(socketId: SocketId, room: Room): Promise<boolean> {
    const entry = this.sockets.get(socketId);
    if (!entry || !entry.rooms.delete(room)) return false;
    removeFrom(this.rooms, room, socketId);
    const last = !this.userInRoom(entry.userId, room, socketId);
    this.leaving(room, entry.userId, last, true);
    if (last) this.onChange([{ room, userId: entry.userId, joined: false }]);
    return true;
  }

  /** The webhook transitions of a socket leaving a room: the user's last socket there, the room's last. */
  private leaving(room: Room, userId: UserId, last: boolean, grace: boolean): void {
    if (last) this.transitions({ kind: 'member_removed', channel: room, userId, grace });
    if (!this.rooms.has(room)) this.transitions({ kind: 'channel_vacated', channel: room, grace });
  }

  /** Whether another socket of the user (not `but`) is in the room: a user has few sockets, so walk them. */
  private userInRoom(userId: UserId, room: Room, but: SocketId): boolean {
    for (const id of this.users.get(userId) ?? []) if (id !== but && this.sockets.get(id)!.rooms.has(room)) return true;
    return false;
  }

  async getUser(userId: UserId): Promise<SocketInfo[]> {
    const ids = this.users.get(userId);
    if (!ids) return [];
    return [...ids].map((id) => {
      const e = this.sockets.get(id)!;
      return { id, nodeId: e.nodeId, connectedAt: e.connectedAt, rooms: [...e.rooms].sort(cmp) };
    }).sort(bySocketAge);
  }

  async getRoom(room: Room): Promise<RoomDetail | null> {
    const ids = this.rooms.get(room);
    if (!ids || ids.size === 0) return null;
    const perUser = new Map<UserId, number>();
    for (const id of ids) {
      const u = this.sockets.get(id)!.userId;
      perUser.set(u, (perUser.get(u) ?? 0) + 1);
    }
    const users = [...perUser].map(([userId, sockets]) => ({ userId, sockets })).sort((a, b) => cmp(a.userId, b.userId));
    return { room, sockets: ids.size, users };
  }

  async listRooms(opts: { prefix?: string; limit: number; cursor?: string; app?: AppId | null }): Promise<RoomPage> {
    const app = opts.app ?? null;
    const prefix = opts.prefix ?? '';
    const after = opts.cursor ?? '';
    const names = [...this.rooms.keys()].filter((r) => r.startsWith(prefix) && r > after && appOfName(r) === app).sort(cmp);
    const page = names.slice(0, opts.limit);
    const rooms = page.map((room) => {
      const ids = this.rooms.get(room)!;
      const users = new Set([...ids].map((id) => this.sockets.get(id)!.userId));
      return { room, sockets: ids.size, users: users.size };
    });
    return { rooms, cursor: names.length > opts.limit ? page[page.length - 1]! : null };
  }

  async countRecipients(t: PushTargets): Promise<number> {
    // The common push, one user or one room: count without copying the members.
    if (t.users.length + t.rooms.length === 1 && t.socketIds.length === 0) {
      const set = t.users.length === 1 ? this.users.get(t.users[0]!) : this.rooms.get(t.rooms[0]!);
      if (!set) return 0;
      let n = set.size;
      for (const id of t.except) if (set.has(id)) n -= 1;
      return n;
    }
    const all = new Set<SocketId>();
    for (const u of t.users) for (const id of this.users.get(u) ?? []) all.add(id);
    for (const r of t.rooms) for (const id of this.rooms.get(r) ?? []) all.add(id);
    for (const id of t.socketIds) if (this.sockets.has(id)) all.add(id);
    for (const id of t.except) all.delete(id);
    return all.size;
  }

  async removeNode(nodeId: NodeId): Promise<number> {
    const ids = [...this.sockets.values()].filter((e) => e.nodeId === nodeId).map((e) => e.socketId);
    for (const id of ids) await this.remove(id, false);
    return ids.length;
  }

  async socketsOfNode(nodeId: NodeId): Promise<{ socketId: SocketId; rooms: Room[] }[]> {
    return [...this.sockets.values()].filter((e) => e.nodeId === nodeId).map((e) => ({ socketId: e.socketId, rooms: [...e.rooms] }));
  }

  async totals(): Promise<{ sockets: number; users: number; rooms: number }> {
    return { sockets: this.sockets.size, users: this.users.size, rooms: this.rooms.size };
  }

  async appTotals(app: AppId | null): Promise<{ users: number; rooms: number }> {
    const count = (names: Iterable<string>) => {
      let n = 0;
      for (const name of names) if (appOfName(name) === app) n += 1;
      return n;
    };
    return { users: count(this.users.keys()), rooms: count(this.rooms.keys()) };
  }
}


function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
