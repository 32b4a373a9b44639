import { Router } from 'express';
import { batchBody, broadcastBody, pushBody } from '../../../contracts/api';
import { checkRoomName } from '../../../realtime/room-manager';
import type { PushService } from '../../../routing/push-service';
import { sendData } from '../../envelope';
import { requireScope } from '../../middleware/api-key';
import { parse } from '../../validate';

/** Every push is for the request's app (middleware/app.ts), in that app's names. */
export function pushRoutes(push: PushService): Router {
  const r = Router();
  r.post('/push', requireScope('push'), async (req, res) => {
    sendData(req, res, await push.push(parse(pushBody, req.body), req.pgApp));
  });
  r.post('/rooms/:room/broadcast', requireScope('push'), async (req, res) => {
    const room = checkRoomName(req.params.room);
    sendData(req, res, await push.broadcast(room, parse(broadcastBody, req.body), req.pgApp));
  });
  r.post('/batch', requireScope('push'), async (req, res) => {
    const { messages } = parse(batchBody, req.body);
    sendData(req, res, { results: await push.batch(messages, req.pgApp) });
  });
  return r;
}
