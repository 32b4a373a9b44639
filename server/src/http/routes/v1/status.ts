import { Router } from 'express';
import type { AppConfig } from '../../../config/config';
import type { StatusResponse } from '../../../contracts/api';
import { sendData } from '../../envelope';
import { requireScope } from '../../middleware/api-key';
import { fromStore } from './rooms';

/**
 * The whole cluster, or one app's share of it when the request names an app (or its key is
 * limited to one).
 */
export function statusRoutes(status: (app?: AppConfig) => Promise<StatusResponse>): Router {
  const r = Router();
  r.get('/status', requireScope('read'), async (req, res) => {
    sendData(req, res, await fromStore(() => status(req.appNamed ? req.pgApp : undefined)));
  });
  return r;
}
