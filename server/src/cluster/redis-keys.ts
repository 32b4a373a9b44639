import { appOfName, type AppId } from '../contracts/app-scope';
import { isPersonalRoom, PERSONAL_ROOM_PREFIX, type NodeId, type Room, type SocketId, type Stream, type UserId } from '../contracts/socket-events';

/**
 * Every Redis key and channel pushgate uses, grouped by owner with a hash tag so that what one
 * script touches sits in one hash slot, and a Redis Cluster spreads the owners over its shards:
 *
 *   {s:<socket>}   P:{s:<id>}            hash  userId, nodeId, connectedAt
 *                  P:{s:<id>}:rooms      set   rooms of the socket
 *   {n:<node>}     P:{n:<id>}:sockets    set   sockets the node owns (what a reaper removes)
 *   {u:<user>}     P:{u:<id>}:sockets    set   sockets of the user
 *                  + the user's personal stream (`user:<id>`), below
 *   {r:<room>}     P:{r:<room>}:sockets  set   sockets in the room
 *                  P:{r:<room>}:users    hash  userId → that user's sockets in the room
 *                  + the room's stream, below
 *   a stream       P:{…}:hmeta           hash  e (epoch), n (last sequence), w (writing primary)
 *                  P:{…}:hist            stream entries `<n>-0`, field m = message JSON
 *                  P:{…}:id:<message>    string this stream's part of a push: its offset (retries skip it)
 *   {m:<message>}  P:{m:<id>}            string a push's answer ("" while being admitted), for idempotent retries
 *   {g}            P:{g}:users           set   users with a socket      P:{g}:rooms  zset room names (score 0)
 *                  (another app than the default one: P:{g}:users:<app>, P:{g}:rooms:<app>)
 *                  P:{g}:nodes           hash  node → status JSON       P:{g}:nodes:exp zset node → expiry
 *                  P:{g}:owners          set   nodes with a socket set (the socket total adds their sizes)
 *   (own slot)     P:rl:<key>            rate-limit counters
 *   webhooks       P:{r:<room>}:wh / P:{u:<id>}:wh   stream  a room's / user's pending webhook events
 *                  P:{w:<app>}:outboxes  set   outboxes with something pending   P:{w:<app>}:lease  who sends
 *
 * Channels (sharded pub/sub, so each travels through the shard of its slot):
 *   P#{u:<id>} / P#{r:<room>}  a stream's pushes     P#{n:<node>}  pushes to socket ids on the node
 *   P#{n:<node>}#ack           receipt counts for the pushes the node admitted
 *
 * A name holding `}` ends its tag early (Redis hashes up to the first `}`); every key of that owner
 * is cut the same way, so they still share a slot. REDIS_PREFIX must not contain braces, or every
 * key would hash by the prefix into one slot.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  socket(id: SocketId): string {
    return `${this.prefix}:{s:${id}}`;
  }

  socketRooms(id: SocketId): string {
    return `${this.prefix}:{s:${id}}:rooms`;
  }

  node(id: NodeId): string {
    return `${this.prefix}:{n:${id}}:sockets`;
  }

  user(id: UserId): string {
    return `${this.prefix}:{u:${id}}:sockets`;
  }

  room(room: Room): string {
    return `${this.prefix}:{r:${room}}:sockets`;
  }

  roomUsers(room: Room): string {
    return `${this.prefix}:{r:${room}}:users`;
  }

  /** The set whose members a push to the stream reaches: the user's sockets, or the room's. */
  members(stream: Stream): string {
    return `${this.prefix}:{${tag(stream)}}:sockets`;
  }

  meta(stream: Stream): string {
    return `${this.prefix}:{${tag(stream)}}:hmeta`;
  }

  history(stream: Stream): string {
    return `${this.prefix}:{${tag(stream)}}:hist`;
  }

  /** A push's part in the slot of `owner` (a stream, or the first socket id's record). */
  part(owner: string, messageId: string): string {
    return `${owner}:id:${messageId}`;
  }

  /** The slot owner of a stream, for part(). */
  streamOwner(stream: Stream): string {
    return `${this.prefix}:{${tag(stream)}}`;
  }

  /** A push's answer, found by its id alone. */
  message(id: string): string {
    return `${this.prefix}:{m:${id}}`;
  }

  /** The users-online set of an app (null: the default app, whose key is the one pushgate always used). */
  appUsers(app: AppId | null): string {
    return app === null ? `${this.prefix}:{g}:users` : `${this.prefix}:{g}:users:${app}`;
  }

  /** The users-online set a (qualified) user id is listed in. */
  usersOf(userId: UserId): string {
    return this.appUsers(appOfName(userId));
  }

  /** The room index of an app (null: the default app). */
  appRooms(app: AppId | null): string {
    return app === null ? `${this.prefix}:{g}:rooms` : `${this.prefix}:{g}:rooms:${app}`;
  }

  /** The room index a (qualified) room is listed in. */
  roomsOf(room: Room): string {
    return this.appRooms(appOfName(room));
  }

  /** Nodes that have (or had) a socket set: what the cluster's socket total adds up. */
  get owners(): string {
    return `${this.prefix}:{g}:owners`;
  }

  get nodes(): string {
    return `${this.prefix}:{g}:nodes`;
  }

  get nodeExpiries(): string {
    return `${this.prefix}:{g}:nodes:exp`;
  }

  /** A room's webhook outbox (cluster/webhook-store.ts), in the room's slot. */
  roomOutbox(room: Room): string {
    return `${this.prefix}:{r:${room}}:wh`;
  }

  /** A user's webhook outbox, in the user's slot. */
  userOutbox(userId: UserId): string {
    return `${this.prefix}:{u:${userId}}:wh`;
  }

  /** The outboxes of an app that may hold pending webhook events. */
  webhookIndex(app: AppId): string {
    return `${this.prefix}:{w:${app}}:outboxes`;
  }

  /** Who sends an app's webhooks now. */
  webhookLease(app: AppId): string {
    return `${this.prefix}:{w:${app}}:lease`;
  }

  rateLimit(key: string): string {
    return `${this.prefix}:rl:${key}`;
  }

  streamChannel(stream: Stream): string {
    return `${this.prefix}#{${tag(stream)}}`;
  }

  nodeChannel(node: NodeId): string {
    return `${this.prefix}#{n:${node}}`;
  }

  ackChannel(node: NodeId): string {
    return `${this.prefix}#{n:${node}}#ack`;
  }
}

/** A stream's hash tag: the user's for a personal stream (where their sockets are), the room's otherwise. */
function tag(stream: Stream): string {
  return isPersonalRoom(stream) ? `u:${stream.slice(PERSONAL_ROOM_PREFIX.length)}` : `r:${stream}`;
}
