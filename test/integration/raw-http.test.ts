import { connect } from 'node:net';
import request from 'supertest';
import { ADMIN_KEY, startNode, type TestNode } from '../support/node';

/** Sends raw bytes and resolves with everything the server answers before it closes. */
function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (b) => (out += b.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('requests Node’s HTTP parser refuses', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(() => node.stop());

  it.each([
    ['a broken request line', 'GARBAGE\r\n\r\n', 400],
    ['a header without a colon', 'GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n', 400],
    ['headers over the size limit', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
  ])('answers %s in the envelope with BAD_REQUEST and stays healthy', async (_name, text, status) => {
    const answer = await raw(node.port, text);
    const [head, body] = answer.split('\r\n\r\n');
    expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    const json = JSON.parse(body!);
    expect(json).toEqual({ success: false, error: { code: 'BAD_REQUEST', message: expect.any(String) }, meta: { requestId: expect.any(String), timestamp: expect.any(String) } });
    await request(node.url).get('/api/v1/status').set('Authorization', `Bearer ${ADMIN_KEY}`).expect(200);
  });
});
