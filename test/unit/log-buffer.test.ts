import { Writable } from 'node:stream';
import winston from 'winston';
import { LogBuffer } from '../../server/src/lib/log-buffer';
import { createLogger } from '../../server/src/lib/logger';

describe('LogBuffer', () => {
  function logged(level: string, buffer: LogBuffer) {
    const logger = createLogger({ nodeId: 'n1', level, transports: [new winston.transports.Stream({ stream: new Writable({ write: (_c, _e, cb) => cb() }) }), buffer] });
    logger.debug('noise');
    logger.http('GET /x 200');
    logger.info('started', { apiKey: 'k_secret_value' });
    logger.warn('slow');
    return buffer;
  }

  it('keeps only lines at the node’s level, newest first, redacted', () => {
    const lines = logged('info', new LogBuffer(10, 'info')).recent({ limit: 10 });
    expect(lines.map((l) => l.message)).toEqual(['slow', 'started']);
    expect(lines[1]!.meta.apiKey).toBe('[REDACTED]');
    expect(lines[1]!.nodeId).toBe('n1');
  });

  it('filters by a minimum level and keeps at most its capacity', () => {
    const buffer = logged('debug', new LogBuffer(3, 'debug'));
    expect(buffer.recent({ limit: 10 }).map((l) => l.message)).toEqual(['slow', 'started', 'GET /x 200']);
    expect(buffer.recent({ limit: 10, minLevel: 'warn' }).map((l) => l.message)).toEqual(['slow']);
    expect(buffer.recent({ limit: 1 }).map((l) => l.message)).toEqual(['slow']);
  });
});
