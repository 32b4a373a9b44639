import type { Offset } from '../contracts/socket-events';
import type { HistoryMessage } from './history-store';
import type { PushRoute } from './push-wire';

export interface AdmitResult {
  /** true when this message id was admitted before (within the TTL): it was delivered then, not now. */
  duplicate: boolean;
  /** Recipients counted when the id was first admitted (a duplicate answers with the first count). */
  recipients: number;
  /** A duplicate's receipts count, once the first push recorded it. */
  acked?: number;
  /** Where the message was kept, one offset per stream of the route (empty for a duplicate or when history is off). */
  offsets: Offset[];
  /** Nodes the push was handed to (each delivers to its own sockets); 0 for a duplicate. */
  receivers: number;
}

/**
 * Idempotency, recipient counting, history and the hand-over to the nodes. On one Redis a push to
 * one stream is one atomic step (one script), so an id is never taken without its push being
 * published (cluster/push-wire.ts); otherwise a push is admitted in parts (redis-push-store.ts).
 */
export interface PushStore {
  /** @param keep whether to keep the message in the route's streams (history on and the push has users or rooms). */
  admit(id: string, route: PushRoute, ttlMs: number, message: HistoryMessage, keep: boolean): Promise<AdmitResult>;
  /** Remembers a push's receipts count, so a retry of its id answers the same. Best effort. */
  recordAcked(id: string, recipients: number, acked: number): Promise<void>;
}
