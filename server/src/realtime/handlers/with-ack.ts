import type { AckResponse } from '../../contracts/socket-events';
import { isAppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';

/**
 * The one place socket handler results become acknowledgements: AppError → its code, anything else
 * → INTERNAL_ERROR (logged, details hidden). A client that sent no ack callback still gets the work
 * done; its failures are logged at debug level.
 */
export async function withAck<T>(logger: Logger, context: Record<string, unknown>, ack: unknown, work: () => Promise<T>): Promise<void> {
  let response: AckResponse<T>;
  try {
    const data = await work();
    response = data === undefined ? { ok: true } : { ok: true, data };
  } catch (err) {
    if (isAppError(err)) {
      response = { ok: false, error: err.toBody() };
      logger.debug('socket event refused', { ...context, code: err.code });
    } else {
      logger.error('socket handler failed', { ...context, error: err });
      response = { ok: false, error: { code: 'INTERNAL_ERROR', message: 'Internal error' } };
    }
  }
  if (typeof ack === 'function') ack(response);
}

/** Splits Socket.IO event arguments into payload and the trailing ack callback (if any). */
export function splitArgs(args: unknown[]): { payload: unknown; ack: unknown } {
  const last = args[args.length - 1];
  const ack = typeof last === 'function' ? last : undefined;
  const rest = ack ? args.slice(0, -1) : args;
  return { payload: rest.length <= 1 ? (rest[0] ?? null) : rest, ack };
}
