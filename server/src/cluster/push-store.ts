import type { Offset, Stream } from '../contracts/socket-events';
import type { HistoryMessage } from './history-store';
import type { PushTargets } from './presence-store';

export interface AdmitResult {
  /** true when this message id was admitted before (within the TTL): do not deliver again. */
  duplicate: boolean;
  /** Recipients counted when the id was first admitted (a duplicate answers with the first count). */
  recipients: number;
  /** A duplicate's receipts count, once the first push recorded it. */
  acked?: number;
  /** Where the message was kept, one offset per stream asked for (empty for a duplicate). */
  offsets: Offset[];
}

/** The streams a push is kept in, and what is kept. */
export interface HistoryAppend {
  streams: Stream[];
  message: HistoryMessage;
}

/**
 * Idempotency, recipient counting and history for a push, in one round trip: the Redis
 * implementation is a single script, so a push costs one Redis call whatever its targets.
 */
export interface PushStore {
  admit(id: string, targets: PushTargets, ttlMs: number, history?: HistoryAppend): Promise<AdmitResult>;
  /** Remembers a push's receipts count, so a retry of its id answers the same. Best effort. */
  recordAcked(id: string, recipients: number, acked: number): Promise<void>;
}
