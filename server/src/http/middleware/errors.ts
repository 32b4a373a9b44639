import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, isAppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { sendError } from '../envelope';

export const notFound: RequestHandler = (req, _res, next) => {
  next(new AppError('NOT_FOUND', `No route for ${req.method} ${req.path}`));
};

/** body-parser's errors carry a `type`; map them onto the contract's codes. */
function fromBodyParser(err: { type?: string; status?: number; message?: string }): AppError | null {
  switch (err.type) {
    case 'entity.too.large':
      return new AppError('PAYLOAD_TOO_LARGE', 'The request body is larger than MAX_PAYLOAD_BYTES');
    case 'entity.parse.failed':
      return new AppError('BAD_REQUEST', 'The request body is not valid JSON');
    case 'encoding.unsupported':
    case 'charset.unsupported':
    case 'request.size.invalid':
    case 'request.aborted':
      return new AppError('BAD_REQUEST', err.message ?? 'The request body cannot be read');
  }
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) return new AppError('BAD_REQUEST', 'The request cannot be read');
  return null;
}

/**
 * The envelope for every error. Messages are shown only below 500; a 5xx says "Internal error" and
 * is logged with the request id so an operator can find it.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const appErr = isAppError(err) ? err : fromBodyParser(err ?? {});
    if (res.headersSent) return;
    if (appErr) {
      if (appErr.retryAfter !== undefined) res.setHeader('Retry-After', String(appErr.retryAfter));
      if (appErr.status >= 500) logger.warn('request failed', { requestId: req.requestId, code: appErr.code, error: appErr.message });
      sendError(req, res, appErr.status, appErr.toBody());
      return;
    }
    logger.error('unhandled error', { requestId: req.requestId, method: req.method, path: req.path, error: err });
    sendError(req, res, 500, { code: 'INTERNAL_ERROR', message: 'Internal error' });
  };
}
