import { Router } from 'express';
import { listRoomsQuery, userId as userIdSchema } from '../../../contracts/api';
import type { PresenceStore } from '../../../cluster/presence-store';
import { AppError } from '../../../lib/errors';
import { checkRoomName, type RoomManager } from '../../../realtime/room-manager';
import { AppView } from '../../../routing/app-view';
import { sendData } from '../../envelope';
import { requireScope } from '../../middleware/api-key';
import { parse } from '../../validate';

/** Presence reads can fail while Redis is away: answer 503 so callers retry, never 500. */
export async function fromStore<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('SERVICE_UNAVAILABLE', 'Cluster state is unavailable; retry', { cause: err, retryAfter: 1 });
  }
}

/** Reads and membership changes of the request's app (middleware/app.ts), in that app's names. */
export function roomRoutes(presence: PresenceStore, rooms: Pick<RoomManager, 'addUser' | 'removeUser'>): Router {
  const r = Router();
  r.get('/rooms', requireScope('read'), async (req, res) => {
    const { app: _named, ...q } = parse(listRoomsQuery, req.query, 'query string');
    sendData(req, res, await fromStore(() => new AppView(presence, req.pgApp!.scope).listRooms(q)));
  });
  r.get('/rooms/:room', requireScope('read'), async (req, res) => {
    const room = checkRoomName(req.params.room);
    const detail = await fromStore(() => new AppView(presence, req.pgApp!.scope).getRoom(room));
    if (!detail) throw new AppError('NOT_FOUND', `Room ${room} has no members`);
    sendData(req, res, detail);
  });
  r.put('/rooms/:room/members/:userId', requireScope('manage'), async (req, res) => {
    const room = checkRoomName(req.params.room);
    const userId = parse(userIdSchema, req.params.userId, 'user id');
    const { scope } = req.pgApp!;
    sendData(req, res, { room, userId, sockets: await rooms.addUser(scope.name(userId), scope.name(room)) });
  });
  r.delete('/rooms/:room/members/:userId', requireScope('manage'), async (req, res) => {
    const room = checkRoomName(req.params.room);
    const userId = parse(userIdSchema, req.params.userId, 'user id');
    const { scope } = req.pgApp!;
    sendData(req, res, { room, userId, sockets: await rooms.removeUser(scope.name(userId), scope.name(room)) });
  });
  return r;
}
