import type { RoomDetail, SocketInfo } from '../contracts/api';
import { userRoom, type NodeId, type Room, type SocketId, type UserId } from '../contracts/socket-events';
import type { AppId } from '../contracts/app-scope';
import type { WebhookPolicy } from './webhook-store';
import { bySocketAge, codeUnitOrder as cmp, type PresenceChange, type PresenceListener, type PresenceStore, type PushTargets, type QuietOption, type RoomPage, type SocketRecord } from './presence-store';
import { send, type RedisClient } from './redis';
import type { RedisKeys } from './redis-keys';
import { ADD_FIRST, ADD_SOCKET, COUNT_MEMBERS, NODE_EXPIRED, REMOVE_LAST, ROOM_JOIN, ROOM_LEAVE, SOCKET_GOING, SOCKET_JOIN } from './redis-scripts';

/** How many sockets one SPOP takes from a dead node's set while it is reaped. */
const REAP_BATCH = 500;

/** An HGETALL reply (node-redis answers an object; a flat array is taken too) → object. */
function hash(flat: string[] | Record<string, string>): Record<string, string> {
  if (!Array.isArray(flat)) return { ...flat };
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/**
 * Cluster-wide presence in Redis (key layout in redis-keys.ts). A socket, its user, each room and
 * its node keep their entries in their own hash slot, so on a Redis Cluster presence spreads over
 * the shards; a change that spans them is a few small scripts, each atomic in its slot:
 *
 *   - written in an order a crash cannot leave unreachable: the node's set first (a reaper walks
 *     it), the socket's record with its rooms before the room sets, and on removal the reverse;
 *   - each idempotent (joining twice, leaving twice, removing an unknown socket change nothing), so
 *     a reaper and the owner may race on a socket, and a reaper can finish what a dead node began;
 *   - user transitions (first socket in a room, last out) are decided inside the room's script, so
 *     exactly one caller cluster-wide hears each.
 *
 * The cluster-wide listings ({g}:users, {g}:rooms) follow the transitions their owners report. Two
 * nodes may report a room emptied and refilled in either order, so an unlisting removes the name
 * and then looks at the room again, re-adding it when it is no longer empty: whichever order the
 * calls arrive in, an occupied room stays listed. A name may outlive its room by a moment; listings
 * skip names whose set is empty.
 */
export class RedisPresenceStore implements PresenceStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly onChange: PresenceListener = () => {},
    /** The apps besides the default one (APPS): their listings are counted into totals(). */
    private readonly apps: readonly AppId[] = [],
    /** Webhooks: which transitions to queue, how many per outbox, and who hears of a drop. */
    private readonly webhooks: { policy: WebhookPolicy; queueMax: number; dropped: (app: AppId, n: number) => void } | null = null,
  ) {}

  /**
   * The outbox a transition of `owner` goes to, listed in its app's index first: a node dying
   * after the transition's script leaves the event where the sender finds it.
   */
  private async outbox(key: string, owner: string): Promise<string> {
    const index = this.keys.webhookIndex(this.webhooks!.policy.appOf(owner));
    await this.cmd(index, ['SADD', index, key]);
    return key;
  }

  private dropped(owner: string, n: number): void {
    if (n > 0) this.webhooks?.dropped(this.webhooks.policy.appOf(owner), n);
  }

  async addSocket(rec: SocketRecord, opts: QuietOption = {}): Promise<void> {
    const k = this.keys;
    await Promise.all([this.cmd(k.node(rec.nodeId), ['SADD', k.node(rec.nodeId), rec.socketId]), this.cmd(k.owners, ['SADD', k.owners, rec.nodeId])]);
    const owner = await ADD_SOCKET.run<string | null>(this.redis, [k.socket(rec.socketId)], [rec.userId, rec.nodeId, rec.connectedAt]);
    // Already recorded by another node: the first record stands.
    if (owner !== null && owner !== rec.nodeId) await this.cmd(k.node(rec.nodeId), ['SREM', k.node(rec.nodeId), rec.socketId]);
    const wh = this.webhooks && !opts.quiet && this.webhooks.policy.user(rec.userId) ? this.webhooks : null;
    const [first, dropped] = wh
      ? await ADD_FIRST.run<[number, number]>(this.redis, [k.user(rec.userId), await this.outbox(k.userOutbox(rec.userId), rec.userId)], [rec.socketId, rec.userId, wh.queueMax])
      : await ADD_FIRST.run<[number, number]>(this.redis, [k.user(rec.userId)], [rec.socketId]);
    this.dropped(rec.userId, dropped);
    if (first === 1) await this.cmd(k.usersOf(rec.userId), ['SADD', k.usersOf(rec.userId), rec.userId]);
  }

  async removeSocket(socketId: SocketId): Promise<void> {
    await this.remove(socketId, null);
  }

  /** Takes a socket out of its rooms, its user, its record and its node's set, in that order. */
  private async remove(socketId: SocketId, knownNode: NodeId | null): Promise<boolean> {
    const k = this.keys;
    const [userId, owner, ...rooms] = (await SOCKET_GOING.run<string[] | null>(this.redis, [k.socket(socketId), k.socketRooms(socketId)], [])) ?? [];
    const nodeId = owner || knownNode;
    if (userId !== undefined) {
      const changes: PresenceChange[] = [];
      await Promise.all(rooms.map(async (room) => ((await this.leaveScript(socketId, userId, room, knownNode !== null))[1] ? changes.push({ userId, room, joined: false }) : 0)));
      if (changes.length > 0) this.onChange(changes.sort((a, b) => cmp(a.room, b.room)));
      const listing = k.usersOf(userId);
      const wh = this.webhooks?.policy.user(userId) ? this.webhooks : null;
      const [last, dropped] = wh
        ? await REMOVE_LAST.run<[number, number]>(this.redis, [k.user(userId), await this.outbox(k.userOutbox(userId), userId)], [socketId, userId, wh.queueMax, knownNode ? '0' : '1'])
        : await REMOVE_LAST.run<[number, number]>(this.redis, [k.user(userId)], [socketId]);
      this.dropped(userId, dropped);
      if (last === 1) await this.unlist(listing, k.user(userId), ['SREM', listing, userId], ['SADD', listing, userId]);
    }
    await this.cmd(k.socket(socketId), ['DEL', k.socket(socketId), k.socketRooms(socketId)]);
    if (nodeId) await this.cmd(k.node(nodeId), ['SREM', k.node(nodeId), socketId]);
    return userId !== undefined;
  }

  async joinRoom(socketId: SocketId, room: Room, opts: QuietOption = {}): Promise<boolean> {
    const k = this.keys;
    const userId = await SOCKET_JOIN.run<string | null>(this.redis, [k.socket(socketId), k.socketRooms(socketId)], [room]);
    if (userId === null) return false;
    const wants = this.webhooks && !opts.quiet ? this.webhooks.policy.room(room) : null;
    const [added, first, opened, dropped] = wants
      ? await ROOM_JOIN.run<[number, number, number, number]>(this.redis, [k.room(room), k.roomUsers(room), await this.outbox(k.roomOutbox(room), room)], [socketId, userId, room, wants.occupancy ? '1' : '0', wants.members ? '1' : '0', this.webhooks!.queueMax])
      : await ROOM_JOIN.run<[number, number, number, number]>(this.redis, [k.room(room), k.roomUsers(room)], [socketId, userId]);
    this.dropped(room, dropped);
    if (opened === 1) await this.cmd(k.roomsOf(room), ['ZADD', k.roomsOf(room), '0', room]);
    // The socket began leaving meanwhile (SOCKET_GOING): its removal may have read its rooms before this one.
    const [still, going] = await this.cmd<[string | null, string | null]>(k.socket(socketId), ['HMGET', k.socket(socketId), 'userId', 'gone']);
    if (still === null || going !== null) {
      const [, last] = await this.leaveScript(socketId, userId, room);
      if (first === 1 && !last && !opts.quiet) this.onChange([{ room, userId, joined: true }]);
      if (last && first !== 1) this.onChange([{ room, userId, joined: false }]);
      return false;
    }
    if (first === 1 && !opts.quiet) this.onChange([{ room, userId, joined: true }]);
    return added === 1;
  }

  async leaveRoom(socketId: SocketId, room: Room): Promise<boolean> {
    const k = this.keys;
    const userId = await this.cmd<string | null>(k.socket(socketId), ['HGET', k.socket(socketId), 'userId']);
    const [removed, last] = userId === null ? [0, false] : await this.leaveScript(socketId, userId, room);
    await this.cmd(k.socketRooms(socketId), ['SREM', k.socketRooms(socketId), room]);
    if (last) this.onChange([{ room, userId: userId!, joined: false }]);
    return removed === 1;
  }

  /**
   * @param reaped the leave is a dead node's socket being reaped: its webhook events skip the leave grace.
   * @returns whether the socket was in the room, and whether it was the user's last socket there.
   */
  private async leaveScript(socketId: SocketId, userId: UserId, room: Room, reaped = false): Promise<[number, boolean]> {
    const k = this.keys;
    const wants = this.webhooks?.policy.room(room) ?? null;
    const [removed, last, emptied, dropped] = wants
      ? await ROOM_LEAVE.run<[number, number, number, number]>(this.redis, [k.room(room), k.roomUsers(room), await this.outbox(k.roomOutbox(room), room)], [socketId, userId, room, wants.occupancy ? '1' : '0', wants.members ? '1' : '0', this.webhooks!.queueMax, reaped ? '0' : '1'])
      : await ROOM_LEAVE.run<[number, number, number, number]>(this.redis, [k.room(room), k.roomUsers(room)], [socketId, userId]);
    this.dropped(room, dropped);
    const listing = k.roomsOf(room);
    if (emptied === 1) await this.unlist(listing, k.room(room), ['ZREM', listing, room], ['ZADD', listing, '0', room]);
    return [removed, last === 1];
  }

  /** Removes an owner from a listing, then re-adds it if the owner's set filled again meanwhile (see the class comment). */
  private async unlist(listing: string, owner: string, remove: string[], add: string[]): Promise<void> {
    await this.cmd(listing, remove);
    if ((await this.cmd<number>(owner, ['EXISTS', owner])) === 1) await this.cmd(listing, add);
  }

  async getUser(userId: UserId): Promise<SocketInfo[]> {
    const k = this.keys;
    const ids = await this.cmd<string[]>(k.user(userId), ['SMEMBERS', k.user(userId)]);
    const sockets = await Promise.all(
      ids.map(async (id) => {
        const [flat, rooms] = await Promise.all([this.cmd<Record<string, string>>(k.socket(id), ['HGETALL', k.socket(id)]), this.cmd<string[]>(k.socketRooms(id), ['SMEMBERS', k.socketRooms(id)])]);
        const info = hash(flat);
        if (!info.nodeId || info.gone !== undefined) return null;
        return { id, nodeId: info.nodeId, connectedAt: Number(info.connectedAt), rooms: rooms.sort(cmp) };
      }),
    );
    return sockets.filter((s): s is SocketInfo => s !== null).sort(bySocketAge);
  }

  async getRoom(room: Room): Promise<RoomDetail | null> {
    const k = this.keys;
    const [sockets, flat] = await Promise.all([this.cmd<number>(k.room(room), ['SCARD', k.room(room)]), this.cmd<Record<string, string>>(k.roomUsers(room), ['HGETALL', k.roomUsers(room)])]);
    if (sockets === 0) return null;
    const users = Object.entries(hash(flat))
      .map(([userId, n]) => ({ userId, sockets: Number(n) }))
      .sort((a, b) => cmp(a.userId, b.userId));
    return { room, sockets, users };
  }

  async listRooms(opts: { prefix?: string; limit: number; cursor?: string; app?: AppId | null }): Promise<RoomPage> {
    const k = this.keys;
    const listing = k.appRooms(opts.app ?? null);
    const prefix = opts.prefix ?? '';
    let from = opts.cursor !== undefined && opts.cursor >= prefix ? `(${opts.cursor}` : prefix ? `[${prefix}` : '-';
    const rooms: RoomPage['rooms'] = [];
    // Names sort by bytes, so every name with the prefix is contiguous and the first one without
    // it ends the listing. Names whose room just emptied are skipped, so a page may take more reads.
    for (;;) {
      const want = opts.limit + 1 - rooms.length;
      const fetched = await this.cmd<string[]>(listing, ['ZRANGEBYLEX', listing, from, '+', 'LIMIT', '0', String(want)]);
      const names = [];
      for (const n of fetched) {
        if (!n.startsWith(prefix)) break;
        names.push(n);
      }
      const counted = await Promise.all(
        names.map(async (room) => {
          const [sockets, users] = await Promise.all([this.cmd<number>(k.room(room), ['SCARD', k.room(room)]), this.cmd<number>(k.roomUsers(room), ['HLEN', k.roomUsers(room)])]);
          return { room, sockets, users };
        }),
      );
      rooms.push(...counted.filter((r) => r.sockets > 0));
      if (rooms.length > opts.limit || names.length < fetched.length || fetched.length < want) break;
      from = `(${names[names.length - 1]!}`;
    }
    const page = rooms.slice(0, opts.limit);
    return { rooms: page, cursor: rooms.length > opts.limit ? page[page.length - 1]!.room : null };
  }

  async countRecipients(t: PushTargets): Promise<number> {
    const k = this.keys;
    const sets = [...t.users.map((u) => k.members(userRoom(u))), ...t.rooms.map((r) => k.room(r))];
    if (sets.length === 1 && t.socketIds.length === 0) return COUNT_MEMBERS.run<number>(this.redis, [sets[0]!], t.except);
    return (await this.recipients(t)).size;
  }

  /** The distinct sockets a push reaches, read set by set (they live in different slots). */
  async recipients(t: PushTargets): Promise<Set<SocketId>> {
    const k = this.keys;
    const sets = [...t.users.map((u) => k.user(u)), ...t.rooms.map((r) => k.room(r))];
    const [members, known] = await Promise.all([Promise.all(sets.map((s) => this.cmd<string[]>(s, ['SMEMBERS', s]))), Promise.all(t.socketIds.map((id) => this.cmd<number>(k.socket(id), ['EXISTS', k.socket(id)])))]);
    const seen = new Set<SocketId>(members.flat());
    t.socketIds.forEach((id, i) => known[i] === 1 && seen.add(id));
    for (const id of t.except) seen.delete(id);
    return seen;
  }

  async removeNode(nodeId: NodeId, opts: { onlyIfDead?: boolean } = {}): Promise<number> {
    const k = this.keys;
    let removed = 0;
    for (;;) {
      // A node that heart-beats again mid-reap keeps the rest (and re-publishes what was lost).
      if (opts.onlyIfDead && (await NODE_EXPIRED.run<number>(this.redis, [k.nodeExpiries], [nodeId])) === 0) return removed;
      const ids = await this.cmd<string[]>(k.node(nodeId), ['SRANDMEMBER', k.node(nodeId), String(REAP_BATCH)]);
      if (ids.length === 0) return removed;
      const done = await Promise.all(ids.map((id) => this.remove(id, nodeId)));
      removed += done.filter(Boolean).length;
    }
  }

  async socketsOfNode(nodeId: NodeId): Promise<{ socketId: SocketId; rooms: Room[] }[]> {
    const k = this.keys;
    const ids = await this.cmd<string[]>(k.node(nodeId), ['SMEMBERS', k.node(nodeId)]);
    return Promise.all(ids.map(async (socketId) => ({ socketId, rooms: await this.cmd<string[]>(k.socketRooms(socketId), ['SMEMBERS', k.socketRooms(socketId)]) })));
  }

  async totals(): Promise<{ sockets: number; users: number; rooms: number }> {
    const k = this.keys;
    const nodes = await this.cmd<string[]>(k.owners, ['SMEMBERS', k.owners]);
    const [perNode, perApp] = await Promise.all([Promise.all(nodes.map((n) => this.cmd<number>(k.node(n), ['SCARD', k.node(n)]))), Promise.all([null, ...this.apps].map((a) => this.appTotals(a)))]);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    return { sockets: sum(perNode), users: sum(perApp.map((t) => t.users)), rooms: sum(perApp.map((t) => t.rooms)) };
  }

  async appTotals(app: AppId | null): Promise<{ users: number; rooms: number }> {
    const k = this.keys;
    const [users, rooms] = await Promise.all([this.cmd<number>(k.appUsers(app), ['SCARD', k.appUsers(app)]), this.cmd<number>(k.appRooms(app), ['ZCARD', k.appRooms(app)])]);
    return { users, rooms };
  }

  private cmd<T>(key: string, args: string[]): Promise<T> {
    return send<T>(this.redis, key, args);
  }
}
