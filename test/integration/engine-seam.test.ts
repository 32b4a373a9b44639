import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { io as ioClient, type Socket as ClientSocket } from 'socket.io-client';
import * as wsLib from 'ws';
import { CoalescingWriter } from '../../server/src/delivery/coalescing-writer';
import { directSocket, engineMessageFrame, SEAM_TESTED } from '../../server/src/delivery/engine-seam';
import { LocalDelivery } from '../../server/src/delivery/local-delivery';
import { DeliveryGate } from '../../server/src/delivery/delivery-gate';
import type { PgSocket } from '../../server/src/realtime/types';
import { ioServerForTests } from '../support/io-server';

/*
 * What the delivery fast path relies on below Socket.IO's public API (server/src/delivery/
 * engine-seam.ts), checked against the installed Socket.IO, Engine.IO and ws. If an upgrade
 * changes any of it, this file fails, by name, before anything is delivered wrongly.
 */

/** The version of `pkg` that a module in `fromDir` loads (Node's lookup: nearest node_modules up the tree). */
function installedVersion(pkg: string, fromDir: string): { version: string; dir: string } {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', pkg, 'package.json');
    if (existsSync(candidate)) return { version: (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version, dir: dirname(candidate) };
    if (dirname(dir) === dir) throw new Error(`${pkg} is not installed where ${fromDir} looks`);
  }
}

/** ws' frame builder, which Socket.IO's own broadcast uses (not in ws' type declarations). */
const { Sender } = wsLib as unknown as { Sender: { frame(data: Buffer, opts: Record<string, unknown>): Buffer[] } };

const serverSockets = new Map<string, PgSocket>();
// Heartbeats every 50 ms, so a test can see many of them pass while direct writes flow.
const rig = ioServerForTests({ pingInterval: 50, pingTimeout: 400, perMessageDeflate: true }, (s) => {
  serverSockets.set(s.id, s);
  void s.join('seam');
  s.emit('ready' as never, s.id as never);
});

/** A connected client and its server-side socket. */
async function pair(opts: Record<string, unknown> = {}): Promise<{ client: ClientSocket; server: PgSocket; got: unknown[][] }> {
  const client = ioClient(rig.url, { transports: ['websocket'], forceNew: true, reconnection: false, perMessageDeflate: false, ...opts } as never);
  rig.clients.push(client);
  const got: unknown[][] = [];
  client.onAny((event: string, ...args: unknown[]) => {
    if (event !== 'ready') got.push([event, ...args]);
  });
  const id = await new Promise<string>((r) => client.once('ready' as never, r as never));
  return { client, server: serverSockets.get(id)!, got };
}

const until = async (check: () => boolean) => {
  while (!check()) await new Promise((r) => setImmediate(r));
};

