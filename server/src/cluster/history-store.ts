import type { MessageId, Offset, Room, Stream } from '../contracts/socket-events';

/** How much history each stream keeps (HISTORY_TTL_SECONDS, HISTORY_SIZE). */
export interface HistoryPolicy {
  /** A stream's messages are dropped this long after its last message (Centrifugo's history_ttl). */
  ttlMs: number;
  /** At most this many messages per stream; the oldest go first. */
  size: number;
}

/** What a push appends to each stream it addresses. */
export interface HistoryMessage {
  event: string;
  data: unknown;
  id: MessageId;
  ts: number;
  room?: Room;
  /**
   * What a replay must honour as live delivery did (kept only when there is something to say):
   * the push's `except` (qualified socket ids), and its streams in order when it was kept in
   * several (a socket in two of them got it once live, through the first).
   */
  except?: string[];
  streams?: string[];
}

export interface HistoryEntry extends HistoryMessage {
  offset: Offset;
}

export interface HistoryRead {
  /** true when every message after the asked offset is still kept (then `entries` are the first of them; all, without a limit). */
  covered: boolean;
  entries: HistoryEntry[];
  /** More kept messages follow the last entry: read on from its offset. Never true when not covered. */
  more: boolean;
  /** The stream's position now: where the reader continues from (live messages come after it). */
  position: Offset;
}

/**
 * Reading per-stream history. Appending is part of the push's single admission call (PushStore),
 * so keeping history costs no extra round trip on the hot path.
 *
 * Each stream has an epoch (fixed when its metadata is created) and a sequence: an offset is
 * `<epoch>:<sequence>`. A new epoch (Redis lost the stream, the metadata expired, a single node
 * restarted) makes every older offset unrecoverable, so no gap can pass unnoticed.
 */
export interface HistoryStore {
  /** The stream's current position (creates its metadata when there is none). */
  position(stream: Stream): Promise<Offset>;
  /**
   * What follows `offset`, oldest first, or covered: false when history no longer reaches back.
   * With `limit`, at most that many entries; a store may end a page sooner to bound the bytes one
   * read copies (`more` says so). A later page that is no longer covered (trimmed while the reader
   * was busy) answers covered: false like the first one, so a gap between pages is never silent.
   */
  since(stream: Stream, offset: Offset, limit?: number): Promise<HistoryRead>;
}

/**
 * The stream metadata (epoch, sequence) outlives its messages, so a client that saw a quiet stream's
 * last message still recovers (with nothing to replay) after the messages expired. @default 1 hour
 * A stream that never had a message (a room only joined) keeps its metadata for HISTORY_TTL only.
 */
export const HISTORY_META_MIN_TTL_MS = 3_600_000;
export const historyMetaTtlMs = (p: HistoryPolicy): number => Math.max(p.ttlMs, HISTORY_META_MIN_TTL_MS);

const OFFSET = /^([0-9a-z]{1,16}):(\d{1,12})$/;

/** Splits an offset from a client; null when it is not one pushgate could have issued. */
export function parseOffset(offset: unknown): { epoch: string; seq: number } | null {
  if (typeof offset !== 'string') return null;
  const m = OFFSET.exec(offset);
  return m ? { epoch: m[1]!, seq: Number(m[2]) } : null;
}

export const formatOffset = (epoch: string, seq: number): Offset => `${epoch}:${seq}`;

/** A new epoch: the creation time in base 36 (later creations compare larger; never reused). */
export const newEpoch = (nowMs: number): string => nowMs.toString(36);
