import Transport from 'winston-transport';
import type { LogLine } from '../contracts/api';

export type { LogLine };

/**
 * Keeps this node's last N log lines for the dashboard. It sits behind the logger's redaction
 * format like every other transport, so it never holds a token or key.
 * @default capacity 1000
 */
export class LogBuffer extends Transport {
  private readonly lines: LogLine[] = [];

  constructor(
    private readonly capacity = 1000,
    level = 'debug',
  ) {
    super({ level });
  }

  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    const { level, message, timestamp, nodeId, ...rest } = info as Record<string, unknown>;
    const meta: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) if (typeof k === 'string') meta[k] = v;
    this.lines.push({ ts: String(timestamp ?? new Date().toISOString()), level: String(level), message: String(message), nodeId: String(nodeId ?? ''), meta });
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
    callback();
  }

  /** Newest first. */
  recent(opts: { limit: number; minLevel?: string }): LogLine[] {
    const order = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];
    const max = opts.minLevel ? order.indexOf(opts.minLevel) : order.length;
    const out: LogLine[] = [];
    for (let i = this.lines.length - 1; i >= 0 && out.length < opts.limit; i--) {
      const line = this.lines[i]!;
      if (order.indexOf(line.level) <= max) out.push(line);
    }
    return out;
  }
}
