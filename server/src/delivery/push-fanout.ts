import type { NodeId, Offset, PushMeta, Stream } from '../contracts/socket-events';
import { formatOffset, parseOffset, type HistoryEntry, type HistoryStore } from '../cluster/history-store';
import { deliveries, type Delivery, type PushWire } from '../cluster/push-wire';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../metrics/metrics';
import { LocalDelivery, type DeliveryCounts } from './local-delivery';
import type { PgServer } from '../realtime/types';
import { externalName } from '../contracts/app-scope';

/** Entries read from history per call while catching up: bounds what one read holds in memory. */
const CATCH_UP_PAGE = 100;

interface Position {
  epoch: string;
  seq: number;
}

/** What the node knows of a stream: the last offset it delivered, or (`floor`) only where the stream stood. */
interface Known extends Position {
  floor?: true;
}

/** A run of a stream this node has not delivered: after `since`, up to the push `until` (open-ended when undefined). */
interface Gap {
  stream: Stream;
  since: Offset;
  until?: Position;
}

/**
 * Every node's delivery of the pushes it receives (all of them, its own included: see
 * cluster/push-wire.ts) to its local sockets. Plain pushes go out through LocalDelivery, one call
 * per stream: encoded once, the same bytes written to every recipient. Pushes with `ack` go to
 * each socket with a timeout (each needs its own ack id), and the node then reports its count of
 * receipts to the admitting node.
 *
 * With history, the node also remembers, for each stream it has sockets in, the last offset it
 * delivered. Pushes arrive in offset order, so a jump in the sequence (or a new epoch that does not
 * start at 1) means this node missed some on the bus: its subscription was down, or it was frozen
 * past Redis' output buffer. It then delivers the missing ones from history before anything newer,
 * and after every re-subscription it checks all its streams the same way, since a stream that
 * stays quiet would never show the jump. Clients that stay connected through a node's hiccup thus
 * lose nothing, and never see a message twice from this path (deliveries at or below the
 * remembered offset are dropped).
 */
export class PushFanout {
  private readonly local: LocalDelivery;
  private readonly delivered = new Map<Stream, Known>();
  /** Pushes that arrived while a catch-up was reading history, in arrival order. */
  private held: PushWire[] | null = null;
  /** A re-subscription happened while a catch-up was running: check every stream again after it. */
  private checkAgain = false;

  constructor(
    private readonly deps: {
      io: PgServer;
      /** Hands a node's receipts count to the node that admitted the push (this one or another). */
      report: (node: NodeId, token: string, acked: number) => void;
      /** null on a single node, or with history off: nothing can be missed, or nothing can be caught up. */
      history: HistoryStore | null;
      metrics: Metrics;
      logger: Logger;
      /** Pre-framed, coalesced writes to sockets on WebSocket (DELIVERY_FAST_PATH). @default true */
      fastPath?: boolean;
    },
  ) {
    this.local = new LocalDelivery(deps.io, deps.fastPath !== false);
    // A stream this node no longer has sockets in is forgotten, so the map stays as big as the node's rooms.
    if (deps.history) deps.io.of('/').adapter.on('delete-room', (room: string) => this.delivered.delete(room));
  }

  /** Deliveries to this node's sockets by path, for the metrics. */
  counts(): DeliveryCounts {
    return this.local.counts();
  }

  receive(arrived: PushWire): void {
    if (this.held) {
      this.held.push(arrived);
      return;
    }
    const push = this.localSockets(arrived);
    // One broadcast per stream, in the order of the offsets (socket ids last); each offset parsed once.
    const all = deliveries(push);
    const at = this.deps.history ? push.offsets.map(parseOffset) : [];
    const gaps = at.length > 0 ? this.gapsBefore(all, at) : [];
    if (gaps.length > 0) {
      this.held = [arrived];
      void this.fill(gaps).finally(() => this.release());
      return;
    }
    this.deliver(push, all, at);
  }

