import { ERROR_STATUS, type ErrorBody, type ErrorCode } from '../contracts/error-codes';

/** The one error type pushgate throws on purpose; everything else is an internal error. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  /** Seconds a client should wait (429 / 503 answers carry it as Retry-After). */
  readonly retryAfter?: number;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { status?: number; details?: unknown; cause?: unknown; retryAfter?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = opts.status ?? ERROR_STATUS[code];
    this.details = opts.details;
    this.retryAfter = opts.retryAfter;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.details !== undefined) body.details = this.details;
    return body;
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/** Field-level details from a zod-like issue list, for BAD_REQUEST answers. */
export function badRequest(message: string, issues?: { path: PropertyKey[]; message: string }[]): AppError {
  const details = issues?.map((i) => ({ field: i.path.map(String).join('.') || '(root)', message: i.message }));
  return new AppError('BAD_REQUEST', message, { details });
}
