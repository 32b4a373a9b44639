import { Writable } from 'node:stream';
import request from 'supertest';
import winston from 'winston';
import { createLogger } from '../../server/src/lib/logger';
import { ADMIN_KEY, startNode } from '../support/node';

async function accessLines(level: string): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger({ nodeId: 'access', level, transports: [new winston.transports.Stream({ stream: sink })] });
  const node = await startNode({ LOG_LEVEL: level }, { logger });
  try {
    await request(node.url).get('/api/v1/status?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl').set('Authorization', `Bearer ${ADMIN_KEY}`).expect(200);
  } finally {
    await node.stop();
  }
  return lines.filter((l) => l.source === 'access');
}

describe('the access log', () => {
  it('is written at LOG_LEVEL=http, with secrets in the URL redacted', async () => {
    const lines = await accessLines('http');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toMatch(/GET \/api\/v1\/status\?token=\[REDACTED\] 200/);
  });

  it('costs nothing and writes nothing at LOG_LEVEL=info', async () => {
    expect(await accessLines('info')).toEqual([]);
  });
});
