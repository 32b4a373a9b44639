import { randomBytes } from 'node:crypto';
import type { Offset, Stream } from '../contracts/socket-events';
import type { Clock } from '../lib/clock';
import { formatOffset, historyMetaTtlMs, newEpoch, parseOffset, type HistoryEntry, type HistoryMessage, type HistoryPolicy, type HistoryRead, type HistoryStore } from './history-store';

interface MemoryStream {
  epoch: string;
  seq: number;
  /** Oldest first; at most policy.size. */
  entries: HistoryEntry[];
  /** Messages are dropped after this (ttl after the last one); the epoch and sequence live longer. */
  entriesUntil: number;
  metaUntil: number;
}

/** Single-node history: one bounded array per stream, expired lazily and by a periodic sweep. */
export class MemoryHistoryStore implements HistoryStore {
  private readonly streams = new Map<Stream, MemoryStream>();
  private lastSweep = 0;
  private lastEpochMs = 0;
  private readonly processTag = randomBytes(3).readUIntBE(0, 3).toString(36).padStart(4, '0').slice(-4);

  constructor(
    private readonly policy: HistoryPolicy,
    private readonly clock: Clock,
  ) {}

  /** Keeps `msg` in each stream; @returns the offsets, in the order of `streams`. */
  append(streams: Stream[], msg: HistoryMessage): Offset[] {
    const now = this.clock.now();
    this.sweep(now);
    return streams.map((name) => {
      const s = this.live(name, now);
      s.seq += 1;
      const offset = formatOffset(s.epoch, s.seq);
      s.entries.push({ ...msg, offset });
      // Dropping the oldest one by one would move the whole array on every push: drop a batch of size/2 at a time.
      if (s.entries.length >= this.policy.size * 1.5 + 1) s.entries = s.entries.slice(s.entries.length - this.policy.size);
      s.entriesUntil = now + this.policy.ttlMs;
      s.metaUntil = now + historyMetaTtlMs(this.policy);
      return offset;
    });
  }

  /** Reads keep the metadata alive: long for a stream that had messages, HISTORY_TTL for one only joined. */
  async position(stream: Stream): Promise<Offset> {
    const now = this.clock.now();
    const s = this.live(stream, now);
    s.metaUntil = Math.max(s.metaUntil, now + (s.seq > 0 ? historyMetaTtlMs(this.policy) : this.policy.ttlMs));
    return formatOffset(s.epoch, s.seq);
  }

  /** A page costs no copy of the messages (the entries are the kept objects), so only `limit` bounds it. */
  async since(stream: Stream, offset: Offset, limit = Infinity): Promise<HistoryRead> {
    const position = await this.position(stream);
    const s = this.streams.get(stream)!;
    const asked = parseOffset(offset);
    if (!asked || asked.epoch !== s.epoch || asked.seq > s.seq) return { covered: false, entries: [], more: false, position };
    if (asked.seq === s.seq) return { covered: true, entries: [], more: false, position };
    // Sequences are contiguous in the array, and only the last policy.size of them count as kept.
    const kept = Math.min(s.entries.length, this.policy.size);
    const after = s.seq - asked.seq;
    if (after > kept) return { covered: false, entries: [], more: false, position };
    const from = s.entries.length - after;
    const count = Math.min(after, Math.max(1, limit));
    return { covered: true, entries: s.entries.slice(from, from + count), more: count < after, position };
  }

  /** The stream with expired parts dropped; a new epoch when its metadata had expired. */
  private live(name: Stream, now: number): MemoryStream {
    let s = this.streams.get(name);
    if (s && s.metaUntil <= now) s = undefined;
    if (!s) {
      s = { epoch: this.epoch(now), seq: 0, entries: [], entriesUntil: 0, metaUntil: now + this.policy.ttlMs };
      this.streams.set(name, s);
    } else if (s.entriesUntil <= now && s.entries.length > 0) {
      s.entries = [];
    }
    return s;
  }

  /**
   * Distinct per stream creation even within one millisecond, and across restarts of the process
   * (the random tail), so an old offset never matches a new stream.
   */
  private epoch(now: number): string {
    this.lastEpochMs = Math.max(now, this.lastEpochMs + 1);
    return `${newEpoch(this.lastEpochMs)}${this.processTag}`;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < this.policy.ttlMs) return;
    this.lastSweep = now;
    for (const [name, s] of this.streams) {
      if (s.metaUntil <= now) this.streams.delete(name);
      else if (s.entriesUntil <= now) s.entries = [];
    }
  }
}
