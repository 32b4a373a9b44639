import type { HistoryEntry, HistoryStore } from '../cluster/history-store';
import { parseOffset } from '../cluster/history-store';
import type { JoinResult, Offset, PushMeta, RecoveredPayload, Room, Stream, StreamRecovery } from '../contracts/socket-events';
import { isPersonalRoom, userRoom } from '../contracts/socket-events';
import { AppError, isAppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import { DeliveryGate } from './delivery-gate';
import { checkRoomName, type RoomManager } from './room-manager';
import type { PgSocket } from './types';

/** Streams one handshake may ask to recover; more are answered `recovered: false` with BAD_REQUEST. */
export const MAX_RECOVER_STREAMS = 100;

/**
 * Recovery of missed messages (`auth.recover` on connect, `room:join { since }`): for each stream,
 * join it, read what followed the client's offset and replay it in order through the socket's
 * DeliveryGate, then report `recovered`. Works on any node: the history is cluster-wide.
 */
export class Recovery {
  /** The gate of each socket being recovered (or just recovered); a gate removes itself when done. */
  private readonly gates = new WeakMap<PgSocket, DeliveryGate>();

  constructor(
    private readonly deps: { history: HistoryStore | null; rooms: RoomManager; metrics: Metrics; logger: Logger },
  ) {}

  /**
   * Sets up a new connection: `join` puts the socket in its personal room, then the welcome goes
   * out with the personal stream's position, then the streams in `recover` are replayed. Nothing
   * live reaches the socket before the welcome or before a replayed message.
   */
  async connect(socket: PgSocket, join: () => void, welcome: (offsets?: Record<Stream, Offset>) => void, recover: unknown): Promise<void> {
    const history = this.deps.history;
    if (!history) {
      join();
      welcome();
      if (recover !== undefined && recover !== null) socket.emit('recovered', await this.rejoinOnly(socket, recover));
      return;
    }
    const gate = this.gateOf(socket);
    gate.hold();
    try {
      join();
      const personal = userRoom(socket.data.userId);
      const offsets: Record<Stream, Offset> = {};
      try {
        offsets[personal] = await history.position(personal);
      } catch (err) {
        this.deps.logger.warn('history: could not read the personal stream position', { socketId: socket.id, error: (err as Error).message });
      }
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
      const room = await this.deps.rooms.join(socket, rawRoom);
      if (since !== undefined) socket.emit('recovered', { streams: { [room]: { recovered: false, replayed: 0 } } });
      return { room };
    }
    if (since === undefined) {
      const room = await this.deps.rooms.join(socket, rawRoom);
      const offset = await history.position(room).catch(() => undefined);
      return offset === undefined ? { room } : { room, offset };
    }
    const room = checkRoomName(rawRoom);
    if (!parseOffset(since)) throw new AppError('BAD_REQUEST', 'since must be an offset pushgate sent (meta.offset)', { details: [{ field: 'since', message: 'not an offset' }] });
    const gate = this.gateOf(socket);
    gate.hold();
    try {
      const { report, joined } = await this.recoverStream(socket, room, since as Offset, () => this.deps.rooms.join(socket, room));
      // A refused join is the join's answer; a join whose history could not be read stands, and `recovered` says so.
      if (!joined) throw new AppError(report.error!.code, report.error!.message);
      gate.pass(() => socket.emit('recovered', { streams: { [room]: report } }));
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
      if (stream === userRoom(socket.data.userId)) return { recovered: false, replayed: 0 };
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
      if (stream === personal) return (await this.recoverStream(socket, stream, offset, async () => undefined)).report;
      if (isPersonalRoom(stream)) return this.notYours();
      return (await this.recoverStream(socket, stream, offset, () => this.deps.rooms.join(socket, stream))).report;
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

  /** Joins (which authorizes), then reads and replays; the socket's gate is held by the caller. */
  private async recoverStream(socket: PgSocket, stream: Stream, since: Offset, join: () => Promise<unknown>): Promise<{ report: StreamRecovery; joined: boolean }> {
    try {
      await join();
    } catch (err) {
      if (isAppError(err)) return { report: this.refused(err), joined: false };
      throw err;
    }
    let read;
    try {
      read = await this.deps.history!.since(stream, since);
    } catch (err) {
      this.deps.logger.warn('history: could not read a stream for recovery', { socketId: socket.id, stream, error: (err as Error).message });
      return { report: this.refused(new AppError('SERVICE_UNAVAILABLE', 'History is unavailable; resync')), joined: true };
    }
    if (!read.covered) {
      this.deps.metrics.markRecovery('gap', 0);
      return { report: { recovered: false, replayed: 0, offset: read.position }, joined: true };
    }
    const gate = this.gateOf(socket);
    gate.pass(() => {
      for (const e of read.entries) socket.emit(e.event, e.data, replayMeta(stream, e));
    });
    const last = read.entries[read.entries.length - 1];
    if (last) gate.markReplayed(stream, last.offset);
    this.deps.metrics.markRecovery('recovered', read.entries.length);
    return { report: { recovered: true, replayed: read.entries.length, offset: read.position }, joined: true };
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