  /**
   * Tells the node where a stream stood when one of its sockets joined (the join and the welcome
   * read it anyway), so a jump is noticed even before the first push arrives. Only a floor: a push
   * at or below it may still be on its way over the subscription (the position was read on another
   * connection), so it is not taken for one already delivered.
   */
  seen(stream: Stream, offset: Offset): void {
    if (!this.deps.history || this.delivered.has(stream)) return;
    const at = parseOffset(offset);
    if (at && this.hasLocal(stream)) this.delivered.set(stream, { ...at, floor: true });
  }

  /** After the subscription came back: delivers what each of this node's streams got meanwhile. */
  async catchUp(): Promise<void> {
    if (!this.deps.history || this.delivered.size === 0) return;
    if (this.held) {
      this.checkAgain = true;
      return;
    }
    this.held = [];
    try {
      await this.fill([...this.delivered].map(([stream, at]) => ({ stream, since: formatOffset(at.epoch, at.seq) })));
    } finally {
      this.release();
    }
  }

  private release(): void {
    const held = this.held ?? [];
    this.held = null;
    // Each held push is checked again: one may show another jump, which holds the ones after it again.
    for (const push of held) this.receive(push);
    if (this.checkAgain) {
      this.checkAgain = false;
      void this.catchUp();
    }
  }

  private gapsBefore(all: Delivery[], offsets: (Position | null)[]): Gap[] {
    const gaps: Gap[] = [];
    offsets.forEach((at, i) => {
      const stream = all[i]!.stream!;
      const last = this.delivered.get(stream);
      if (!last || !at) return;
      if (at.epoch === last.epoch && at.seq > last.seq + 1) gaps.push({ stream, since: formatOffset(last.epoch, last.seq), until: at });
      // A new epoch (Redis lost the stream): its messages before this one were all missed.
      else if (at.epoch !== last.epoch && at.seq > 1) gaps.push({ stream, since: formatOffset(at.epoch, 0), until: at });
    });
    return gaps;
  }

  /** Delivers each gap's messages from history, oldest first, and moves the remembered offsets past them. */
  private async fill(gaps: Gap[]): Promise<void> {
    await Promise.all(gaps.map((g) => this.fillOne(g)));
  }

  private async fillOne(gap: Gap): Promise<void> {
    const history = this.deps.history!;
    const { until } = gap;
    // Whatever happens, a jump's push goes out after this: the stream is remembered just before it.
    const before: Position | null = until ? { epoch: until.epoch, seq: until.seq - 1 } : null;
    let since = gap.since;
    let sent = 0;
    try {
      for (;;) {
        const read = await history.since(gap.stream, since, CATCH_UP_PAGE);
        if (!read.covered) {
          const pos = parseOffset(read.position);
          const asked = parseOffset(since);
          // The epoch moved on since what we remember: the whole new epoch is what we missed.
          if (!until && pos && asked && pos.epoch !== asked.epoch) {
            since = formatOffset(pos.epoch, 0);
            continue;
          }
          this.deps.logger.warn('missed pushes on the bus that history no longer holds', { stream: gap.stream, since, position: read.position });
          if (!until && pos) this.advance(gap.stream, pos);
          break;
        }
        const wanted = until ? read.entries.filter((e) => parseOffset(e.offset)!.seq < until.seq) : read.entries;
        for (const e of wanted) this.emitCaughtUp(gap.stream, e);
        sent += wanted.length;
        const last = wanted[wanted.length - 1];
        if (last) this.advance(gap.stream, parseOffset(last.offset)!);
        if (last) since = last.offset;
        if (!read.more || wanted.length < read.entries.length) break;
      }
    } catch (err) {
      // The push that showed the jump still goes out; recovering clients get the rest from history.
      this.deps.logger.warn('could not catch up a stream from history', { stream: gap.stream, error: (err as Error).message });
    }
    if (before) this.advance(gap.stream, before);
    if (sent > 0) {
      this.deps.metrics.markCaughtUp(sent);
      this.deps.logger.info('delivered pushes missed on the bus from history', { stream: gap.stream, messages: sent });
    }
  }

