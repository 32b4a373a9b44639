import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, redactText } from '../../server/src/lib/logger';

describe('logger redaction', () => {
  const capture = () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
    return { lines, logger: createLogger({ nodeId: 'n1', transports: [new winston.transports.Stream({ stream })] }) };
  };
  const jwtLike = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ';

  it('never writes tokens, keys or signatures, by key name or inside text', () => {
    const { lines, logger } = capture();
    logger.info(`handshake with ${jwtLike}`, {
      token: jwtLike,
      apiKey: 'k_secret_key',
      headers: { authorization: 'Bearer k_secret_key', 'x-signature': 'sha256=abcdef0123456789abcdef' },
      url: '/socket.io/?token=abc.def.ghi&EIO=4',
      nested: { deeper: [{ secret: 's3cr3t' }] },
    });
    const out = lines.join('\n');
    for (const secret of [jwtLike, 'k_secret_key', 'abcdef0123456789abcdef', 'abc.def.ghi', 's3cr3t']) expect(out).not.toContain(secret);
    expect(JSON.parse(lines[0]!)).toMatchObject({ nodeId: 'n1', level: 'info' });
  });

  it('redactText hides bearer credentials and token query strings', () => {
    expect(redactText('Authorization: Bearer abc123')).toBe('Authorization: Bearer [REDACTED]');
    expect(redactText('GET /x?token=abc&y=1')).toBe('GET /x?token=[REDACTED]&y=1');
  });
});