describe('the engine seam of the delivery fast path', () => {
  it('runs on the Socket.IO, Engine.IO and ws versions it was tested with (package.json pins them)', () => {
    const sio = installedVersion('socket.io', process.cwd());
    const eio = installedVersion('engine.io', sio.dir);
    const ws = installedVersion('ws', eio.dir);
    expect({ 'socket.io': sio.version, 'engine.io': eio.version, ws: ws.version }).toEqual(SEAM_TESTED);
    const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies).toMatchObject(SEAM_TESTED);
  });

  it('builds the same WebSocket frame as ws does for Engine.IO message packets of every length class', () => {
    for (const length of [0, 100, 124, 125, 126, 5000, 65534, 65535, 70000]) {
      const packet = `2["e","${'é'.repeat(Math.floor(length / 2))}${'x'.repeat(length % 2)}"]`;
      const expected = Buffer.concat(Sender.frame(Buffer.from(`4${packet}`), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
      expect(engineMessageFrame(packet).equals(expected)).toBe(true);
    }
  });

  it('finds the TCP connection of a WebSocket socket, and bytes written there arrive as a Socket.IO event', async () => {
    const { server, got } = await pair();
    const tcp = directSocket(server);
    expect(tcp).not.toBeNull();
    tcp!.write(engineMessageFrame('2["direct",{"n":1},{"id":"a"}]'));
    await until(() => got.length === 1);
    expect(got).toEqual([['direct', { n: 1 }, { id: 'a' }]]);
  });

  it('refuses sockets on long-polling', async () => {
    const { server } = await pair({ transports: ['polling'] });
    expect(server.conn.transport.name).toBe('polling');
    expect(directSocket(server)).toBeNull();
  });

  it('refuses sockets that negotiated permessage-deflate', async () => {
    const { server } = await pair({ perMessageDeflate: { threshold: 0 } });
    expect(directSocket(server)).toBeNull();
  });

  it('refuses a socket while the recovery gate wraps its writeToEngine, and takes it again once the gate is gone', async () => {
    const { server } = await pair();
    const gate = new DeliveryGate(server, () => undefined);
    gate.hold();
    expect(directSocket(server)).toBeNull();
    gate.release();
    expect(directSocket(server)).not.toBeNull();
  });

  it('refuses a socket whose packets wait in Engine.IO (an earlier send still in flight), so nothing overtakes them', async () => {
    const { server, got } = await pair();
    server.emit('first' as never);
    // The first send is in flight until ws' write callback; the second waits in Engine.IO's buffer.
    server.emit('second' as never);
    expect((server.conn as unknown as { writeBuffer: unknown[] }).writeBuffer).toHaveLength(1);
    expect(directSocket(server)).toBeNull();
    // Once the buffer went to the transport, a direct write lands after both.
    await until(() => (server.conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length === 0 && directSocket(server) !== null);
    directSocket(server)!.write(engineMessageFrame('2["third"]'));
    await until(() => got.length === 3);
    expect(got.map((g) => g[0])).toEqual(['first', 'second', 'third']);
  });

  it('frames written and corked in one turn keep their places around what Socket.IO writes to the socket meanwhile', async () => {
    const { server, got } = await pair();
    const writer = new CoalescingWriter();
    writer.write(directSocket(server)!, engineMessageFrame('2["one"]'));
    server.emit('two' as never);
    writer.write(directSocket(server) ?? (null as never), engineMessageFrame('2["three"]'));
    await until(() => got.length === 3);
    expect(got.map((g) => g[0])).toEqual(['one', 'two', 'three']);
    // 'one' left at once (a quiet turn), 'three' corked, behind Socket.IO's 'two'.
    expect(writer.flushes).toBe(2);
  });

  it('a push with binary data (not something the JSON API produces) goes through Socket.IO, attachments and all', async () => {
    const { got } = await pair();
    const delivery = new LocalDelivery(rig.io);
    expect(delivery.send(['seam'], [], 'bin', { blob: Buffer.from([1, 2, 3]) }, { id: 'b', ts: 0 })).toBe(1);
    await until(() => got.length === 1);
    expect(got[0]![0]).toBe('bin');
    expect([...(got[0]![1] as { blob: Buffer }).blob]).toEqual([1, 2, 3]);
    expect(delivery.counts()).toMatchObject({ direct: 0, engine: 1 });
  });

  it('heartbeats go on while a socket gets nothing but coalesced direct writes', async () => {
    const { client, got } = await pair();
    const delivery = new LocalDelivery(rig.io);
    let pings = 0;
    client.io.engine.on('ping', () => (pings += 1));
    let sent = 0;
    // Several pushes per turn, turn after turn, until the client has answered 8 pings.
    while (pings < 8) {
      for (let i = 0; i < 5; i++) delivery.send(['seam'], [], 'tick', { n: sent++ }, { id: String(sent), ts: 0 });
      await new Promise((r) => setImmediate(r));
    }
    await until(() => got.length === sent);
    expect(client.connected).toBe(true);
    expect(got.map((g) => (g[1] as { n: number }).n)).toEqual(Array.from({ length: sent }, (_, i) => i));
    expect(delivery.counts().direct).toBe(sent);
    expect(delivery.counts().flushes).toBeLessThan(sent);
  });
});
