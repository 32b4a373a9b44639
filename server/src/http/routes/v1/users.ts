import { Router } from 'express';
import { userId as userIdSchema } from '../../../contracts/api';
import type { PresenceStore } from '../../../cluster/presence-store';
import { AppView } from '../../../routing/app-view';
import { sendData } from '../../envelope';
import { requireScope } from '../../middleware/api-key';
import { parse } from '../../validate';
import { fromStore } from './rooms';

/** Users of the request's app (middleware/app.ts); `disconnect` takes the qualified user id. */
export function userRoutes(presence: PresenceStore, disconnect: (userId: string) => Promise<number>): Router {
  const r = Router();
  r.get('/users/:userId', requireScope('read'), async (req, res) => {
    const userId = parse(userIdSchema, req.params.userId, 'user id');
    const sockets = await fromStore(() => new AppView(presence, req.pgApp!.scope).getUser(userId));
    sendData(req, res, { userId, online: sockets.length > 0, sockets });
  });
  r.delete('/users/:userId/connections', requireScope('manage'), async (req, res) => {
    const userId = parse(userIdSchema, req.params.userId, 'user id');
    sendData(req, res, { userId, disconnected: await disconnect(req.pgApp!.scope.name(userId)) });
  });
  return r;
}
