import type { HistoryEntry, HistoryRead, HistoryStore } from '../cluster/history-store';
import { formatOffset, parseOffset } from '../cluster/history-store';
import type { JoinResult, Offset, PushMeta, RecoveredPayload, Room, Stream, StreamRecovery } from '../contracts/socket-events';
import { isPersonalRoom, userRoom } from '../contracts/socket-events';
import { externalName } from '../contracts/app-scope';
import { AppError, isAppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import { DeliveryGate } from '../delivery/delivery-gate';
import { checkRoomName, type RoomManager } from './room-manager';
import { presenceId } from './connection-manager';
import { bufferedBytes, cutTransport } from '../delivery/slow-consumer-guard';
import type { PgSocket } from './types';

/** Rooms whose last message a join delivers (Pusher's cache channels). */
export const CACHE_PREFIX = 'cache-';

/** Streams one handshake may ask to recover; more are answered `recovered: false` with BAD_REQUEST. */
export const MAX_RECOVER_STREAMS = 100;

/**
 * Messages per history read while replaying. A read holds one page in the node's memory (the
 * Redis store also ends a page at 1 MiB of messages), so a gap of HISTORY_SIZE large messages is
 * never in memory at once; 100 keeps the round trips per gap few (10 for the default 1,000).
 */
export const REPLAY_PAGE_ENTRIES = 100;

/**
 * A replay pauses once the socket's unsent data passes this, and goes on when it is drained to a
 * quarter of it. The kernel's send buffer, not this one, is what keeps the link busy while the node
 * refills, so a small mark costs no throughput, and it stays far below MAX_SOCKET_BUFFER_BYTES
 * (8 MiB by default): a client reading normally is never taken for a slow consumer while it
 * recovers. At most this plus one message (per stream being replayed) waits in user space.
 */
export const REPLAY_HIGH_WATER_BYTES = 256 * 1024;

/**
 * A paused replay whose socket took none of its unsent data for this long gives up: the transport
 * is cut as the slow-consumer guard would cut it, so a client that stopped reading does not keep a
 * page, its buffer and its held live messages in memory. Engine.IO's heartbeat (25 s + 20 s) cuts
 * such a client too; this bounds the wait whatever the heartbeat settings. A client that reads
 * slowly but steadily keeps moving bytes and is never cut by it.
 */
export const REPLAY_STALL_MS = 30_000;
const STALL_CHECK_MS = 1000;

/** Why a replay stopped before its end: the socket went away (or was cut), or it stopped reading. */
type Interrupted = 'closed' | 'stalled';

/**
 * Recovery of missed messages (`auth.recover` on connect, `room:join { since }`): for each stream,
 * join it, read what followed the client's offset and replay it in order through the socket's
 * DeliveryGate, then report `recovered`. Works on any node: the history is cluster-wide.
 */
export class Recovery {
  /** The gate of each socket being recovered (or just recovered); a gate removes itself when done. */
  private readonly gates = new WeakMap<PgSocket, DeliveryGate>();

  constructor(
    private readonly deps: {
      history: HistoryStore | null;
      rooms: RoomManager;
      metrics: Metrics;
      logger: Logger;
      /** Where a stream stood when a socket of this node joined it (the node notices missed pushes from there). */
      seen?: (stream: Stream, offset: Offset) => void;
    },
  ) {}

  /**
   * Sets up a new connection: `join` puts the socket in its personal room and registers it (in a
   * cluster: the node listens to its stream, then presence counts it), then the welcome goes out
   * with the personal stream's position, then the streams in `recover` are replayed. Nothing live
   * reaches the socket before the welcome or before a replayed message, and a push made after the
   * welcome counts and reaches the socket.
   */
  async connect(socket: PgSocket, join: () => Promise<void>, welcome: (offsets?: Record<Stream, Offset>) => void, recover: unknown): Promise<void> {
    const history = this.deps.history;
    if (!history) {
      await join();
      welcome();
      if (recover !== undefined && recover !== null) socket.emit('recovered', await this.rejoinOnly(socket, recover));
      return;
    }
    const gate = this.gateOf(socket);
    gate.hold();
    try {
      const registered = join();
      const personal = userRoom(socket.data.userId);
      const offsets: Record<Stream, Offset> = {};
      try {
        offsets[personal] = await history.position(personal);
        this.deps.seen?.(personal, offsets[personal]);
      } catch (err) {
        this.deps.logger.warn('history: could not read the personal stream position', { socketId: socket.id, error: (err as Error).message });
      }
      await registered;
      gate.pass(() => welcome(offsets));
      if (recover === undefined || recover === null) return;
      const report = await this.recoverAll(socket, recover);
      gate.pass(() => socket.emit('recovered', report));
    } finally {
      gate.release();
    }
  }

  /** `room:join` with or without `since`; the caller has counted the event. */
  async join(socket: PgSocket, rawRoom: unknown, since: unknown): Promise<JoinResult> {
    const history = this.deps.history;
    if (!history) {
      const room = externalName(await this.deps.rooms.join(socket, rawRoom));
      if (since !== undefined) socket.emit('recovered', { streams: { [room]: { recovered: false, replayed: 0 } } });
      return { room };
    }
    if (since === undefined && typeof rawRoom === 'string' && rawRoom.startsWith(CACHE_PREFIX) && !socket.rooms.has(socket.data.app.name(rawRoom))) {
      const cached = await this.joinCache(socket, rawRoom, history);
      if (cached) return cached;
    }
    if (since === undefined) {
      const internal = await this.deps.rooms.join(socket, rawRoom);
      const room = externalName(internal);
      const offset = await history.position(internal).catch(() => undefined);
      if (offset === undefined) return { room };
      this.deps.seen?.(internal, offset);
      return { room, offset };
    }
    const room = checkRoomName(rawRoom);
    if (!parseOffset(since)) throw new AppError('BAD_REQUEST', 'since must be an offset pushgate sent (meta.offset)', { details: [{ field: 'since', message: 'not an offset' }] });
    const gate = this.gateOf(socket);
    gate.hold();
    try {
      const { report, joined } = await this.recoverStream(socket, socket.data.app.name(room), since as Offset, () => this.deps.rooms.join(socket, room));
      // A refused join is the join's answer; a join whose history could not be read stands, and `recovered` says so.
      if (!joined) throw new AppError(report.error!.code, report.error!.message);
      gate.pass(() => socket.emit('recovered', { streams: { [room]: report } }));
      return report.offset === undefined ? { room } : { room, offset: report.offset };
    } finally {
      gate.release();
    }
  }

  /**
   * A `cache-` room (Pusher's cache channels): a join also delivers the room's last message, when
   * history still holds it, before anything live. It is a replay from just before that message,
   * through the socket's gate like any recovery, so the live copy of a message pushed meanwhile is
   * not delivered twice. null: the room has no message yet (a plain join follows).
   */
  private async joinCache(socket: PgSocket, rawRoom: string, history: HistoryStore): Promise<JoinResult | null> {
    const room = checkRoomName(rawRoom);
    const internal = socket.data.app.name(room);
    const at = parseOffset(await history.position(internal).catch(() => ''));
    if (!at || at.seq === 0) return null;
    const gate = this.gateOf(socket);
    gate.hold();
    try {
      const { report, joined } = await this.recoverStream(socket, internal, formatOffset(at.epoch, at.seq - 1), () => this.deps.rooms.join(socket, room));
      if (!joined) throw new AppError(report.error!.code, report.error!.message);
      return report.offset === undefined ? { room } : { room, offset: report.offset };
    } finally {
      gate.release();
    }
  }

  /**
   * History is off (HISTORY_SIZE or HISTORY_TTL_SECONDS is 0): nothing can be replayed, but the
   * rooms asked for are joined again as they would be with history, so clients need no second path.
   */
  private async rejoinOnly(socket: PgSocket, recover: unknown): Promise<RecoveredPayload> {
    return this.eachStream(recover, async (stream) => {
      if (socket.data.app.stream(stream) === userRoom(socket.data.userId)) return { recovered: false, replayed: 0 };
      if (isPersonalRoom(stream)) return this.notYours();
      try {
        await this.deps.rooms.join(socket, stream);
      } catch (err) {
        if (isAppError(err)) return this.refused(err);
        throw err;
      }
      return { recovered: false, replayed: 0 };
    });
  }

  private recoverAll(socket: PgSocket, recover: unknown): Promise<RecoveredPayload> {
    const personal = userRoom(socket.data.userId);
    return this.eachStream(recover, async (stream, offset) => {
      if (typeof offset !== 'string' || !parseOffset(offset)) return this.refused(new AppError('BAD_REQUEST', 'The offset is not one pushgate sent (meta.offset)'));
      const internal = socket.data.app.stream(stream);
      if (internal === personal) return (await this.recoverStream(socket, internal, offset, async () => undefined)).report;
      if (isPersonalRoom(stream)) return this.notYours();
      return (await this.recoverStream(socket, internal, offset, () => this.deps.rooms.join(socket, stream))).report;
    });
  }

  /** Runs `one` for each stream of a `recover` map (at most MAX_RECOVER_STREAMS) and reports in the order asked. */
  private async eachStream(recover: unknown, one: (stream: Stream, offset: unknown) => Promise<StreamRecovery>): Promise<RecoveredPayload> {
    if (typeof recover !== 'object' || recover === null || Array.isArray(recover)) return { streams: {} };
    const asked = Object.entries(recover as Record<string, unknown>);
    // Keyed in a null-prototype map while collecting (a "__proto__" stream is just a name), then a plain object in the order asked.
    const streams: Record<Stream, StreamRecovery> = Object.create(null) as Record<Stream, StreamRecovery>;
    await Promise.all(
      asked.map(async ([stream, offset], i) => {
        streams[stream] = i >= MAX_RECOVER_STREAMS ? this.refused(new AppError('BAD_REQUEST', `At most ${MAX_RECOVER_STREAMS} streams can be recovered at once`)) : await one(stream, offset);
      }),
    );
    return { streams: Object.fromEntries(asked.map(([s]) => [s, streams[s]!])) };
  }

  /**
   * Joins (which authorizes), then reads and replays page by page; the socket's gate is held by the
   * caller, so live messages wait behind the whole replay, however many pages it takes.
   * `stream` is qualified with the socket's app; the client sees its own name for it.
   */
  private async recoverStream(socket: PgSocket, stream: Stream, since: Offset, join: () => Promise<unknown>): Promise<{ report: StreamRecovery; joined: boolean }> {
    const named = externalName(stream);
    try {
      await join();
    } catch (err) {
      if (isAppError(err)) return { report: this.refused(err), joined: false };
      throw err;
    }
    let read = await this.read(socket, stream, since);
    if (!read) return { report: this.refused(new AppError('SERVICE_UNAVAILABLE', 'History is unavailable; resync')), joined: true };
    if (!read.covered) {
      this.deps.metrics.markRecovery('gap', 0);
      return { report: { recovered: false, replayed: 0, offset: read.position }, joined: true };
    }
    // Everything after the first read's position was kept after the join, so its live copy is held
    // by the gate: the replay stops there instead of chasing a stream that keeps growing.
    const until = parseOffset(read.position)!.seq;
    const gate = this.gateOf(socket);
    let replayed = 0;
    let last: HistoryEntry | undefined;
    const me = presenceId(socket);
    for (;;) {
      for (const e of read.entries) {
        if (!socket.connected) return this.interrupted(socket, stream, 'closed', replayed);
        // A push that left this very socket out (its sender, say) is left out of its replay too.
        if (e.except?.includes(me)) {
          last = e;
          gate.markReplayed(named, e.offset);
          continue;
        }
        gate.pass(() => socket.emit(e.event, e.data, replayMeta(named, e)));
        replayed += 1;
        last = e;
        // Marked as it goes, so the live copies of what did go out are dropped whatever stops the replay.
        gate.markReplayed(named, e.offset);
        if (bufferedBytes(socket) > REPLAY_HIGH_WATER_BYTES) {
          const stopped = await this.drained(socket);
          if (stopped) return this.interrupted(socket, stream, stopped, replayed);
        }
      }
      if (!read.more || !last || parseOffset(last.offset)!.seq >= until) break;
      if (!socket.connected) return this.interrupted(socket, stream, 'closed', replayed);
      read = await this.read(socket, stream, last.offset);
      if (!read) {
        this.deps.metrics.markRecovery('refused', replayed);
        return { report: { recovered: false, replayed, error: new AppError('SERVICE_UNAVAILABLE', 'History is unavailable; resync').toBody() }, joined: true };
      }
      if (!read.covered) {
        // Trimmed (HISTORY_SIZE) or expired while the earlier pages went out: a gap, said as such.
        this.deps.metrics.markRecovery('gap', replayed);
        return { report: { recovered: false, replayed, offset: read.position }, joined: true };
      }
    }
    this.deps.metrics.markRecovery('recovered', replayed);
    return { report: { recovered: true, replayed, offset: last?.offset ?? read.position }, joined: true };
  }

  /** One page after `after`; null (logged) when the history could not be read. */
  private async read(socket: PgSocket, stream: Stream, after: Offset): Promise<HistoryRead | null> {
    try {
      return await this.deps.history!.since(stream, after, REPLAY_PAGE_ENTRIES);
    } catch (err) {
      this.deps.logger.warn('history: could not read a stream for recovery', { socketId: socket.id, stream, error: (err as Error).message });
      return null;
    }
  }

  /**
   * Waits until the socket's unsent data is down to a quarter of REPLAY_HIGH_WATER_BYTES.
   * @returns null then, or why the replay must stop instead.
   */
  private drained(socket: PgSocket): Promise<Interrupted | null> {
    return new Promise((resolve) => {
      const conn = socket.conn;
      let transport = conn.transport;
      let lowest = bufferedBytes(socket);
      let idleMs = 0;
      const check = () => {
        if (!socket.connected) finish('closed');
        else if (bufferedBytes(socket) <= REPLAY_HIGH_WATER_BYTES / 4) finish(null);
      };
      // A transport's "drain" is the moment its last send reached the kernel; Engine.IO's own
      // "drain" is when its queue went to the transport. An upgrade swaps the transport.
      const upgraded = () => {
        transport.off('drain', check);
        transport = conn.transport;
        transport.on('drain', check);
        check();
      };
      // Polled too: WebSocket sends no event while ws's buffer shrinks, and this is where a stall shows.
      const timer = setInterval(() => {
        const bytes = bufferedBytes(socket);
        if (bytes < lowest) {
          lowest = bytes;
          idleMs = 0;
        } else if ((idleMs += STALL_CHECK_MS) >= REPLAY_STALL_MS) return finish('stalled');
        check();
      }, STALL_CHECK_MS);
      const finish = (result: Interrupted | null) => {
        clearInterval(timer);
        transport.off('drain', check);
        conn.off('drain', check);
        conn.off('upgrade', upgraded);
        socket.off('disconnect', check);
        resolve(result);
      };
      transport.on('drain', check);
      conn.on('drain', check);
      conn.on('upgrade', upgraded);
      socket.on('disconnect', check);
      check();
    });
  }

  /** The replay stopped early; the socket is gone or cut, so no report reaches anyone. */
  private interrupted(socket: PgSocket, stream: Stream, why: Interrupted, replayed: number): { report: StreamRecovery; joined: boolean } {
    if (why === 'stalled' && socket.connected) {
      this.deps.logger.warn('recovery: cutting a socket that stopped reading during a replay', { socketId: socket.id, userId: socket.data.userId, stream, replayed, bufferedBytes: bufferedBytes(socket) });
      cutTransport(socket);
    }
    this.deps.metrics.markRecovery('interrupted', replayed);
    return { report: { recovered: false, replayed }, joined: true };
  }

  private gateOf(socket: PgSocket): DeliveryGate {
    let gate = this.gates.get(socket);
    if (!gate) this.gates.set(socket, (gate = new DeliveryGate(socket, () => this.gates.delete(socket))));
    return gate;
  }

  private notYours(): StreamRecovery {
    return this.refused(new AppError('FORBIDDEN', 'Only your own personal stream can be recovered'));
  }

  private refused(err: AppError): StreamRecovery {
    this.deps.metrics.markRecovery('refused', 0);
    return { recovered: false, replayed: 0, error: err.toBody() };
  }
}

function replayMeta(stream: Stream, e: HistoryEntry): PushMeta {
  return e.room === undefined ? { id: e.id, ts: e.ts, stream, offset: e.offset } : { id: e.id, ts: e.ts, room: e.room as Room, stream, offset: e.offset };
}
