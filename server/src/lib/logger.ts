import winston from 'winston';

export type Logger = winston.Logger;

/** Keys whose values are secrets: replaced before any transport sees them. */
const SECRET_KEY = /token|secret|password|authorization|api[-_]?key|signature|cookie|^key$/i;
/** Secrets that hide inside free text: bearer credentials, JWTs, `token=` query strings. */
const SECRET_TEXT: [RegExp, string][] = [
  [/(bearer\s+)[^\s"',]+/gi, '$1[REDACTED]'],
  [/eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g, '[REDACTED_JWT]'],
  [/([?&](?:token|api_key|apikey|key)=)[^&\s"]+/gi, '$1[REDACTED]'],
  [/(sha256=)[0-9a-f]{16,}/gi, '$1[REDACTED]'],
];

export function redactText(text: string): string {
  let out = text;
  for (const [re, rep] of SECRET_TEXT) out = out.replace(re, rep);
  return out;
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return { name: value.name, message: redactText(value.message), stack: value.stack && redactText(value.stack) };
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '[REDACTED]' : redactValue(v, depth + 1);
  return out;
}

const redact = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level') continue;
    info[key] = SECRET_KEY.test(key) ? '[REDACTED]' : redactValue(info[key], 0);
  }
  return info;
});

export interface LoggerOptions {
  level?: string;
  nodeId: string;
  /** Extra transports (tests capture lines with a stream transport). */
  transports?: winston.transport[];
  /** @default false: JSON lines; true prints a short human format for local development. */
  pretty?: boolean;
}

/** One winston logger per node (no module state, so several nodes can share a test process). */
export function createLogger(opts: LoggerOptions): Logger {
  const format = winston.format.combine(
    redact(),
    winston.format.timestamp(),
    opts.pretty
      ? winston.format.printf((i) => `${i.timestamp} ${i.level} ${i.message}${i.requestId ? ` [${i.requestId}]` : ''}`)
      : winston.format.json(),
  );
  return winston.createLogger({
    level: opts.level ?? 'info',
    defaultMeta: { nodeId: opts.nodeId },
    format,
    transports: opts.transports ?? [new winston.transports.Console()],
  });
}
