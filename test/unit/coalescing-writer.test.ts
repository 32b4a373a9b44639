import { createServer, connect, type Server, type Socket } from 'node:net';
import { CoalescingWriter } from '../../server/src/delivery/coalescing-writer';

/*
 * The writer behind the delivery fast path, on real loopback TCP connections. What leaves for the
 * kernel is counted by watching the sending socket's own _write / _writev (one call = one write or
 * writev syscall attempt); what arrives is read on the other end, in order.
 */

let server: Server;
const accepted: Socket[] = [];
const clients: Socket[] = [];

beforeAll(async () => {
  server = createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  for (const s of [...accepted, ...clients]) s.destroy();
  await new Promise((r) => server.close(r));
});

/** A connected pair: `out` is written by the test, `received()` is what the other end got so far. */
async function pair() {
  const before = accepted.length;
  const out = connect((server.address() as { port: number }).port, '127.0.0.1');
  clients.push(out);
  await new Promise((r) => out.once('connect', r));
  while (accepted.length === before) await new Promise((r) => setImmediate(r));
  let got = '';
  accepted[accepted.length - 1]!.on('data', (b: Buffer) => (got += b.toString()));
  const writes: number[] = [];
  const raw = out as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write1 = raw._write.bind(out);
  const writev = raw._writev.bind(out);
  raw._write = (...a) => {
    writes.push(1);
    write1(...a);
  };
  raw._writev = (chunks, ...rest) => {
    writes.push((chunks as unknown[]).length);
    writev(chunks, ...rest);
  };
  return { out, writes, received: () => got };
}

const turn = () => new Promise((r) => setImmediate(r));
const until = async (check: () => boolean) => {
  while (!check()) await turn();
};

describe('CoalescingWriter', () => {
  it('writes a lone frame at once, within the same turn, when the previous turn was quiet', async () => {
    const { out, writes, received } = await pair();
    const writer = new CoalescingWriter();
    writer.write(out, Buffer.from('a'));
    expect(writes).toEqual([1]);
    await until(() => received() === 'a');
  });

  it('corks a second frame for the same socket in a turn, then corks every frame from the first while the burst lasts, and goes back to writing at once when it ends', async () => {
    const { out, writes, received } = await pair();
    const writer = new CoalescingWriter();
    // Turn 1 (quiet so far): the first frame leaves at once, the other four in one writev.
    for (const c of 'abcde') writer.write(out, Buffer.from(c));
    expect(writes).toEqual([1]);
    await turn();
    expect(writes).toEqual([1, 4]);
    // Turn 2 (busy): all five in one writev.
    for (const c of 'fghij') writer.write(out, Buffer.from(c));
    expect(writes).toEqual([1, 4]);
    await turn();
    expect(writes).toEqual([1, 4, 5]);
    // Turn 3: one frame; still busy from turn 2, so it waits for the end of the turn.
    writer.write(out, Buffer.from('k'));
    await turn();
    expect(writes).toEqual([1, 4, 5, 1]);
    // Turn 4: quiet again, a lone frame leaves at once.
    writer.write(out, Buffer.from('l'));
    expect(writes).toEqual([1, 4, 5, 1, 1]);
    await until(() => received() === 'abcdefghijkl');
    expect(writer.flushes).toBe(5);
  });

  it('keeps call order with other writes made to a corked socket in the same turn', async () => {
    const { out, received } = await pair();
    const writer = new CoalescingWriter();
    writer.write(out, Buffer.from('1'));
    writer.write(out, Buffer.from('2'));
    out.write('3');
    writer.write(out, Buffer.from('4'));
    await until(() => received().length === 4);
    expect(received()).toBe('1234');
  });
});
