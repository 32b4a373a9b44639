/**
 * The contract's error catalogue: every code a client or backend can see, with its HTTP status.
 * Socket acknowledgements reuse the same codes (their status is informative only).
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  RATE_LIMIT_EXCEEDED: 429,
  NO_BACKEND: 501,
  BACKEND_ERROR: 502,
  BACKEND_UNAVAILABLE: 503,
  BACKEND_TIMEOUT: 504,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Codes a refused Socket.IO handshake ends with (`connect_error` → `err.message`, `err.data.code`). */
export type HandshakeErrorCode = 'UNAUTHORIZED' | 'TOKEN_EXPIRED' | 'RATE_LIMITED';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}
