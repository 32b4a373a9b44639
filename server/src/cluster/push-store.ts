import type { PushTargets } from './presence-store';

export interface AdmitResult {
  /** true when this message id was admitted before (within the TTL): do not deliver again. */
  duplicate: boolean;
  /** Recipients counted when the id was first admitted (a duplicate answers with the first count). */
  recipients: number;
}

/**
 * Idempotency and recipient counting for a push, in one round trip: the Redis implementation
 * is a single script, so a push costs at most one extra Redis call whatever its targets.
 */
export interface PushStore {
  admit(id: string, targets: PushTargets, ttlMs: number): Promise<AdmitResult>;
}
