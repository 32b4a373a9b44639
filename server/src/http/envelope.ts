import type { Request, Response } from 'express';
import type { Envelope } from '../contracts/api';
import type { ErrorBody } from '../contracts/error-codes';

function meta(req: Request) {
  return { requestId: String(req.requestId ?? ''), timestamp: new Date().toISOString() };
}

export function sendData<T>(req: Request, res: Response, data: T, status = 200): void {
  const body: Envelope<T> = { success: true, data, meta: meta(req) };
  res.status(status).json(body);
}

export function sendError(req: Request, res: Response, status: number, error: ErrorBody): void {
  const body: Envelope<never> = { success: false, error, meta: meta(req) };
  res.status(status).json(body);
}
