import { Router } from 'express';
import type { StatusResponse } from '../../../contracts/api';
import { sendData } from '../../envelope';
import { requireScope } from '../../middleware/api-key';
import { fromStore } from './rooms';

export function statusRoutes(status: () => Promise<StatusResponse>): Router {
  const r = Router();
  r.get('/status', requireScope('read'), async (req, res) => {
    sendData(req, res, await fromStore(status));
  });
  return r;
}