  private advance(stream: Stream, to: Position): void {
    const now = this.delivered.get(stream);
    if (!this.hasLocal(stream)) return void this.delivered.delete(stream);
    if (!now || now.epoch !== to.epoch || now.seq < to.seq || (now.floor && now.seq === to.seq)) this.delivered.set(stream, to);
  }

  /**
   * Socket ids in a push are qualified with the pushing app (contracts/app-scope.ts); each becomes
   * the Socket.IO room of a local socket only when that socket is of the same app, so a push never
   * reaches, or skips, another app's socket whose id it happens to name.
   */
  private localSockets(push: PushWire): PushWire {
    const r = push.route;
    if (r.socketIds.length === 0 && r.except.length === 0) return push;
    return { ...push, route: { ...r, socketIds: this.localIds(r.socketIds), except: this.localIds(r.except) } };
  }

  /** Qualified socket ids → the Socket.IO rooms of this node's sockets of the same app. */
  private localIds(ids: readonly string[]): string[] {
    const sockets = this.deps.io.of('/').sockets;
    return ids.flatMap((id) => {
      const sid = externalName(id);
      const s = sockets.get(sid);
      return s && s.data.app.owns(id) ? [sid] : [];
    });
  }

  /**
   * A missed message, delivered as it would have been live: not to the push's `except`, and, when
   * it was kept in several streams, not to sockets of the streams before this one (they got it
   * through those), so a socket in two caught-up streams gets it once.
   */
  private emitCaughtUp(internal: Stream, e: HistoryEntry): void {
    const stream = externalName(internal);
    const meta: PushMeta = e.room === undefined ? { id: e.id, ts: e.ts, stream, offset: e.offset } : { id: e.id, ts: e.ts, room: e.room, stream, offset: e.offset };
    const before = e.streams ? e.streams.slice(0, Math.max(0, e.streams.indexOf(internal))) : [];
    this.local.send([internal], [...this.localIds(e.except ?? []), ...before], e.event, e.data, meta);
  }

  private hasLocal(stream: Stream): boolean {
    return this.deps.io.of('/').adapter.rooms.has(stream);
  }

  /** Sends a push to this node's sockets, skipping streams this node already delivered it on. */
  private deliver(push: PushWire, all: Delivery[], offsets: (Position | null)[]): void {
    const sends = offsets.length > 0 ? all.filter((d, i) => i >= offsets.length || this.fresh(d.stream!, offsets[i]!)) : all;
    const { event, data } = push.message;
    const ack = push.route.ack;
    if (!ack) {
      for (const d of sends) this.local.send(d.rooms, d.except, event, data, d.meta);
      return;
    }
    let sent = 0;
    let acked = 0;
    let reported = false;
    const finish = () => {
      if (reported) return;
      reported = true;
      clearTimeout(timer);
      this.deps.report(ack.node, ack.token, acked);
    };
    const timer = setTimeout(finish, ack.timeoutMs);
    // The admitting node's request is what waits; this timer alone must not keep a stopping process alive.
    timer.unref();
    // A local broadcast with a timeout would wait for every node of the cluster (Socket.IO counts
    // the adapter's servers), so each local socket is asked on its own, picked synchronously from
    // the adapter's rooms: that keeps this push in order with the plain ones around it.
    for (const d of sends) {
      sent += this.local.ask(d.rooms, d.except, event, data, d.meta, ack.timeoutMs, () => {
        acked += 1;
        if (acked === sent) finish();
      });
    }
    if (sent === 0) finish();
  }

  /** Whether a stream's delivery is new to this node; remembers it when the node has sockets in the stream. */
  private fresh(stream: Stream, at: Position | null): boolean {
    if (!at) return true;
    if (!this.hasLocal(stream)) {
      this.delivered.delete(stream);
      return true;
    }
    const last = this.delivered.get(stream);
    const same = last !== undefined && last.epoch === at.epoch;
    if (same && at.seq <= last.seq && !last.floor) return false;
    if (!same || at.seq >= last.seq) this.delivered.set(stream, at);
    return true;
  }
}
