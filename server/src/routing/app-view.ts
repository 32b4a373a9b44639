import type { RoomDetail, SocketInfo } from '../contracts/api';
import { externalName, type AppScope } from '../contracts/app-scope';
import type { Room, UserId } from '../contracts/socket-events';
import type { PresenceStore, RoomPage } from '../cluster/presence-store';

/**
 * One app's reads of cluster-wide presence, in the app's own names: what /api/v1 and Pusher's API
 * answer with. The store holds every name qualified with its app (contracts/app-scope.ts); this is
 * the one place its answers are turned back, so no route can show one app another app's names.
 */
export class AppView {
  constructor(
    private readonly presence: PresenceStore,
    readonly scope: AppScope,
  ) {}

  async getRoom(room: Room): Promise<RoomDetail | null> {
    const detail = await this.presence.getRoom(this.scope.name(room));
    if (!detail) return null;
    return { room, sockets: detail.sockets, users: detail.users.map((u) => ({ userId: externalName(u.userId), sockets: u.sockets })) };
  }

  async getUser(userId: UserId): Promise<SocketInfo[]> {
    const sockets = await this.presence.getUser(this.scope.name(userId));
    return sockets.map((s) => ({ ...s, id: externalName(s.id), rooms: s.rooms.map(externalName) }));
  }

  /** `cursor` is the last room of the previous page, as the app names it. */
  async listRooms(opts: { prefix?: string; limit: number; cursor?: string }): Promise<RoomPage> {
    const { scope } = this;
    const page = await this.presence.listRooms({
      prefix: scope.roomPrefix(opts.prefix ?? ''),
      limit: opts.limit,
      ...(opts.cursor !== undefined ? { cursor: scope.name(opts.cursor) } : {}),
      app: scope.isDefault ? null : scope.id,
    });
    return { rooms: page.rooms.map((r) => ({ ...r, room: externalName(r.room) })), cursor: page.cursor === null ? null : externalName(page.cursor) };
  }
}
