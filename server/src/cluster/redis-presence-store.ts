import type { RoomDetail, SocketInfo } from '../contracts/api';
import type { NodeId, Room, SocketId, UserId } from '../contracts/socket-events';
import { bySocketAge, codeUnitOrder as cmp, type PresenceChange, type PresenceListener, type PresenceStore, type PushTargets, type QuietOption, type RoomPage, type SocketRecord } from './presence-store';
import type { RedisClient } from './redis';
import { ADD_SOCKET, COUNT_RECIPIENTS, JOIN_ROOM, LEAVE_ROOM, REMOVE_NODE_BATCH, REMOVE_SOCKET } from './redis-scripts';

/** How many sockets one script call removes when a node is reaped. */
const REAP_BATCH = 500;

/** The target lists as script arguments: four counts, then the lists (see COUNT_FN). */
export function targetArgs(t: PushTargets): string[] {
  return [String(t.users.length), String(t.rooms.length), String(t.socketIds.length), String(t.except.length), ...t.users, ...t.rooms, ...t.socketIds, ...t.except];
}

/**
 * Cluster-wide presence in Redis (key layout in redis-scripts.ts). Every write is one atomic script;
 * reads are a few commands issued together, which node-redis pipelines into one round trip.
 */
export class RedisPresenceStore implements PresenceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly onChange: PresenceListener = () => {},
  ) {}

  async addSocket(rec: SocketRecord): Promise<void> {
    await ADD_SOCKET.run(this.redis, [], [this.prefix, rec.socketId, rec.userId, rec.nodeId, rec.connectedAt]);
  }

  async removeSocket(socketId: SocketId): Promise<void> {
    const [, ...left] = await REMOVE_SOCKET.run<[number, ...string[]]>(this.redis, [], [this.prefix, socketId]);
    this.announceLeaves(left);
  }

  async joinRoom(socketId: SocketId, room: Room, opts: QuietOption = {}): Promise<boolean> {
    const [added, firstOf] = await JOIN_ROOM.run<[number, string?]>(this.redis, [], [this.prefix, socketId, room]);
    if (firstOf !== undefined && !opts.quiet) this.onChange([{ room, userId: firstOf, joined: true }]);
    return added === 1;
  }

  async leaveRoom(socketId: SocketId, room: Room): Promise<boolean> {
    const [removed, lastOf] = await LEAVE_ROOM.run<[number, string?]>(this.redis, [], [this.prefix, socketId, room]);
    if (lastOf !== undefined) this.onChange([{ room, userId: lastOf, joined: false }]);
    return removed === 1;
  }

  /** The scripts list leaves as userId, room pairs. */
  private announceLeaves(pairs: string[]): void {
    if (pairs.length === 0) return;
    const changes: PresenceChange[] = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) changes.push({ userId: pairs[i]!, room: pairs[i + 1]!, joined: false });
    this.onChange(changes);
  }

  async getUser(userId: UserId): Promise<SocketInfo[]> {
    const ids = await this.redis.sMembers(this.key('user', userId));
    const sockets = await Promise.all(
      ids.map(async (id) => {
        const [info, rooms] = await Promise.all([this.redis.hGetAll(this.key('sock', id)), this.redis.sMembers(`${this.key('sock', id)}:rooms`)]);
        if (!info.nodeId) return null;
        return { id, nodeId: info.nodeId, connectedAt: Number(info.connectedAt), rooms: rooms.sort(cmp) };
      }),
    );
    return sockets.filter((s): s is SocketInfo => s !== null).sort(bySocketAge);
  }

  async getRoom(room: Room): Promise<RoomDetail | null> {
    const [sockets, perUser] = await Promise.all([this.redis.sCard(this.key('room', room)), this.redis.hGetAll(this.key('roomu', room))]);
    if (sockets === 0) return null;
    const users = Object.entries(perUser)
      .map(([userId, n]) => ({ userId, sockets: Number(n) }))
      .sort((a, b) => cmp(a.userId, b.userId));
    return { room, sockets, users };
  }

  async listRooms(opts: { prefix?: string; limit: number; cursor?: string }): Promise<RoomPage> {
    const prefix = opts.prefix ?? '';
    const from = opts.cursor !== undefined && opts.cursor >= prefix ? `(${opts.cursor}` : prefix ? `[${prefix}` : '-';
    // One more than asked: tells whether a next page exists. Names sort by bytes, so every name
    // with the prefix is contiguous and the first one without it ends the listing.
    const fetched = await this.redis.sendCommand<string[]>(['ZRANGEBYLEX', this.key('rooms'), from, '+', 'LIMIT', '0', String(opts.limit + 1)]);
    const names = [];
    for (const n of fetched) {
      if (!n.startsWith(prefix)) break;
      names.push(n);
    }
    const page = names.slice(0, opts.limit);
    const rooms = await Promise.all(
      page.map(async (room) => {
        const [sockets, users] = await Promise.all([this.redis.sCard(this.key('room', room)), this.redis.hLen(this.key('roomu', room))]);
        return { room, sockets, users };
      }),
    );
    return { rooms, cursor: names.length > opts.limit ? page[page.length - 1]! : null };
  }

  async countRecipients(t: PushTargets): Promise<number> {
    return COUNT_RECIPIENTS.run<number>(this.redis, [], [this.prefix, ...targetArgs(t)]);
  }

  async removeNode(nodeId: NodeId, opts: { onlyIfDead?: boolean } = {}): Promise<number> {
    let removed = 0;
    for (;;) {
      const [taken, n, ...left] = await REMOVE_NODE_BATCH.run<[number, number, ...string[]]>(this.redis, [], [this.prefix, nodeId, REAP_BATCH, opts.onlyIfDead ? 1 : 0]);
      removed += n;
      this.announceLeaves(left);
      if (taken === 0) return removed;
    }
  }

  async totals(): Promise<{ sockets: number; users: number; rooms: number }> {
    const [sockets, users, rooms] = await Promise.all([this.redis.sCard(this.key('sockets')), this.redis.sCard(this.key('users')), this.redis.zCard(this.key('rooms'))]);
    return { sockets, users, rooms };
  }

  private key(kind: string, id?: string): string {
    return id === undefined ? `${this.prefix}:${kind}` : `${this.prefix}:${kind}:${id}`;
  }
}

