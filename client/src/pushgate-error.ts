/** A refusal from pushgate (`{ ok: false, error }`) or a helper failure, with a contract error code. */
export class PushgateError extends Error {
  readonly code: string;
  readonly details?: unknown;

  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'PushgateError';
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}
