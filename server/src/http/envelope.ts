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

/** The error envelope; also for answers written without Express (client-error.ts). */
export function errorEnvelope(requestId: string, error: ErrorBody): Envelope<never> {
  return { success: false, error, meta: { requestId, timestamp: new Date().toISOString() } };
}

export function sendError(req: Request, res: Response, status: number, error: ErrorBody): void {
  res.status(status).json(errorEnvelope(String(req.requestId ?? ''), error));
}
